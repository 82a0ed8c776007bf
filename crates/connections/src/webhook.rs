//! The push webhooks of a connection, one per blocking calendar: how their state is
//! classified, opening or renewing them and recording the outcome (one retry policy,
//! whoever asks), stopping those of calendars that no longer block, and the upkeep the
//! lease holder runs after each successful sync. Polling keeps a calendar current while
//! a webhook is missing, so a failure here is recorded and retried, never fatal.

use crate::{error_chain, ConnectionError, Connections, Lease, Tokens};
use calsync_core::webhook::WebhookState;
use calsync_core::Provider;
use calsync_db::calendars::{self, Calendar, Webhook};
use calsync_db::connections::{self, Connection};
use calsync_db::DbError;
use calsync_providers::webhooks::{
    graph_resource, renew_google, renew_graph, CurrentWebhook, OpenedWebhook,
};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

/// A renewal claim holds `webhook_renew_after` this far ahead so that other replicas
/// (and the next scheduler ticks) leave the calendar alone while its sync runs.
pub const RENEW_CLAIM: Duration = Duration::minutes(5);
/// Pause before retrying a failed setup or renewal. Longer than `RENEW_CLAIM`, so a
/// mark further ahead than a claim can only be a back-off.
pub const RETRY_AFTER_FAILURE: Duration = Duration::minutes(15);
const _: () = assert!(RETRY_AFTER_FAILURE.num_seconds() > RENEW_CLAIM.num_seconds());
/// How long a new connection's missing webhook is left to the api that is opening it:
/// its callback awaits the setup, which Graph's validation handshake bounds to 10 s.
const SETUP_GRACE: Duration = Duration::seconds(30);

/// The state of one calendar's webhook at `now`. A calendar that does not block needs
/// none.
pub fn state_of(provider: Provider, k: &Calendar, now: DateTime<Utc>) -> WebhookState {
    WebhookState::classify(
        provider.has_webhooks() && k.blocking,
        k.has_webhook(),
        k.webhook_expires_at,
        now,
    )
}

/// The state of a connection's webhooks as a whole: the worst of its blocking
/// calendars' (`NotApplicable` for ICS feeds and for a connection that blocks nothing).
pub fn connection_state(c: &Connection, cals: &[Calendar], now: DateTime<Utc>) -> WebhookState {
    let rank = |s: WebhookState| match s {
        WebhookState::NotApplicable => 0,
        WebhookState::Active => 1,
        WebhookState::Expiring => 2,
        WebhookState::Expired => 3,
        WebhookState::Missing => 4,
    };
    cals.iter()
        .filter(|k| k.connection_id == c.id)
        .map(|k| state_of(c.provider, k, now))
        .max_by_key(|s| rank(*s))
        .unwrap_or(WebhookState::NotApplicable)
}

/// What became of one calendar's webhook.
#[derive(Debug)]
pub struct CalendarWebhook {
    pub calendar_id: String,
    pub outcome: Result<OpenedWebhook, ConnectionError>,
}

/// Which blocking calendars a setup opens or renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every one (operator `force`, a reconnect).
    All,
    /// Those missing, expired, expiring within a day, or asked to renew.
    Due,
}

impl Connections {
    /// Opens (or renews) the webhooks of every blocking calendar with a token the caller
    /// already holds (the OAuth callback's fresh one), and records the outcomes. Only a
    /// database failure is the outer `Err`.
    pub async fn open_webhooks(
        &self,
        c: &Connection,
        access_token: &SecretString,
    ) -> Result<Vec<CalendarWebhook>, DbError> {
        let cals = self.calendars_of(c).await?;
        self.open_each(c, &cals, access_token, Which::All).await
    }

