//! One sync of one claimed connection: fetch from the provider, commit events and the
//! new cursor in one transaction, then keep the webhook alive. Failures are recorded
//! on the connection (with back-off for the next poll) and never touch stored events.

mod commit;
mod group;
mod ics;
mod oauth;

use crate::context::WorkerContext;
use calsync_connections::{error_chain, ConnectionError, Lease};
use calsync_db::connections::{self, Claim, FailureKind};
use calsync_db::DbError;
use calsync_providers::ics::IcsFetchError;
use calsync_providers::ProviderError;
use chrono::{DateTime, Duration, Utc};
use tracing::Instrument;

/// The worker's group commit of calendar writes (one per process: `WorkerContext`).
pub type Commits = group::GroupCommit<commit::CalendarWrite>;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error("feed fetch failed")]
    Fetch(#[source] IcsFetchError),
    #[error("feed could not be parsed")]
    Parse(#[source] calsync_ical::IcalError),
    #[error("feed parser stopped")]
    Parser(#[source] tokio::task::JoinError),
    #[error("the specialist's time zone {0:?} is unknown")]
    UnknownZone(String),
}

impl From<DbError> for SyncError {
    fn from(e: DbError) -> Self {
        Self::Connection(e.into())
    }
}

impl From<ProviderError> for SyncError {
    fn from(e: ProviderError) -> Self {
        Self::Connection(e.into())
    }
}

impl SyncError {
    fn needs_reauth(&self) -> bool {
        matches!(self, Self::Connection(e) if e.needs_reauth())
    }

    /// For a failure that waiting cures (throttling, provider 5xx, network), the least
    /// wait the provider asked for (zero when it named none).
    fn transient_wait(&self) -> Option<std::time::Duration> {
        match self {
            Self::Connection(ConnectionError::Provider(p)) if p.is_transient() => {
                Some(p.retry_after().unwrap_or_default())
            }
            Self::Fetch(f) if f.is_transient() => Some(std::time::Duration::ZERO),
            _ => None,
        }
    }
}

/// When a failed sync is tried again, by the scheduler's poll claim. A transient failure
/// (the change is known, the provider only asked us to wait) comes back after the wait
/// the provider named, or 1, 2, 4 … seconds, so a throttled change lands seconds after
/// the throttle lifts instead of at the next poll; anything else backs off 1, 2, 4 …
/// minutes. Both are capped at the normal poll interval.
fn retry_at(
    now: DateTime<Utc>,
    failures: i32,
    cap: Duration,
    transient_wait: Option<std::time::Duration>,
) -> DateTime<Utc> {
    let doubling = 1i64 << failures.clamp(0, 10);
    let wait = match transient_wait {
        Some(asked) => {
            Duration::seconds(doubling).max(Duration::from_std(asked).unwrap_or(Duration::MAX))
        }
        None => Duration::minutes(doubling),
    };
    now + wait.min(cap)
}

/// Runs one sync of a claimed connection and records its outcome.
pub async fn run(ctx: &WorkerContext, lease: &Lease, claim: &Claim) -> Result<(), DbError> {
    let c = &claim.connection;
    let provider = c.provider;
    let span = tracing::info_span!("sync", connection.id = %c.id, provider = provider.as_str(), full = claim.full_resync);
    if let Some((parent, state)) = ctx.traces.take(c.id) {
        calsync_runtime::telemetry::continue_trace(&span, &parent, &state);
    }
    async move {
        let started = std::time::Instant::now();
        let result = match provider {
            calsync_core::Provider::Ics => ics::sync(ctx, lease, claim).await.map(|()| Vec::new()),
            _ => oauth::sync(ctx, lease, claim).await,
        };
        let now = ctx.clock.now();
        if let Some(last) = c.last_sync_at {
            ctx.metrics
                .sync_lag
                .with_label_values(&[provider.as_str()])
                .observe((now - last).num_milliseconds() as f64 / 1000.0);
        }
        match result {
            Ok(calendars) => {
                ctx.metrics
                    .syncs
                    .with_label_values(&[provider.as_str(), "ok"])
                    .inc();
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "sync committed"
                );
                ctx.conns.maintain_webhooks(lease, c, &calendars).await
            }
            Err(SyncError::Connection(ConnectionError::Db(e))) => Err(e),
            Err(SyncError::Connection(ConnectionError::LeaseLost)) => {
                tracing::warn!("lease lost mid-sync; the new holder syncs");
                Ok(())
            }
            Err(e) => {
                let reauth = e.needs_reauth();
                let kind = if reauth {
                    FailureKind::NeedsReauth
                } else if e.transient_wait().is_some() {
                    FailureKind::Transient
                } else {
                    FailureKind::Permanent
                };
                let outcome = if reauth { "reauth" } else { "failed" };
                ctx.metrics
                    .syncs
                    .with_label_values(&[provider.as_str(), outcome])
                    .inc();
                let message = error_chain(&e);
                tracing::warn!(error.message = %message, reauth, "sync failed; stored events kept");
                let mut db = ctx.pool.get().await?;
                let next = retry_at(
                    now,
                    c.consecutive_failures,
                    ctx.poll_interval_of(provider),
                    e.transient_wait(),
                );
                connections::record_failure(&mut db, c.id, &message, kind, now, next).await
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_polls_back_off_exponentially_up_to_the_poll_interval() {
        let now = Utc::now();
        let cap = Duration::minutes(10);
        assert_eq!(retry_at(now, 0, cap, None) - now, Duration::minutes(1));
        assert_eq!(retry_at(now, 2, cap, None) - now, Duration::minutes(4));
        assert_eq!(retry_at(now, 9, cap, None) - now, cap);
    }

    #[test]
    fn a_throttled_sync_comes_back_after_the_providers_wait_not_at_the_next_poll() {
        let now = Utc::now();
        let cap = Duration::minutes(10);
        let asked = Some(std::time::Duration::from_secs(30));
        assert_eq!(retry_at(now, 0, cap, asked) - now, Duration::seconds(30));
        let none = Some(std::time::Duration::ZERO);
        assert_eq!(retry_at(now, 0, cap, none) - now, Duration::seconds(1));
        assert_eq!(retry_at(now, 3, cap, none) - now, Duration::seconds(8));
        assert_eq!(retry_at(now, 10, cap, none) - now, cap);
    }
}
