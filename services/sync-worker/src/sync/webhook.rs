//! Keeps a connection's webhook alive, run by the lease holder after a successful sync:
//! a webhook that is missing, expired, expiring within a day, or that the provider
//! asked us to renew is renewed. A failure is recorded and retried later; polling keeps
//! the calendar current meanwhile.

use super::tokens::Tokens;
use super::SyncError;
use crate::context::WorkerContext;
use crate::scheduler::RENEW_CLAIM;
use calsync_core::webhook::WebhookState;
use calsync_core::Provider;
use calsync_db::connections::{self, Webhook};
use calsync_db::DbError;
use calsync_providers::webhooks::{renew_google, renew_graph, CurrentWebhook, OpenedWebhook};
use chrono::Duration;
use uuid::Uuid;

/// Pause before retrying a failed renewal; longer than the scheduler's claim mark so
/// the two can be told apart.
const RETRY_AFTER_FAILURE: Duration = Duration::minutes(15);
/// How long a new connection's missing webhook is left to the api that is opening it:
/// its callback awaits the setup, which Graph's validation handshake bounds to 10 s.
const SETUP_GRACE: Duration = Duration::seconds(30);
const _: () = assert!(RETRY_AFTER_FAILURE.num_seconds() > RENEW_CLAIM.num_seconds());

pub async fn maintain(ctx: &WorkerContext, id: Uuid, provider: Provider) -> Result<(), DbError> {
    let mut db = ctx.pool.get().await?;
    let c = connections::get(&mut db, id).await?;
    drop(db);
    let now = ctx.clock.now();
    let has = c.webhook_channel_id.is_some() || c.webhook_subscription_id.is_some();
    let state = WebhookState::classify(true, has, c.webhook_expires_at, now);
    // `webhook_renew_after` is both the scheduler's claim (claim time + RENEW_CLAIM)
    // and the back-off after a failure (failure time + RETRY_AFTER_FAILURE, longer): a
    // mark at most RENEW_CLAIM ahead is a claim made for this very sync, or a back-off
    // that has nearly run out.
    let backing_off = c.webhook_renew_after > now + RENEW_CLAIM;
    // The api's OAuth callback opens a new connection's webhook itself (before it asks
    // for the first sync). A sync that runs while that setup is still in flight (a
    // scheduler poll, a reconnect) must not open a second channel or subscription,
    // which would deliver, unrenewed, for a week. A failed setup there is recorded
    // and retried by the scheduler after the grace.
    let api_setting_up = !has
        && !c.webhook_renew_requested
        && c.webhook_last_error.is_none()
        && now - c.created_at < SETUP_GRACE;
    if !(state.needs_renewal() || c.webhook_renew_requested) || backing_off || api_setting_up {
        return Ok(());
    }
    let result = renew(ctx, &c, provider).await;
    let mut db = ctx.pool.get().await?;
    match result {
        Ok(w) => {
            tracing::info!(expires_at = %w.expires_at, renewed = w.renewed, "webhook open");
            let webhook = Webhook {
                channel_id: w.channel_id,
                resource_id: w.resource_id,
                subscription_id: w.subscription_id,
                expires_at: Some(w.expires_at),
            };
            connections::store_webhook(&mut db, id, &webhook, now).await
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "webhook renewal failed; polling covers meanwhile");
            connections::record_webhook_error(
                &mut db,
                id,
                &e.to_string(),
                now + RETRY_AFTER_FAILURE,
            )
            .await
        }
    }
}

async fn renew(
    ctx: &WorkerContext,
    c: &connections::Connection,
    provider: Provider,
) -> Result<OpenedWebhook, SyncError> {
    let mut tokens = Tokens::of(c, provider);
    let token = tokens.access(ctx, false).await?;
    let current = CurrentWebhook {
        channel_id: c.webhook_channel_id.as_deref(),
        resource_id: c.webhook_resource_id.as_deref(),
        subscription_id: c.webhook_subscription_id.as_deref(),
    };
    let ingest = &ctx.settings.ingest.public_url;
    Ok(match provider {
        Provider::Google => {
            let g = ctx
                .google
                .as_ref()
                .ok_or(SyncError::NotConfigured("google"))?;
            renew_google(
                g,
                &token,
                &c.external_calendar_id,
                c.id,
                &ctx.signer,
                ingest,
                &current,
            )
            .await?
        }
        Provider::Microsoft => {
            let m = ctx
                .microsoft
                .as_ref()
                .ok_or(SyncError::NotConfigured("microsoft"))?;
            renew_graph(
                m,
                &token,
                c.id,
                &ctx.signer,
                ingest,
                &current,
                ctx.clock.now(),
            )
            .await?
        }
        Provider::Ics => return Err(SyncError::Data("ICS feeds have no webhooks".into())),
    })
}
