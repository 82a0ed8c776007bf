//! The queue consumer's handler. Notices come in batches; each batch is coalesced per
//! connection (one `request_sync` statement per connection per batch, not one per
//! notice), recorded in a few transactions (one WAL flush each, not one per connection:
//! at hundreds of changes a second those flushes were what the queue waited on),
//! acknowledged once recorded, and every connection with a sync asked for gets a drive
//! task of its own, so a storm on one connection never delays the others.
//!
//! Invariant 1: a notice is acked only after its request is committed on the connection
//! (`sync_pending`); from there the drive syncs it, or, if this worker dies first, the
//! scheduler's claim of pending requests does.
//! Invariant 2: a drive finding the lease taken only leaves `sync_pending` set; the
//! holder sees it when releasing and syncs once more. A burst costs a handful of
//! provider fetches, not one per notice.

use crate::context::WorkerContext;
use crate::sync;
use calsync_connections::requests::from_wire;
use calsync_db::calendars;
use calsync_db::connections::{self, SyncRequest};
use calsync_db::DbError;
use calsync_mq::{BatchHandler, HandleError};
use calsync_proto::v1::{ChangeNotice, NoticeReason};
use chrono::{DateTime, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures::stream::{self, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::pacing::Pacing;

/// Sync rounds one drive call makes before it lets other work in (its task loops on).
const MAX_ROUNDS: usize = 8;
/// Transactions a batch's requests are recorded in at once (each takes a pooled
/// connection and holds its connections' rows until it commits).
const RECORD_CONCURRENCY: usize = 8;

pub struct NoticeHandler {
    ctx: Arc<WorkerContext>,
    drives: Arc<Drives>,
}

/// The drive tasks of this process: at most one per connection, poked again when a new
/// request is recorded while it runs.
#[derive(Default)]
struct Drives {
    active: Mutex<HashMap<Uuid, Poke>>,
    pacing: Pacing,
    tracker: TaskTracker,
}

#[derive(Debug, Clone, Copy)]
struct Poke {
    again: bool,
    /// The earliest push time among the notices this drive owes a sync (0: unknown).
    received_at_ms: i64,
    provider: &'static str,
}

impl NoticeHandler {
    pub fn new(ctx: Arc<WorkerContext>) -> Self {
        Self {
            ctx,
            drives: Arc::new(Drives::default()),
        }
    }

    /// Waits (up to `grace`) for running drives; on shutdown, after the consumer stopped.
    pub async fn finish(&self, grace: std::time::Duration) {
        self.drives.tracker.close();
        if tokio::time::timeout(grace, self.drives.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("drives still running at shutdown; their leases lapse and the scheduler resumes them");
        }
    }

    fn poke(&self, id: Uuid, received_at_ms: i64, provider: &'static str) {
        let Ok(mut active) = self.drives.active.lock() else {
            return;
        };
        if let Some(p) = active.get_mut(&id) {
            p.again = true;
            if p.received_at_ms == 0 || (received_at_ms > 0 && received_at_ms < p.received_at_ms) {
                p.received_at_ms = received_at_ms;
            }
            return;
        }
        active.insert(
            id,
            Poke {
                again: false,
                received_at_ms,
                provider,
            },
        );
        drop(active);
        let (ctx, drives) = (Arc::clone(&self.ctx), Arc::clone(&self.drives));
        self.drives.tracker.spawn(run_drive(ctx, drives, id));
    }
}

/// One connection's notices of a batch, folded together.
#[derive(Debug, Default)]
struct Folded {
    full: bool,
    /// The Google channel and highest message number seen (the replay guard's input).
    channel: Option<(String, i64)>,
    received_at_ms: i64,
    provider: &'static str,
}

fn fold(notices: Vec<ChangeNotice>) -> Vec<(Uuid, Folded, Vec<ChangeNotice>)> {
    let mut order: Vec<(Uuid, Folded, Vec<ChangeNotice>)> = Vec::new();
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for n in notices {
        let Ok(id) = n.connection_id.parse::<Uuid>() else {
            // Can never succeed; failing the batch would retry the good ones with it.
            tracing::error!(connection.id = %n.connection_id, "notice with a malformed connection id dropped");
            continue;
        };
        let at = *index.entry(id).or_insert_with(|| {
            order.push((id, Folded::default(), Vec::new()));
            order.len() - 1
        });
        let (_, f, lifecycle) = &mut order[at];
        f.full |= n.full_resync;
        if f.provider.is_empty() {
            f.provider = from_wire(n.provider).map_or("unknown", |p| p.as_str());
        }
        if n.received_at_ms > 0 && (f.received_at_ms == 0 || n.received_at_ms < f.received_at_ms) {
            f.received_at_ms = n.received_at_ms;
        }
        if n.message_number > 0 && !n.channel_id.is_empty() {
            let number = i64::try_from(n.message_number).unwrap_or(i64::MAX);
            if f.channel.as_ref().is_none_or(|(_, m)| number > *m) {
                f.channel = Some((n.channel_id.clone(), number));
            }
        }
        if n.reason == NoticeReason::Lifecycle as i32 {
            lifecycle.push(n);
        }
    }
    order
}

impl BatchHandler for NoticeHandler {
    async fn handle_batch(&self, notices: Vec<ChangeNotice>) -> Result<(), HandleError> {
        self.ctx.traces.offer(&notices);
        let mut folded = fold(notices);
        // Each transaction locks its connections' rows in id order, so two workers'
        // transactions (or two of one batch) never wait on each other in a cycle.
        folded.sort_unstable_by_key(|(id, _, _)| *id);
        let per_transaction = folded.len().div_ceil(RECORD_CONCURRENCY).max(1);
        let mut chunks = Vec::new();
        let mut rest = folded.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(per_transaction).collect::<Vec<_>>());
        }
        let recorded: Vec<Result<Vec<Pending>, DbError>> = stream::iter(chunks)
            .map(|chunk| self.record(chunk))
            .buffer_unordered(RECORD_CONCURRENCY)
            .collect()
            .await;
        // What a transaction committed is driven even when another one failed: the
        // batch comes back, but its committed pushes are then replays (no fetch).
        let mut failed = None;
        for r in recorded {
            match r {
                Ok(pending) => {
                    for p in pending {
                        self.poke(p.id, p.received_at_ms, p.provider);
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            Some(e) => Err(HandleError::Transient(e.to_string())),
            None => Ok(()),
        }
    }
}

/// A connection whose sync is now pending.
struct Pending {
    id: Uuid,
    received_at_ms: i64,
    provider: &'static str,
}

impl NoticeHandler {
    /// Records some connections' folded requests in one transaction.
    async fn record(
        &self,
        chunk: Vec<(Uuid, Folded, Vec<ChangeNotice>)>,
    ) -> Result<Vec<Pending>, DbError> {
        let now = self.ctx.clock.now();
        let mut db = self.ctx.pool.get().await?;
        db.transaction::<_, DbError, _>(|tx| {
            async move {
                let mut pending = Vec::new();
                for (id, f, lifecycle) in chunk {
                    if record_one(tx, now, id, &f, lifecycle).await? {
                        pending.push(Pending {
                            id,
                            received_at_ms: f.received_at_ms,
                            provider: f.provider,
                        });
                    }
                }
                Ok(pending)
            }
            .scope_boxed()
        })
        .await
    }
}

/// Records one connection's folded request; true when a sync is now pending.
async fn record_one(
    db: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    id: Uuid,
    f: &Folded,
    lifecycle: Vec<ChangeNotice>,
) -> Result<bool, DbError> {
    let channel = f.channel.as_ref().map(|(c, m)| (c.as_str(), *m));
    let request = connections::request_sync(db, id, now, f.full, channel).await?;
    // After the request: the connection's row is locked before its calendars' rows, the
    // order a sync's commit takes them in, so the two never deadlock.
    for n in lifecycle {
        // The notice names the subscription: only its calendar is renewed.
        let subscription = Some(n.channel_id.as_str());
        match n.resource_state.as_str() {
            "reauthorizationRequired" => {
                calendars::request_webhook_renewal(db, id, subscription, false).await?
            }
            "subscriptionRemoved" => {
                calendars::request_webhook_renewal(db, id, subscription, true).await?
            }
            _ => {}
        }
    }
    match request {
        SyncRequest::Pending => Ok(true),
        SyncRequest::Duplicate => {
            tracing::debug!(connection.id = %id, "replayed push; no fetch");
            Ok(false)
        }
        SyncRequest::Inactive => {
            tracing::debug!(connection.id = %id, "connection inactive or unknown; notice dropped");
            Ok(false)
        }
    }
}

/// Drives one connection until no request for it is left, then retires.
async fn run_drive(ctx: Arc<WorkerContext>, drives: Arc<Drives>, id: Uuid) {
    loop {
        let owed = drives
            .active
            .lock()
            .ok()
            .and_then(|mut a| {
                a.get_mut(&id)
                    .map(|p| std::mem::replace(&mut p.received_at_ms, 0))
            })
            .unwrap_or(0);
        let provider = drives
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(&id).map(|p| p.provider))
            .unwrap_or("unknown");
        let capped = match drive_paced(&ctx, id, &drives.pacing).await {
            Ok(rounds) => {
                if rounds > 0 && owed > 0 {
                    let elapsed = ctx.clock.now().timestamp_millis() - owed;
                    ctx.metrics
                        .notice_to_commit
                        .with_label_values(&[provider])
                        .observe(elapsed.max(0) as f64 / 1000.0);
                }
                rounds >= MAX_ROUNDS
            }
            Err(e) => {
                // The request stays recorded: the scheduler picks it up.
                tracing::warn!(connection.id = %id, error.message = %e, "drive failed");
                false
            }
        };
        let more = {
            let Ok(mut active) = drives.active.lock() else {
                return;
            };
            let more = match active.get_mut(&id) {
                Some(p) if p.again || capped => {
                    p.again = false;
                    true
                }
                _ => false,
            };
            if !more {
                active.remove(&id);
            }
            more
        };
        if !more {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Syncs the connection while its lease can be taken and more syncs were asked for;
/// returns the rounds made (0 when another holder has the lease).
pub async fn drive(ctx: &WorkerContext, id: Uuid) -> Result<usize, DbError> {
    drive_paced(ctx, id, &Pacing::default()).await
}

/// `drive`, with each round spaced from the connection's last one by `pacing` (the
/// handler's, which remembers rounds across drives): notices that come meanwhile are
/// served by the next round together.
async fn drive_paced(ctx: &WorkerContext, id: Uuid, pacing: &Pacing) -> Result<usize, DbError> {
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        let (wait, streak) = pacing.hold_off(id, ctx.clock.now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let Some((lease, claim)) = ctx.conns.claim_sync(id).await? else {
            break;
        };
        rounds += 1;
        let outcome = sync::run(ctx, &lease, &claim).await;
        pacing.ended(id, streak, ctx.clock.now());
        let again = lease.release(ctx).await?;
        outcome?;
        if !again {
            break;
        }
    }
    Ok(rounds)
}
