//! Invariant 3: a calendar's synced events and its new cursor are committed in one
//! transaction. A full sync replaces the calendar's stored set (what it did not return is
//! deleted); an incremental one applies upserts and removals.
//!
//! The account's last calendar also records the sync's success in its commit: every
//! commit that notifies the availability cache (the events do, and so does the
//! success's `last_sync_at`) holds a cluster-wide lock through its WAL flush, so a
//! second notifying commit per sync halved the syncs a second the database could take.

use super::SyncError;
use crate::context::WorkerContext;
use calsync_connections::Lease;
use calsync_db::connections::{self, SyncSuccess};
use calsync_db::{calendar_writes, calendars, events, DbError};
use calsync_providers::{SyncBatch, SyncChange};
use chrono::{DateTime, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
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
    let now = ctx.clock.now();
    let mut db = ctx.pool.get().await.map_err(DbError::from)?;
    let full = batch.full;
    let cursor = batch.next_cursor;
    let (id, cal, finish) = (
        target.connection_id,
        target.calendar_id.as_str(),
        target.finish,
    );
    let cursor = cursor.as_str();
    db.transaction::<_, DbError, _>(|tx| {
        async move {
            // The copies of events we wrote for bookings are stored as ours, blocking
            // nothing: the booking already blocks its time.
            calendar_writes::mark_copies(tx, id, &mut upserts).await?;
            events::upsert_in(tx, id, cal, target.specialist_id, &upserts).await?;
            if full {
                let keep: Vec<String> = upserts
                    .iter()
                    .map(|e| e.provider_event_id.clone())
                    .collect();
                events::retain_only(tx, id, cal, &keep).await?;
            } else {
                events::remove(tx, id, cal, &removes).await?;
            }
            calendars::record_synced(tx, id, cal, cursor, window_start, now).await?;
            if let Some(next_poll_at) = finish {
                connections::record_success(tx, id, &SyncSuccess::default(), now, next_poll_at)
                    .await?;
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await?;
    Ok(())
}
