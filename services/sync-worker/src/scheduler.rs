//! The scheduler: claims due work in PostgreSQL (so any number of replicas can run it,
//! `FOR UPDATE SKIP LOCKED`, no in-memory leader) and turns it into notices on the
//! queue: polls of connections whose `next_poll_at` passed, syncs of connections whose
//! webhook needs renewing (renewal runs after the sync, under the sync lease), and a
//! daily cleanup of old unlinked events. It also refreshes the gauges only it can see
//! whole: webhooks by provider and state, and the work queue's depth.

use crate::context::WorkerContext;
pub use calsync_connections::webhook::RENEW_CLAIM;
use calsync_core::webhook::{WebhookState, RENEW_AHEAD};
use calsync_core::Provider;
use calsync_db::{calendars, connections, events, DbError};
use calsync_proto::v1::NoticeReason;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Rows claimed per tick and kind; a tick that fills it runs again at once.
const BATCH: i64 = 500;
/// External events that ended longer ago than this and are not linked to an
/// appointment are deleted.
pub const KEEP_ENDED: Duration = Duration::days(30);
const CLEANUP_EVERY: Duration = Duration::hours(24);
/// How often (by the worker's clock) the gauges are refreshed: the webhook count is a
/// grouped scan of the connections table.
const METRICS_EVERY: Duration = Duration::seconds(15);

/// What one pass did; the ids let tests (and logs) follow each claim.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Connections claimed for a poll.
    pub polled: Vec<Uuid>,
    /// Connections claimed for a webhook renewal.
    pub renewals: Vec<Uuid>,
    /// Notices that could not be published (retried when the claim lapses).
    pub unpublished: usize,
    pub cleaned: usize,
}

impl TickReport {
    fn full(&self) -> bool {
        self.polled.len() as i64 >= BATCH || self.renewals.len() as i64 >= BATCH
    }
}

pub struct Scheduler {
    ctx: Arc<WorkerContext>,
    last_cleanup: Option<DateTime<Utc>>,
    last_metrics: Option<DateTime<Utc>>,
    /// A broker channel of its own for passive declares: a failed one closes the
    /// channel, which must not be the publisher's.
    mq: Option<(lapin::Connection, lapin::Channel)>,
}

impl Scheduler {
    pub fn new(ctx: Arc<WorkerContext>) -> Self {
        Self {
            ctx,
            last_cleanup: None,
            last_metrics: None,
            mq: None,
        }
    }

    /// One pass; tests call it directly with a manual clock.
    pub async fn run_once(&mut self) -> Result<TickReport, DbError> {
        let ctx = Arc::clone(&self.ctx);
        let now = ctx.clock.now();
        let mut report = TickReport::default();
        let mut db = ctx.pool.get().await?;
        report.polled =
            connections::claim_due_polls(&mut db, now, ctx.poll_interval(), BATCH).await?;
        report.renewals = calendars::claim_webhook_renewals(
            &mut db,
            now,
            now + RENEW_AHEAD,
            now + RENEW_CLAIM,
            BATCH,
        )
        .await?;
        for id in &report.renewals {
            connections::request_sync(&mut db, *id, now, false, None).await?;
        }
        if self.last_cleanup.is_none_or(|t| now - t >= CLEANUP_EVERY) {
            report.cleaned = events::delete_ended_before(&mut db, now - KEEP_ENDED).await?;
            self.last_cleanup = Some(now);
            tracing::info!(deleted = report.cleaned, "old unlinked events cleaned up");
        }
        drop(db);
        // A connection both due and expiring gets one notice: its sync renews too.
        let renew_only = report
            .renewals
            .iter()
            .filter(|id| !report.polled.contains(id));
        for id in report.polled.iter().chain(renew_only) {
            let published = ctx
                .conns
                .publish_notice(*id, None, NoticeReason::Poll, false, now)
                .await;
            if let Err(e) = published {
                // The row stays claimed until its next poll time; later ticks retry.
                report.unpublished += 1;
                tracing::warn!(connection.id = %id, error.message = %e, "could not enqueue a poll");
            }
        }
        if self.last_metrics.is_none_or(|t| now - t >= METRICS_EVERY) {
            self.last_metrics = Some(now);
            if let Err(e) = self.refresh_webhook_gauge(now).await {
                tracing::warn!(error.message = %e, "could not count webhooks");
            }
            self.refresh_queue_depth().await;
        }
        Ok(report)
    }

    async fn refresh_webhook_gauge(&self, now: DateTime<Utc>) -> Result<(), DbError> {
        let mut db = self.ctx.pool.get().await?;
        let counts = calendars::webhook_state_counts(&mut db, now, now + RENEW_AHEAD).await?;
        // Every known pair is set, zero included, so a state that emptied reads 0
        // rather than its last count.
        let gauge = &self.ctx.metrics.webhooks;
        for p in Provider::ALL {
            for s in WebhookState::ALL {
                gauge.with_label_values(&[p.as_str(), s.as_str()]).set(0);
            }
        }
        for c in counts {
            gauge
                .with_label_values(&[&c.provider, &c.state])
                .set(c.count);
        }
        Ok(())
    }

    /// Ready messages in the work and dead-letter queues; skipped (and the channel
    /// dropped) on error. A growing dead-letter queue is what operators alert on.
    async fn refresh_queue_depth(&mut self) {
        let topology = self.ctx.publisher.topology().clone();
        for queue in [topology.work_queue(), topology.dead_letter_queue()] {
            let depth = match self.channel().await {
                Ok(ch) => calsync_mq::queue_depth(&ch, &queue).await,
                Err(e) => Err(e),
            };
            match depth {
                Ok(n) => self
                    .ctx
                    .metrics
                    .queue_depth
                    .with_label_values(&[&queue])
                    .set(i64::from(n)),
                Err(e) => {
                    tracing::debug!(error.message = %e, "queue depth unavailable");
                    self.mq = None;
                    return;
                }
            }
        }
    }

    async fn channel(&mut self) -> Result<lapin::Channel, calsync_mq::MqError> {
        if let Some((conn, ch)) = &self.mq {
            if conn.status().connected() && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        self.mq = None;
        let conn = calsync_mq::connect(&self.ctx.settings.amqp.url).await?;
        let ch = conn.create_channel().await?;
        self.mq = Some((conn, ch.clone()));
        Ok(ch)
    }

    /// Ticks until shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let tick =
            std::time::Duration::from_millis(self.ctx.settings.worker.scheduler_tick_ms.max(50));
        loop {
            match self.run_once().await {
                Ok(r) if r.full() && !shutdown.is_cancelled() => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error.message = %e, "scheduler tick failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(tick) => {}
            }
        }
        if let Some((conn, _)) = self.mq.take() {
            let _ = conn.close(200, "shutdown").await;
        }
    }
}

/// Drains the write-back outbox on its own short tick (`writeback.poll_ms`), so a
/// booking's event is written within about that long; a full pass runs again at once.
/// Claims are in PostgreSQL, so every replica may run it.
pub async fn drain_writes(ctx: Arc<WorkerContext>, shutdown: CancellationToken) {
    let tick = std::time::Duration::from_millis(ctx.settings.writeback.poll_ms.max(20));
    loop {
        match ctx.writeback.run_once().await {
            Ok(r) if r.full() && !shutdown.is_cancelled() => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error.message = %e, "write-back pass failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}
