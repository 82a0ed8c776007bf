//! One sync of one claimed connection: fetch from the provider, commit events and the
//! new cursor in one transaction, then keep the webhook alive. Failures are recorded
//! on the connection (with back-off for the next poll) and never touch stored events.

mod commit;
mod ics;
mod oauth;
mod tokens;
pub mod webhook;

use crate::context::WorkerContext;
use calsync_core::Provider;
use calsync_db::connections::{self, Claim};
use calsync_db::DbError;
use calsync_providers::ProviderError;
use chrono::{DateTime, Duration, Utc};
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The grant is gone: the agent must connect again. Syncing pauses.
    #[error("re-authorisation needed: {0}")]
    Reauth(String),
    #[error("{0} is not configured on this worker")]
    NotConfigured(&'static str),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("stored token unreadable: {0}")]
    Crypto(String),
    #[error("{0}")]
    Feed(String),
    #[error("bad connection data: {0}")]
    Data(String),
}

impl SyncError {
    fn needs_reauth(&self) -> bool {
        matches!(
            self,
            SyncError::Reauth(_) | SyncError::Provider(ProviderError::InvalidGrant { .. })
        )
    }
}

/// Back-off for the next poll after `failures` consecutive failures: 1, 2, 4 … minutes,
/// capped at the normal poll interval.
fn retry_at(now: DateTime<Utc>, failures: i32, cap: Duration) -> DateTime<Utc> {
    let minutes = 1i64 << failures.clamp(0, 10);
    now + Duration::minutes(minutes).min(cap)
}

/// Runs one sync of a claimed connection and records its outcome.
pub async fn run(ctx: &WorkerContext, claim: &Claim) -> Result<(), DbError> {
    let c = &claim.connection;
    let provider: Provider = match c.provider.parse() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(connection.id = %c.id, error.message = %e, "connection has an unknown provider");
            return Ok(());
        }
    };
    let span = tracing::info_span!("sync", connection.id = %c.id, provider = provider.as_str(), full = claim.full_resync);
    async move {
        let started = std::time::Instant::now();
        let result = match provider {
            Provider::Google | Provider::Microsoft => oauth::sync(ctx, claim, provider).await,
            Provider::Ics => ics::sync(ctx, claim).await,
        };
        let now = ctx.clock.now();
        if let Some(last) = c.last_sync_at {
            ctx.metrics
                .sync_lag
                .with_label_values(&[provider.as_str()])
                .observe((now - last).num_milliseconds() as f64 / 1000.0);
        }
        match result {
            Ok(()) => {
                ctx.metrics
                    .syncs
                    .with_label_values(&[provider.as_str(), "ok"])
                    .inc();
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "sync committed"
                );
                if provider.has_webhooks() {
                    webhook::maintain(ctx, c.id, provider).await?;
                }
                Ok(())
            }
            Err(SyncError::Db(e)) => Err(e),
            Err(e) => {
                let reauth = e.needs_reauth();
                let outcome = if reauth { "reauth" } else { "failed" };
                ctx.metrics
                    .syncs
                    .with_label_values(&[provider.as_str(), outcome])
                    .inc();
                tracing::warn!(error.message = %e, reauth, "sync failed; stored events kept");
                let mut db = ctx.pool.get().await?;
                let next = retry_at(now, c.consecutive_failures, ctx.poll_interval_of(provider));
                connections::record_failure(&mut db, c.id, &e.to_string(), reauth, now, next).await
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
        assert_eq!(retry_at(now, 0, cap) - now, Duration::minutes(1));
        assert_eq!(retry_at(now, 2, cap) - now, Duration::minutes(4));
        assert_eq!(retry_at(now, 9, cap) - now, cap);
    }
}
