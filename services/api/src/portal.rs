//! The agent's own view of their time: marketplace appointments and external events
//! merged and sorted. Titles appear here and only here (invariant 4).

use calsync_db::{appointments, events, AsyncPgConnection, DbError};
use chrono::{DateTime, Utc};
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
/// wrote to the provider for a booking are left out: the booking itself is listed.
pub async fn items(
    conn: &mut AsyncPgConnection,
    specialist_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PortalItem>, DbError> {
    let booked = appointments::for_portal(conn, specialist_id, from, to).await?;
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
