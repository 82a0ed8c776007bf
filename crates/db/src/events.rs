//! `external_events`: one row per event instance of a connected calendar. Upserts are
//! keyed by (connection, calendar, provider event id), so a redelivered sync is harmless
//! (invariant 3). The calendar is part of the key because Google gives an invited
//! meeting the same event id in every calendar of the account that holds it; ICS feeds
//! have no calendars (`NO_CALENDAR`).

use crate::schema::external_events;
use crate::DbError;
use calsync_core::ExternalEvent;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The calendar id of events that belong to no calendar of an account (ICS feeds).
pub const NO_CALENDAR: &str = "";

/// Rows per INSERT: keeps bind parameters far below PostgreSQL's 65,535 limit.
const UPSERT_CHUNK: usize = 1000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = external_events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub id: Uuid,
    pub connection_id: Uuid,
    /// The account's calendar it is in (`NO_CALENDAR` for ICS feeds).
    pub calendar_id: String,
    pub specialist_id: Uuid,
    pub provider_event_id: String,
    pub ical_uid: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub all_day: bool,
    pub status: String,
    pub blocks_availability: bool,
    pub is_soradin_created: bool,
    pub appointment_id: Option<Uuid>,
    pub title: Option<String>,
    pub provider_updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = external_events)]
struct NewEvent<'a> {
    connection_id: Uuid,
    calendar_id: &'a str,
    specialist_id: Uuid,
    provider_event_id: &'a str,
    ical_uid: Option<&'a str>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    all_day: bool,
    status: &'a str,
    blocks_availability: bool,
    is_soradin_created: bool,
    appointment_id: Option<Uuid>,
    title: Option<&'a str>,
    provider_updated_at: Option<DateTime<Utc>>,
}

/// Inserts or updates the given instances of a connection that has no calendars (an ICS
/// feed, or a test's fixture).
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    specialist_id: Uuid,
    events: &[ExternalEvent],
) -> Result<usize, DbError> {
    upsert_in(conn, connection_id, NO_CALENDAR, specialist_id, events).await
}

/// Inserts or updates the given instances of one calendar of a connection.
pub async fn upsert_in(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    specialist_id: Uuid,
    events: &[ExternalEvent],
) -> Result<usize, DbError> {
    let mut written = 0;
    for chunk in events.chunks(UPSERT_CHUNK) {
        let rows: Vec<NewEvent<'_>> = chunk
            .iter()
            .map(|e| NewEvent {
                connection_id,
                calendar_id,
                specialist_id,
                provider_event_id: &e.provider_event_id,
                ical_uid: e.ical_uid.as_deref(),
                starts_at: e.starts_at,
                ends_at: e.ends_at,
                all_day: e.all_day,
                status: e.status.as_str(),
                blocks_availability: e.blocks,
                is_soradin_created: e.is_soradin_created,
                appointment_id: e.appointment_id.map(|a| a.0),
                title: e.title.as_deref(),
                provider_updated_at: e.provider_updated_at,
            })
            .collect();
        written += diesel::insert_into(external_events::table)
            .values(&rows)
            .on_conflict((
                external_events::connection_id,
                external_events::calendar_id,
                external_events::provider_event_id,
            ))
            .do_update()
            .set((
                external_events::ical_uid.eq(excluded(external_events::ical_uid)),
                external_events::starts_at.eq(excluded(external_events::starts_at)),
                external_events::ends_at.eq(excluded(external_events::ends_at)),
                external_events::all_day.eq(excluded(external_events::all_day)),
                external_events::status.eq(excluded(external_events::status)),
                external_events::blocks_availability
                    .eq(excluded(external_events::blocks_availability)),
                external_events::is_soradin_created
                    .eq(excluded(external_events::is_soradin_created)),
                external_events::appointment_id.eq(excluded(external_events::appointment_id)),
                external_events::title.eq(excluded(external_events::title)),
                external_events::provider_updated_at
                    .eq(excluded(external_events::provider_updated_at)),
                external_events::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
    }
    Ok(written)
}

/// Removes instances of one calendar by provider event id (cancelled or deleted at the
/// provider).
pub async fn remove(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    provider_event_ids: &[String],
) -> Result<usize, DbError> {
    if provider_event_ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(
        external_events::table
            .filter(external_events::connection_id.eq(connection_id))
            .filter(external_events::calendar_id.eq(calendar_id))
            .filter(external_events::provider_event_id.eq_any(provider_event_ids)),
    )
    .execute(conn)
    .await?)
}

/// After a full sync of a calendar: deletes every stored instance of it that the full
/// result did not contain, so the stored set is replaced rather than merged.
pub async fn retain_only(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    keep_provider_event_ids: &[String],
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        external_events::table
            .filter(external_events::connection_id.eq(connection_id))
            .filter(external_events::calendar_id.eq(calendar_id))
            .filter(diesel::dsl::not(
                external_events::provider_event_id.eq_any(keep_provider_event_ids),
            )),
    )
    .execute(conn)
    .await?)
}

/// Like `retain_only`, limited to instances starting inside `[from, to)`: an ICS poll
/// replaces the window it expanded and leaves older history alone.
pub async fn retain_only_in_window(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    keep_provider_event_ids: &[String],
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        external_events::table
            .filter(external_events::connection_id.eq(connection_id))
            .filter(external_events::starts_at.ge(from))
            .filter(external_events::starts_at.lt(to))
            .filter(diesel::dsl::not(
                external_events::provider_event_id.eq_any(keep_provider_event_ids),
            )),
    )
    .execute(conn)
    .await?)
}

pub use crate::availability::BusyRow;

/// Blocking external events of the given specialists overlapping `[from, to)`. Events we
/// created for a booking are skipped: the appointment itself already blocks that time.
pub async fn blocking_between(
    conn: &mut AsyncPgConnection,
    specialist_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BusyRow>, DbError> {
    crate::availability::blocking_between(conn, specialist_ids, from, to).await
}

/// Every stored instance of one specialist overlapping `[from, to)`, for the agent's portal.
pub async fn for_portal(
    conn: &mut AsyncPgConnection,
    specialist_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(EventRow, String)>, DbError> {
    use crate::schema::calendar_connections;
    Ok(external_events::table
        .inner_join(calendar_connections::table)
        .filter(external_events::specialist_id.eq(specialist_id))
        .filter(external_events::starts_at.lt(to))
        .filter(external_events::ends_at.gt(from))
        .order(external_events::starts_at)
        .select((EventRow::as_select(), calendar_connections::provider))
        .load(conn)
        .await?)
}

pub async fn for_connection(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
) -> Result<Vec<EventRow>, DbError> {
    Ok(external_events::table
        .filter(external_events::connection_id.eq(connection_id))
        .order(external_events::starts_at)
        .select(EventRow::as_select())
        .load(conn)
        .await?)
}

/// Deletes events that ended before `cutoff` and are not linked to an appointment.
pub async fn delete_ended_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        external_events::table
            .filter(external_events::ends_at.lt(cutoff))
            .filter(external_events::appointment_id.is_null()),
    )
    .execute(conn)
    .await?)
}
