//! Invariant 3: a calendar's synced events and its new cursor are committed in one
//! transaction (shared with other syncs' writes when they commit at the same moment:
//! `super::group`). A full sync replaces the calendar's stored set (what it did not return is
//! deleted); an incremental one applies upserts and removals.
//!
//! The account's last calendar also records the sync's success in its commit: every
//! commit that notifies the availability cache (the events do, and so does the
//! success's `last_sync_at`) holds a cluster-wide lock through its WAL flush, so a
//! second notifying commit per sync halved the syncs a second the database could take.

use super::group::Write;
use super::SyncError;
use crate::context::WorkerContext;
use calsync_connections::Lease;
use calsync_core::ExternalEvent;
use calsync_db::connections::{self, SyncSuccess};
use calsync_db::AsyncPgConnection;
use calsync_db::{calendar_writes, calendars, events, DbError};
use calsync_providers::{SyncBatch, SyncChange};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Target {
    pub connection_id: Uuid,
    pub calendar_id: String,
    pub specialist_id: Uuid,
    /// The account's last calendar: the connection's success is recorded in the same
    /// commit, with this next poll time.
    pub finish: Option<DateTime<Utc>>,
}

pub async fn apply(
    ctx: &WorkerContext,
    lease: &Lease,
    target: &Target,
    batch: SyncBatch,
    window_start: DateTime<Utc>,
) -> Result<(), SyncError> {
    // A provider may report one instance several times in a round (changed, then
    // deleted): only its last state counts, and one INSERT … ON CONFLICT cannot touch a
    // row twice anyway.
    let mut seen = std::collections::HashSet::new();
    let mut upserts = Vec::new();
    let mut removes = Vec::new();
    for change in batch.changes.into_iter().rev() {
        if !seen.insert(change.provider_event_id().to_owned()) {
            continue;
        }
        match change {
            SyncChange::Upsert(e) => upserts.push(e),
            SyncChange::Remove { provider_event_id } => removes.push(provider_event_id),
        }
    }

    lease.ensure_held()?;
    let write = CalendarWrite {
        connection_id: target.connection_id,
        calendar_id: target.calendar_id.clone(),
        specialist_id: target.specialist_id,
        finish: target.finish,
        upserts,
        removes,
        full: batch.full,
        cursor: batch.next_cursor,
        window_start,
        now: ctx.clock.now(),
    };
    ctx.commits.commit(&ctx.pool, write).await?;
    Ok(())
}

/// One calendar's sync, as committed (alone or in a group, see `super::group`).
pub struct CalendarWrite {
    connection_id: Uuid,
    calendar_id: String,
    specialist_id: Uuid,
    finish: Option<DateTime<Utc>>,
    upserts: Vec<ExternalEvent>,
    removes: Vec<String>,
    full: bool,
    cursor: String,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Write for CalendarWrite {
    fn connection_id(&self) -> Uuid {
        self.connection_id
    }

    async fn apply(&mut self, tx: &mut AsyncPgConnection) -> Result<(), DbError> {
        let (id, cal) = (self.connection_id, self.calendar_id.as_str());
        // The copies of events we wrote for bookings are stored as ours, blocking
        // nothing: the booking already blocks its time.
        calendar_writes::mark_copies(tx, id, &mut self.upserts).await?;
        events::upsert_in(tx, id, cal, self.specialist_id, &self.upserts).await?;
        if self.full {
            let keep: Vec<String> = self
                .upserts
                .iter()
                .map(|e| e.provider_event_id.clone())
                .collect();
            events::retain_only(tx, id, cal, &keep).await?;
        } else {
            events::remove(tx, id, cal, &self.removes).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, tx: &mut AsyncPgConnection) -> Result<(), DbError> {
        let (id, cal, now) = (self.connection_id, self.calendar_id.as_str(), self.now);
        // The connection's row first, then its calendar's: the order `request_sync`
        // locks them in, so a push recorded meanwhile never deadlocks with the commit.
        if let Some(next_poll_at) = self.finish {
            connections::record_success(tx, id, &SyncSuccess::default(), now, next_poll_at).await?;
        }
        calendars::record_synced(tx, id, cal, &self.cursor, self.window_start, now).await
    }
}
