//! The queue consumer's handler: record the notice on the connection (deduplicating
//! replayed pushes), then drive syncs while the lease can be had.
//!
//! Invariant 2: a notice that finds the lease taken only leaves `sync_pending` set; the
//! holder sees it when releasing and syncs once more. A burst of notices costs a
//! handful of provider fetches, not one each.

use crate::context::WorkerContext;
use crate::sync;
use calsync_connections::requests::from_wire;
use calsync_db::connections::{self, SyncRequest};
use calsync_db::DbError;
use calsync_mq::{HandleError, Handler};
use calsync_proto::v1::{ChangeNotice, NoticeReason};
use std::sync::Arc;
use uuid::Uuid;

/// Extra rounds one notice may drive when notices keep arriving during syncs; beyond
/// it the pending flag stays set and the scheduler (or the next notice) picks it up.
const MAX_ROUNDS: usize = 8;
/// How long a lease holder lets further notices gather before the follow-up round.
const COALESCE_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

pub struct NoticeHandler {
    pub ctx: Arc<WorkerContext>,
}

fn transient(e: DbError) -> HandleError {
    HandleError::Transient(e.to_string())
}

impl Handler for NoticeHandler {
    async fn handle(&self, notice: ChangeNotice) -> Result<(), HandleError> {
        let id: Uuid = notice.connection_id.parse().map_err(|e| {
            HandleError::Permanent(format!("connection id {:?}: {e}", notice.connection_id))
        })?;
        let ctx = &self.ctx;
        let now = ctx.clock.now();
        let mut db = ctx.pool.get().await.map_err(|e| transient(e.into()))?;
        if notice.reason == NoticeReason::Lifecycle as i32 {
            match notice.resource_state.as_str() {
                "reauthorizationRequired" => {
                    connections::request_webhook_renewal(&mut db, id, false).await
                }
                "subscriptionRemoved" => {
                    connections::request_webhook_renewal(&mut db, id, true).await
                }
                _ => Ok(()),
            }
            .map_err(transient)?;
        }
        let channel = (notice.message_number > 0 && !notice.channel_id.is_empty()).then(|| {
            (
                notice.channel_id.as_str(),
                i64::try_from(notice.message_number).unwrap_or(i64::MAX),
            )
        });
        let request = connections::request_sync(&mut db, id, now, notice.full_resync, channel)
            .await
            .map_err(transient)?;
        drop(db);
        match request {
            SyncRequest::Duplicate => {
                tracing::debug!(connection.id = %id, "replayed push; no fetch");
                return Ok(());
            }
            SyncRequest::Inactive => {
                tracing::debug!(connection.id = %id, "connection inactive or unknown; notice dropped");
                return Ok(());
            }
            SyncRequest::Pending => {}
        }
        drive(ctx, id).await.map_err(transient)?;
        if notice.received_at_ms > 0 {
            let elapsed = ctx.clock.now().timestamp_millis() - notice.received_at_ms;
            ctx.metrics
                .notice_to_commit
                .with_label_values(&[from_wire(notice.provider).map_or("unknown", |p| p.as_str())])
                .observe(elapsed.max(0) as f64 / 1000.0);
        }
        Ok(())
    }
}

/// Syncs the connection while its lease can be taken and more syncs were asked for.
///
/// When notices arrived during a round, the holder waits `COALESCE_PAUSE` before
/// releasing (still holding the lease, so other handlers only mark the connection
/// pending) and the next round covers everything that came in meanwhile. Without the
/// pause a burst costs one fetch per round-trip of a sync (a dozen or more for a
/// burst that takes a few hundred milliseconds to arrive); a single change never
/// waits, because the pause only follows a round during which another notice came.
pub async fn drive(ctx: &WorkerContext, id: Uuid) -> Result<usize, DbError> {
    let mut rounds = 0;
    while rounds < MAX_ROUNDS {
        let Some((lease, claim)) = ctx.conns.claim_sync(id).await? else {
            break;
        };
        rounds += 1;
        let outcome = sync::run(ctx, &lease, &claim).await;
        if outcome.is_ok() && rounds < MAX_ROUNDS {
            let mut db = ctx.pool.get().await?;
            if connections::get(&mut db, id).await?.sync_pending {
                drop(db);
                tokio::time::sleep(COALESCE_PAUSE).await;
            }
        }
        let again = lease.release(ctx).await?;
        outcome?;
        if !again {
            break;
        }
    }
    Ok(rounds)
}
