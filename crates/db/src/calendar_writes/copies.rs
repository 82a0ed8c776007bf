//! The synced copies of the events we wrote: recognising them when a sync reads them
//! back, and finding them for the portal (which compares them with their booking).

use super::OP_CREATE;
use crate::schema::{calendar_writes as cw, external_events as ev};
use crate::DbError;
use calsync_core::{AppointmentId, EventStatus, ExternalEvent};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use uuid::Uuid;

/// Decides, in the sync's transaction, which fetched events of a connection are the
/// copies of events we wrote for bookings: those whose id a create of this connection
/// recorded, or (Google, before the id is recorded) whose private tag names a booking
/// this connection has a create for. A copy is stored with `is_soradin_created`, its
/// `appointment_id`, and blocks nothing: the booking itself blocks its time, once.
///
/// An event carrying our tag that we did not write here (copied by the agent, or
/// written by another installation) is an ordinary event: it keeps no link, and it
/// blocks unless cancelled (the safer error), since the tag had switched its blocking
/// off. Returns the copies found.
pub async fn mark_copies(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    events: &mut [ExternalEvent],
) -> Result<usize, DbError> {
    if events.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.provider_event_id.as_str())
        .collect();
    let tagged: Vec<Uuid> = events
        .iter()
        .filter_map(|e| e.appointment_id.map(|a| a.0))
        .collect();
    let creates: Vec<(Uuid, Option<String>)> = cw::table
        .filter(cw::connection_id.eq(connection_id))
        .filter(cw::op.eq(OP_CREATE))
        .filter(
            cw::provider_event_id
                .eq_any(&ids)
                .or(cw::appointment_id.eq_any(&tagged)),
        )
        .select((cw::appointment_id, cw::provider_event_id))
        .load(conn)
        .await?;
    let by_event: HashMap<&str, Uuid> = creates
        .iter()
        .filter_map(|(a, e)| e.as_deref().map(|e| (e, *a)))
        .collect();
    let by_booking: HashMap<Uuid, Option<&str>> =
        creates.iter().map(|(a, e)| (*a, e.as_deref())).collect();
    let mut found = 0;
    for e in events.iter_mut() {
        let by_id = by_event.get(e.provider_event_id.as_str()).copied();
        let by_tag = e.appointment_id.map(|a| a.0).filter(|a| {
            by_booking
                .get(a)
                .is_some_and(|recorded| recorded.is_none_or(|r| r == e.provider_event_id))
        });
        match by_id.or(by_tag) {
            Some(appointment) => {
                e.is_soradin_created = true;
                e.appointment_id = Some(AppointmentId(appointment));
                e.blocks = false;
                found += 1;
            }
            None if e.is_soradin_created || e.appointment_id.is_some() => {
                e.is_soradin_created = false;
                e.appointment_id = None;
                e.blocks = e.status != EventStatus::Cancelled;
            }
            None => {}
        }
    }
    Ok(found)
}

/// A stored copy of an event we wrote, as the portal compares it with its booking.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SyncedCopy {
    pub appointment_id: Uuid,
    pub connection_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// appointment, connection, start, end.
type CopyRow = (Option<Uuid>, Uuid, DateTime<Utc>, DateTime<Utc>);

/// The stored copies of the given bookings' events, wherever they are now.
pub async fn synced_copies(
    conn: &mut AsyncPgConnection,
    appointment_ids: &[Uuid],
) -> Result<Vec<SyncedCopy>, DbError> {
    if appointment_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<CopyRow> = ev::table
        .filter(ev::appointment_id.eq_any(appointment_ids))
        .filter(ev::is_soradin_created.eq(true))
        .select((
            ev::appointment_id,
            ev::connection_id,
            ev::starts_at,
            ev::ends_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, connection_id, starts_at, ends_at)| {
            Some(SyncedCopy {
                appointment_id: a?,
                connection_id,
                starts_at,
                ends_at,
            })
        })
        .collect())
}