    /// Opens (or renews) webhooks under the lease, refreshing the token if needed, and
    /// stops those of calendars that no longer block. `Err` when no provider call could
    /// be made (database, token); per-calendar provider failures are in the list.
    pub async fn setup_webhooks(
        &self,
        lease: &Lease,
        c: &Connection,
        which: Which,
    ) -> Result<Vec<CalendarWebhook>, ConnectionError> {
        let cals = self.calendars_of(c).await?;
        let now = self.clock.now();
        let wanted = |k: &Calendar| {
            k.blocking
                && (which == Which::All
                    || k.webhook_renew_requested
                    || state_of(c.provider, k, now).needs_renewal())
        };
        let stale = |k: &Calendar| !k.blocking && k.has_webhook();
        if !cals.iter().any(|k| wanted(k) || stale(k)) {
            return Ok(Vec::new());
        }
        let token = match Tokens::of(c).access(self, lease, false).await {
            Ok(t) => t,
            Err(ConnectionError::Db(e)) => return Err(e.into()),
            Err(e) => {
                // No token, no provider call: every calendar that wanted one waits alike.
                let message = error_chain(&e);
                let retry_at = now + RETRY_AFTER_FAILURE;
                let mut db = self.pool.get().await.map_err(DbError::from)?;
                for k in cals.iter().filter(|k| wanted(k)) {
                    calendars::record_webhook_error(
                        &mut db,
                        c.id,
                        &k.calendar_id,
                        &message,
                        retry_at,
                    )
                    .await?;
                }
                return Err(e);
            }
        };
        for k in cals.iter().filter(|k| stale(k)) {
            self.stop(c, k, &token).await?;
        }
        let chosen: Vec<Calendar> = cals.iter().filter(|k| wanted(k)).cloned().collect();
        let mut out = Vec::new();
        for k in &chosen {
            let siblings = siblings_of(&cals, k);
            let opened = self.call_provider(c, k, &siblings, &token).await;
            out.push(CalendarWebhook {
                calendar_id: k.calendar_id.clone(),
                outcome: self.record(c, k, opened).await?,
            });
        }
        Ok(out)
    }

    /// The upkeep after a successful sync, by the lease holder: webhooks that are
    /// missing, expired, expiring within a day, or that the provider asked us to renew
    /// are renewed, unless a failure's back-off runs or the api is still opening them;
    /// those of calendars that stopped blocking are stopped.
    ///
    /// `c` and `cals` are the connection and its calendars as the sync read them: the
    /// lease keeps every other writer of webhook state away (the api's first setup is
    /// told apart by its grace), so whether anything is due is decided without reading
    /// them again after every sync; the setup that follows when something is, reads
    /// afresh. A renewal asked for while the sync ran comes with a sync request, hence
    /// another round.
    pub async fn maintain_webhooks(
        &self,
        lease: &Lease,
        c: &Connection,
        cals: &[Calendar],
    ) -> Result<(), DbError> {
        if !c.provider.has_webhooks() {
            return Ok(());
        }
        let now = self.clock.now();
        let due = cals.iter().any(|k| {
            // `webhook_renew_after` is both the scheduler's claim (claim time +
            // RENEW_CLAIM) and the back-off after a failure (failure time +
            // RETRY_AFTER_FAILURE, longer): a mark at most RENEW_CLAIM ahead is a claim
            // made for this very sync, or a back-off that has nearly run out.
            let backing_off = k.webhook_renew_after > now + RENEW_CLAIM;
            if backing_off {
                return false;
            }
            if !k.blocking {
                return k.has_webhook();
            }
            // The api's OAuth callback opens a new connection's webhook itself (before
            // it asks for the first sync). A sync that runs while that setup is in
            // flight must not open a second channel or subscription, which would
            // deliver, unrenewed, for a week. A failed setup there is recorded and
            // retried after the grace.
            let api_setting_up = !k.has_webhook()
                && !k.webhook_renew_requested
                && k.webhook_last_error.is_none()
                && now - c.created_at < SETUP_GRACE;
            let wanted = state_of(c.provider, k, now).needs_renewal() || k.webhook_renew_requested;
            wanted && !api_setting_up
        });
        if !due {
            return Ok(());
        }
        // Tokens may have been refreshed (and a Microsoft refresh token rotated) by the
        // sync: the setup works from the stored row, not the claim's copy.
        let mut db = self.pool.get().await?;
        let c = connections::get(&mut db, c.id).await?;
        drop(db);
        match self.setup_webhooks(lease, &c, Which::Due).await {
            Ok(list) => {
                for w in list {
                    if let Ok(opened) = w.outcome {
                        tracing::info!(calendar.id = %w.calendar_id, expires_at = %opened.expires_at,
                            renewed = opened.renewed, "webhook open");
                    }
                }
                Ok(())
            }
            Err(ConnectionError::Db(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error.message = %error_chain(&e), "webhooks not renewed; retried later");
                Ok(())
            }
        }
    }

