//! The scheduler: claims due work in PostgreSQL (so any number of replicas can run it,
//! `FOR UPDATE SKIP LOCKED`, no in-memory leader) and turns it into notices on the
//! queue: polls of connections whose `next_poll_at` passed, syncs of connections whose
//! webhook needs renewing (renewal runs after the sync, under the sync lease), and a
//! daily cleanup of old unlinked events.

use crate::context::WorkerContext;
use calsync_core::webhook::RENEW_AHEAD;
use calsync_db::{connections, events, DbError};
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider as WireProvider};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Rows claimed per tick and kind; a tick that fills it runs again at once.
const BATCH: i64 = 500;
/// External events that ended longer ago than this and are not linked to an
/// appointment are deleted.
const KEEP_ENDED: Duration = Duration::days(30);
const CLEANUP_EVERY: Duration = Duration::hours(24);
/// Minimum pause between renewal attempts of one connection.
const RENEW_RETRY: Duration = Duration::minutes(15);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub polls: usize,
    pub renewals: usize,
    pub cleaned: usize,
}

pub struct Scheduler {
    ctx: Arc<WorkerContext>,
    last_cleanup: Option<DateTime<Utc>>,
}

impl Scheduler {
    pub fn new(ctx: Arc<WorkerContext>) -> Self {
        Self {
            ctx,
            last_cleanup: None,
        }
    }

    /// One pass; tests call it directly with a manual clock.
    pub async fn run_once(&mut self) -> Result<TickReport, DbError> {
        let ctx = &self.ctx;
        let now = ctx.clock.now();
        let mut report = TickReport::default();
        let mut db = ctx.pool.get().await?;
        let due = connections::claim_due_polls(&mut db, now, ctx.poll_interval(), BATCH).await?;
        let renew = connections::claim_webhook_renewals(&mut db, now, now + RENEW_AHEAD, now + RENEW_RETRY, BATCH).await?;
        for id in &renew {
            connections::request_sync(&mut db, *id, now, false, None).await?;
        }
        if self.last_cleanup.is_none_or(|t| now - t >= CLEANUP_EVERY) {
            report.cleaned = events::delete_ended_before(&mut db, now - KEEP_ENDED).await?;
            self.last_cleanup = Some(now);
        }
        drop(db);
        for (id, reason) in due.iter().map(|i| (i, NoticeReason::Poll)).chain(renew.iter().map(|i| (i, NoticeReason::Poll))) {
            let notice = ChangeNotice {
                connection_id: id.to_string(),
                provider: WireProvider::Unspecified as i32,
                reason: reason as i32,
                received_at_ms: now.timestamp_millis(),
                ..ChangeNotice::default()
            };
            if let Err(e) = ctx.publisher.publish_notice(&notice).await {
                // The row stays claimed until its next poll time; the next ticks retry.
                tracing::warn!(connection.id = %id, error.message = %e, "could not enqueue a poll");
            }
        }
        report.polls = due.len();
        report.renewals = renew.len();
        Ok(report)
    }

    /// Ticks until shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let tick = std::time::Duration::from_millis(self.ctx.settings.worker.scheduler_tick_ms.max(50));
        loop {
            match self.run_once().await {
                Ok(r) if r.polls as i64 >= BATCH || r.renewals as i64 >= BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error.message = %e, "scheduler tick failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }
}
