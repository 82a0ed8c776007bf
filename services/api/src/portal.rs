//! The agent's own view of their time: marketplace appointments and external events
//! merged and sorted. Titles appear here and only here (invariant 4).

use calsync_db::calendar_writes::{self, WriteState};
use calsync_db::{appointments, connections, events, AsyncPgConnection, DbError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

pub const MARKETPLACE: &str = "marketplace";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalItem {
    /// `marketplace`, `google`, `microsoft` or `ics`.
    pub source: String,
    pub id: Uuid,
    pub title: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    pub status: String,
    pub blocks_availability: bool,
    /// Bookings only: where the event written into the agent's calendar stands (see
    /// `CalendarEvent`); `None` when nothing is written for it (no Google/Microsoft
    /// connection, or cancelled).
    pub calendar_event: Option<CalendarEvent>,
}

/// Where a booking's event in the agent's own calendar stands. The marketplace is the
/// source of truth: whatever the agent does to the event, the booking stands; the
/// portal only says so (`Moved`, `Deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarEvent {
    /// Queued, or being retried (the provider failed or the calendar needs reconnecting).
    Pending,
    /// Written; the calendar has not been read back since.
    Written,
    /// Written and read back as it was written: the booking is also in the calendar.
    Synced,
    /// Read back at another time than the booking's: the agent moved it.
    Moved,
    /// Written, but gone from the calendar at the sync after: the agent deleted it.
    Deleted,
    /// The provider refused the write for good.
    Failed,
}

impl CalendarEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Written => "written",
            Self::Synced => "synced",
            Self::Moved => "moved",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
        }
    }

    /// Whether the agent sees the booking in their own calendar.
    pub fn in_calendar(self) -> bool {
        matches!(self, Self::Written | Self::Synced | Self::Moved)
    }

    /// Of several connections' states, the one to show: drift first, then trouble.
    fn rank(self) -> u8 {
        match self {
            Self::Deleted => 6,
            Self::Moved => 5,
            Self::Failed => 4,
            Self::Pending => 3,
            Self::Written => 2,
            Self::Synced => 1,
        }
    }
}

/// Where each confirmed booking's written events stand, from its creates, their synced
/// copies and when each connection last synced. A copy is "deleted" only after a sync
/// that ran after the write found it gone (until then it is "written").
async fn calendar_events(
    conn: &mut AsyncPgConnection,
    specialist_id: Uuid,
    booked: &[appointments::Appointment],
) -> Result<HashMap<Uuid, CalendarEvent>, DbError> {
    let ids: Vec<Uuid> = booked
        .iter()
        .filter(|a| a.status == appointments::STATUS_CONFIRMED)
        .map(|a| a.id)
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let writes = calendar_writes::for_appointments(conn, &ids).await?;
    if writes.is_empty() {
        return Ok(HashMap::new());
    }
    let copies = calendar_writes::synced_copies(conn, &ids).await?;
    let last_sync: HashMap<Uuid, Option<DateTime<Utc>>> =
        connections::list(conn, Some(specialist_id))
            .await?
            .into_iter()
            .map(|c| (c.id, c.last_sync_at))
            .collect();
    let times: HashMap<Uuid, (DateTime<Utc>, DateTime<Utc>)> = booked
        .iter()
        .map(|a| (a.id, (a.starts_at, a.ends_at)))
        .collect();
    let mut out: HashMap<Uuid, CalendarEvent> = HashMap::new();
    for w in writes.iter().filter(|w| w.is_create()) {
        let Some(&(start, end)) = times.get(&w.appointment_id) else {
            continue;
        };
        let copy = copies
            .iter()
            .find(|c| c.appointment_id == w.appointment_id && c.connection_id == w.connection_id);
        let state = match (w.write_state(), copy) {
            (Some(WriteState::Skipped), _) => continue,
            (_, Some(c)) if c.starts_at != start || c.ends_at != end => CalendarEvent::Moved,
            (_, Some(_)) => CalendarEvent::Synced,
            (Some(WriteState::Failed), None) => CalendarEvent::Failed,
            (Some(WriteState::Done), None) => {
                let synced_since = last_sync
                    .get(&w.connection_id)
                    .copied()
                    .flatten()
                    .zip(w.done_at)
                    .is_some_and(|(synced, done)| synced > done);
                if synced_since {
                    CalendarEvent::Deleted
                } else {
                    CalendarEvent::Written
                }
            }
            _ => CalendarEvent::Pending,
        };
        let slot = out.entry(w.appointment_id).or_insert(state);
        if state.rank() > slot.rank() {
            *slot = state;
        }
    }
    Ok(out)
}

impl PortalItem {
    pub fn is_marketplace(&self) -> bool {
        self.source == MARKETPLACE
    }
}

/// A title for a booking: the customer's name when the marketplace sent one.
fn booking_title(customer: &serde_json::Value) -> String {
    match customer.get("name").and_then(|n| n.as_str()).map(str::trim) {
        Some(name) if !name.is_empty() => format!("Booking: {name}"),
        _ => "Marketplace booking".to_owned(),
    }
}

/// Everything of one specialist overlapping `[from, to)`, sorted by start. Events we
/// wrote to the provider for a booking are left out: the booking itself is listed once,
/// saying where its calendar event stands.
pub async fn items(
    conn: &mut AsyncPgConnection,
    specialist_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PortalItem>, DbError> {
    let booked = appointments::for_portal(conn, specialist_id, from, to).await?;
    let written = calendar_events(conn, specialist_id, &booked).await?;
    let external = events::for_portal(conn, specialist_id, from, to).await?;
    let mut out: Vec<PortalItem> = booked
        .into_iter()
        .map(|a| PortalItem {
            source: MARKETPLACE.to_owned(),
            id: a.id,
            title: Some(booking_title(&a.customer)),
            start: a.starts_at,
            end: a.ends_at,
            all_day: false,
            blocks_availability: a.status == appointments::STATUS_CONFIRMED,
            calendar_event: written.get(&a.id).copied(),
            status: a.status,
        })
        .collect();
    out.extend(
        external
            .into_iter()
            .filter(|(e, _)| !e.is_soradin_created)
            .map(|(e, provider)| PortalItem {
                source: provider,
                id: e.id,
                title: e.title,
                start: e.starts_at,
                end: e.ends_at,
                all_day: e.all_day,
                status: e.status,
                blocks_availability: e.blocks_availability,
                calendar_event: None,
            }),
    );
    out.sort_by(|a, b| (a.start, a.end, &a.source).cmp(&(b.start, b.end, &b.source)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_is_titled_with_the_customer_name_when_given() {
        assert_eq!(
            booking_title(&serde_json::json!({"name": "Ada"})),
            "Booking: Ada"
        );
        assert_eq!(booking_title(&serde_json::json!({})), "Marketplace booking");
        assert_eq!(
            booking_title(&serde_json::json!({"name": 5})),
            "Marketplace booking"
        );
    }
}