    async fn calendars_of(&self, c: &Connection) -> Result<Vec<Calendar>, DbError> {
        if !c.provider.has_webhooks() {
            return Ok(Vec::new());
        }
        let mut db = self.pool.get().await?;
        calendars::list(&mut db, c.id).await
    }

    async fn open_each(
        &self,
        c: &Connection,
        cals: &[Calendar],
        token: &SecretString,
        which: Which,
    ) -> Result<Vec<CalendarWebhook>, DbError> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for k in cals.iter().filter(|k| {
            k.blocking && (which == Which::All || state_of(c.provider, k, now).needs_renewal())
        }) {
            let siblings = siblings_of(cals, k);
            let opened = self.call_provider(c, k, &siblings, token).await;
            out.push(CalendarWebhook {
                calendar_id: k.calendar_id.clone(),
                outcome: self.record(c, k, opened).await?,
            });
        }
        Ok(out)
    }

    async fn call_provider(
        &self,
        c: &Connection,
        k: &Calendar,
        siblings: &[String],
        token: &SecretString,
    ) -> Result<OpenedWebhook, ConnectionError> {
        let current = CurrentWebhook {
            channel_id: k.webhook_channel_id.as_deref(),
            resource_id: k.webhook_resource_id.as_deref(),
            subscription_id: k.webhook_subscription_id.as_deref(),
            siblings,
        };
        let ingest = &self.ingest_public_url;
        Ok(match c.provider {
            Provider::Google => {
                renew_google(
                    self.clients.google()?,
                    token,
                    &k.calendar_id,
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
                    &graph_resource(&k.calendar_id),
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

    /// Stops the webhook of a calendar that no longer blocks and forgets it. A failure
    /// is recorded and retried later; the webhook lapses by itself at the latest.
    async fn stop(
        &self,
        c: &Connection,
        k: &Calendar,
        token: &SecretString,
    ) -> Result<(), DbError> {
        let stopped: Result<(), ConnectionError> = async {
            match c.provider {
                Provider::Google => {
                    if let (Some(id), Some(resource)) = (
                        k.webhook_channel_id.as_deref(),
                        k.webhook_resource_id.as_deref(),
                    ) {
                        self.clients
                            .google()?
                            .stop_channel(token, id, resource)
                            .await?;
                    }
                }
                Provider::Microsoft => {
                    if let Some(id) = k.webhook_subscription_id.as_deref() {
                        self.clients
                            .microsoft()?
                            .delete_subscription(token, id)
                            .await?;
                    }
                }
                Provider::Ics => {}
            }
            Ok(())
        }
        .await;
        let now = self.clock.now();
        let mut db = self.pool.get().await?;
        match stopped {
            Ok(()) => {
                tracing::info!(connection.id = %c.id, calendar.id = %k.calendar_id,
                    "webhook of a calendar that no longer blocks stopped");
                calendars::clear_webhook(&mut db, c.id, &k.calendar_id, now).await
            }
            Err(e) => {
                let message = error_chain(&e);
                tracing::warn!(connection.id = %c.id, calendar.id = %k.calendar_id,
                    error.message = %message, "could not stop a webhook; retried later");
                calendars::record_webhook_error(
                    &mut db,
                    c.id,
                    &k.calendar_id,
                    &message,
                    now + RETRY_AFTER_FAILURE,
                )
                .await
            }
        }
    }

    async fn record(
        &self,
        c: &Connection,
        k: &Calendar,
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
                calendars::store_webhook(&mut db, c.id, &k.calendar_id, &stored, now).await?;
            }
            Err(e) => {
                let message = error_chain(e);
                tracing::warn!(connection.id = %c.id, calendar.id = %k.calendar_id,
                    error.message = %message, "webhook setup failed; polling covers meanwhile");
                calendars::record_webhook_error(
                    &mut db,
                    c.id,
                    &k.calendar_id,
                    &message,
                    now + RETRY_AFTER_FAILURE,
                )
                .await?;
            }
        }
        Ok(opened)
    }
}

/// The Graph subscriptions the connection's other calendars hold.
fn siblings_of(cals: &[Calendar], k: &Calendar) -> Vec<String> {
    cals.iter()
        .filter(|o| o.calendar_id != k.calendar_id)
        .filter_map(|o| o.webhook_subscription_id.clone())
        .collect()
}
