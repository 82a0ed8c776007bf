//! A connection's push webhook: how its state is classified, opening or renewing it and
//! recording the outcome (one retry policy, whoever asks), and the upkeep the lease
//! holder runs after each successful sync. Polling keeps a calendar current while a
//! webhook is missing, so a failure here is recorded and retried, never fatal.

use crate::{error_chain, ConnectionError, Connections, Lease, Tokens};
use calsync_core::webhook::WebhookState;
use calsync_core::Provider;
use calsync_db::connections::{self, Connection, Webhook};
use calsync_db::DbError;
use calsync_providers::webhooks::{renew_google, renew_graph, CurrentWebhook, OpenedWebhook};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

/// A renewal claim holds `webhook_renew_after` this far ahead so that other replicas
/// (and the next scheduler ticks) leave the connection alone while its sync runs.
pub const RENEW_CLAIM: Duration = Duration::minutes(5);
/// Pause before retrying a failed setup or renewal. Longer than `RENEW_CLAIM`, so a
/// mark further ahead than a claim can only be a back-off.
pub const RETRY_AFTER_FAILURE: Duration = Duration::minutes(15);
const _: () = assert!(RETRY_AFTER_FAILURE.num_seconds() > RENEW_CLAIM.num_seconds());
/// How long a new connection's missing webhook is left to the api that is opening it:
/// its callback awaits the setup, which Graph's validation handshake bounds to 10 s.
const SETUP_GRACE: Duration = Duration::seconds(30);

/// The state of a connection's webhook at `now`.
pub fn state_of(c: &Connection, now: DateTime<Utc>) -> WebhookState {
    WebhookState::classify(
        c.provider.has_webhooks(),
        c.has_webhook(),
        c.webhook_expires_at,
        now,
    )
}

impl Connections {
    /// Opens (or renews) the webhook with a token the caller already holds (the OAuth
    /// callback's fresh one), and records the outcome on the connection. The inner
    /// result is the provider's answer; only a database failure is the outer `Err`.
    pub async fn open_webhook(
        &self,
        c: &Connection,
        access_token: &SecretString,
    ) -> Result<Result<OpenedWebhook, ConnectionError>, DbError> {
        let opened = self.call_provider(c, access_token).await;
        self.record(c, opened).await
    }

    /// Opens (or renews) the webhook under the lease, refreshing the token if needed.
    pub async fn setup_webhook(
        &self,
        lease: &Lease,
        c: &Connection,
    ) -> Result<Result<OpenedWebhook, ConnectionError>, DbError> {
        let opened = match Tokens::of(c).access(self, lease, false).await {
            Ok(token) => self.call_provider(c, &token).await,
            Err(ConnectionError::Db(e)) => return Err(e),
            Err(e) => Err(e),
        };
        self.record(c, opened).await
    }

    /// The upkeep after a successful sync, by the lease holder: a webhook that is
    /// missing, expired, expiring within a day, or that the provider asked us to renew
    /// is renewed, unless a failure's back-off runs or the api is still opening it.
    pub async fn maintain_webhook(&self, lease: &Lease) -> Result<(), DbError> {
        let mut db = self.pool.get().await?;
        let c = connections::get(&mut db, lease.connection_id()).await?;
        drop(db);
        if !c.provider.has_webhooks() {
            return Ok(());
        }
        let now = self.clock.now();
        // `webhook_renew_after` is both the scheduler's claim (claim time + RENEW_CLAIM)
        // and the back-off after a failure (failure time + RETRY_AFTER_FAILURE, longer):
        // a mark at most RENEW_CLAIM ahead is a claim made for this very sync, or a
        // back-off that has nearly run out.
        let backing_off = c.webhook_renew_after > now + RENEW_CLAIM;
        // The api's OAuth callback opens a new connection's webhook itself (before it
        // asks for the first sync). A sync that runs while that setup is in flight must
        // not open a second channel or subscription, which would deliver, unrenewed, for
        // a week. A failed setup there is recorded and retried after the grace.
        let api_setting_up = !c.has_webhook()
            && !c.webhook_renew_requested
            && c.webhook_last_error.is_none()
            && now - c.created_at < SETUP_GRACE;
        let wanted = state_of(&c, now).needs_renewal() || c.webhook_renew_requested;
        if !wanted || backing_off || api_setting_up {
            return Ok(());
        }
        if let Ok(w) = self.setup_webhook(lease, &c).await? {
            tracing::info!(expires_at = %w.expires_at, renewed = w.renewed, "webhook open");
        }
        Ok(())
    }

    async fn call_provider(
        &self,
        c: &Connection,
        token: &SecretString,
    ) -> Result<OpenedWebhook, ConnectionError> {
        let current = CurrentWebhook {
            channel_id: c.webhook_channel_id.as_deref(),
            resource_id: c.webhook_resource_id.as_deref(),
            subscription_id: c.webhook_subscription_id.as_deref(),
        };
        let ingest = &self.ingest_public_url;
        Ok(match c.provider {
            Provider::Google => {
                renew_google(
                    self.clients.google()?,
                    token,
                    &c.external_calendar_id,
                    c.id,
                    &self.signer,
                    ingest,
                    &current,
                )
                .await?
            }
            Provider::Microsoft => {
                renew_graph(
                    self.clients.microsoft()?,
                    token,
                    c.id,
                    &self.signer,
                    ingest,
                    &current,
                    self.clock.now(),
                    self.graph_subscription_max_minutes,
                )
                .await?
            }
            Provider::Ics => {
                return Err(ConnectionError::Unsupported {
                    provider: c.provider,
                    what: "webhooks",
                })
            }
        })
    }

    async fn record(
        &self,
        c: &Connection,
        opened: Result<OpenedWebhook, ConnectionError>,
    ) -> Result<Result<OpenedWebhook, ConnectionError>, DbError> {
        let now = self.clock.now();
        let mut db = self.pool.get().await?;
        match &opened {
            Ok(w) => {
                let stored = Webhook {
                    channel_id: w.channel_id.clone(),
                    resource_id: w.resource_id.clone(),
                    subscription_id: w.subscription_id.clone(),
                    expires_at: Some(w.expires_at),
                };
                connections::store_webhook(&mut db, c.id, &stored, now).await?;
            }
            Err(e) => {
                let message = error_chain(e);
                tracing::warn!(connection.id = %c.id, error.message = %message,
                    "webhook setup failed; polling covers meanwhile");
                connections::record_webhook_error(
                    &mut db,
                    c.id,
                    &message,
                    now + RETRY_AFTER_FAILURE,
                )
                .await?;
            }
        }
        Ok(opened)
    }
}
