//! `calendar_writes`: the transactional outbox of write-back. A booking commits one
//! `create` per Google/Microsoft connection of the specialist in its own transaction, a
//! cancellation one `delete` per create that may have reached the provider; sync-worker
//! claims due rows (`claim_due`, `FOR NO KEY UPDATE SKIP LOCKED`) and performs them later, so
//! a provider failure never fails or delays a booking.
//!
//! Rows of a connection that needs re-authorisation (or is disabled) are not claimed:
//! they wait, and are written once the agent reconnects.

mod claim;
mod copies;

pub use claim::{
    claim_due, finish_done, finish_failed, finish_retry, release, skip_unclaimed_create,
};
pub use copies::{mark_copies, synced_copies, SyncedCopy};

use crate::connections::{self, Connection};
use crate::schema::calendar_writes as cw;
use crate::DbError;
use calsync_core::Provider;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

pub const OP_CREATE: &str = "create";
pub const OP_DELETE: &str = "delete";

/// Where a write stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteState {
    /// To do, or being done while claimed.
    Pending,
    Done,
    /// Never needed: the booking was cancelled before its event was written.
    Skipped,
    /// Refused for good by the provider; `last_error` says why.
    Failed,
}

impl WriteState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Done, Self::Skipped, Self::Failed]
            .into_iter()
            .find(|w| w.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = cw, check_for_backend(diesel::pg::Pg))]
pub struct CalendarWrite {
    pub id: Uuid,
    pub appointment_id: Uuid,
    pub connection_id: Uuid,
    /// `create` or `delete`.
    pub op: String,
    /// `None`: the account's default calendar.
    pub calendar_id: Option<String>,
    pub provider_event_id: Option<String>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

impl CalendarWrite {
    pub fn is_create(&self) -> bool {
        self.op == OP_CREATE
    }

    pub fn write_state(&self) -> Option<WriteState> {
        WriteState::parse(&self.state)
    }

    /// Whether a worker holds it now (its claim has not lapsed).
    pub fn claimed_at(&self, now: DateTime<Utc>) -> bool {
        self.claimed_by.is_some() && self.claimed_until.is_some_and(|t| t >= now)
    }
}

/// The calendar a connection's bookings are written to: the one place that decides it.
/// The agent's `writeTo` choice (`calendars::write_target`), else the connection's
/// calendar. Graph: `None` is the account's default calendar (`/me/events`).
pub async fn write_target(
    conn: &mut AsyncPgConnection,
    c: &Connection,
) -> Result<Option<String>, DbError> {
    let chosen = crate::calendars::write_target(conn, c.id)
        .await?
        .unwrap_or_else(|| c.external_calendar_id.clone());
    Ok(match c.provider {
        Provider::Google => Some(chosen),
        Provider::Microsoft => (!chosen.is_empty() && chosen != "primary").then_some(chosen),
        Provider::Ics => None,
    })
}

/// Whether bookings are written to this connection's account at all.
pub fn receives_bookings(c: &Connection) -> bool {
    c.sync_enabled && matches!(c.provider, Provider::Google | Provider::Microsoft)
}

/// In the booking's transaction: one `create` per connection that receives bookings.
/// Returns how many were queued.
pub async fn enqueue_creates(
    conn: &mut AsyncPgConnection,
    appointment_id: Uuid,
    specialist_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let targets: Vec<Connection> = connections::list(conn, Some(specialist_id))
        .await?
        .into_iter()
        .filter(receives_bookings)
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let mut rows = Vec::with_capacity(targets.len());
    for c in &targets {
        rows.push((
            cw::id.eq(Uuid::new_v4()),
            cw::appointment_id.eq(appointment_id),
            cw::connection_id.eq(c.id),
            cw::op.eq(OP_CREATE),
            cw::calendar_id.eq(write_target(conn, c).await?),
            cw::next_attempt_at.eq(now),
            cw::created_at.eq(now),
            cw::updated_at.eq(now),
        ));
    }
    Ok(diesel::insert_into(cw::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?)
}

/// In the cancellation's transaction. A create never tried (and not being tried now) is
/// skipped: nothing reached the provider. Every other create (written, being written, or
/// tried with an unknown outcome) gets a `delete`. Idempotent: cancelling twice queues
/// nothing more. Returns the deletes queued.
pub async fn enqueue_deletes(
    conn: &mut AsyncPgConnection,
    appointment_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    diesel::sql_query(
        "UPDATE calendar_writes SET state = 'skipped', updated_at = $2
         WHERE appointment_id = $1 AND op = 'create' AND state = 'pending' AND attempts = 0
           AND (claimed_until IS NULL OR claimed_until < $2)",
    )
    .bind::<SqlUuid, _>(appointment_id)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(diesel::sql_query(
        "INSERT INTO calendar_writes
             (id, appointment_id, connection_id, op, calendar_id, provider_event_id,
              next_attempt_at, created_at, updated_at)
         SELECT gen_random_uuid(), appointment_id, connection_id, 'delete', calendar_id,
                provider_event_id, $2, $2, $2
         FROM calendar_writes
         WHERE appointment_id = $1 AND op = 'create' AND NOT (state = 'skipped' AND attempts = 0)
         ON CONFLICT ON CONSTRAINT calendar_writes_op_key DO NOTHING",
    )
    .bind::<SqlUuid, _>(appointment_id)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?)
}

/// Every write of the given appointments, oldest first.
pub async fn for_appointments(
    conn: &mut AsyncPgConnection,
    appointment_ids: &[Uuid],
) -> Result<Vec<CalendarWrite>, DbError> {
    if appointment_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(cw::table
        .filter(cw::appointment_id.eq_any(appointment_ids))
        .order(cw::created_at)
        .select(CalendarWrite::as_select())
        .load(conn)
        .await?)
}

/// The create of an appointment on a connection, if one was queued.
pub async fn create_of(
    conn: &mut AsyncPgConnection,
    appointment_id: Uuid,
    connection_id: Uuid,
) -> Result<Option<CalendarWrite>, DbError> {
    Ok(cw::table
        .filter(cw::appointment_id.eq(appointment_id))
        .filter(cw::connection_id.eq(connection_id))
        .filter(cw::op.eq(OP_CREATE))
        .select(CalendarWrite::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<CalendarWrite, DbError> {
    Ok(cw::table
        .find(id)
        .select(CalendarWrite::as_select())
        .first(conn)
        .await?)
}
