//! Opening (or renewing) a connection's push webhook and recording the outcome on the
//! connection: the provider calls live in `calsync_providers::webhooks`, shared with the
//! sync-worker's renewal.

use super::tokens::{self, TokenError};
use crate::state::AppState;
use calsync_db::connections::{self, Connection, Webhook};
use calsync_db::{AsyncPgConnection, DbError};
use calsync_providers::webhooks::{renew_google, renew_graph, CurrentWebhook, OpenedWebhook};
use calsync_providers::ProviderError;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use secrecy::SecretString;
use serde::Serialize;

/// After a failed setup the scheduler's next renewal attempt waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0} is not configured on this server")]
    NotConfigured(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("provider refused the webhook: {0}")]
    Provider(#[from] ProviderError),
}

/// The `webhook` object of the callback answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReport {
    /// `created` or `failed`.
    pub status: &'static str,
    pub expires_at: Option<String>,
    pub error: Option<String>,
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Talks to the provider only; see `setup` for the stored outcome.
pub async fn open_webhook(
    state: &AppState,
    c: &Connection,
    access_token: &SecretString,
    now: DateTime<Utc>,
) -> Result<OpenedWebhook, WebhookError> {
    let current = CurrentWebhook {
        channel_id: c.webhook_channel_id.as_deref(),
        resource_id: c.webhook_resource_id.as_deref(),
        subscription_id: c.webhook_subscription_id.as_deref(),
    };
    let signer = &state.webhook_signer;
    let ingest = &state.ingest_public_url;
    match c.provider.as_str() {
        "google" => {
            let client = state
                .google
                .as_ref()
                .ok_or_else(|| WebhookError::NotConfigured("google".into()))?;
            Ok(renew_google(
                client,
                access_token,
                &c.external_calendar_id,
                c.id,
                signer,
                ingest,
                &current,
            )
            .await?)
        }
        "microsoft" => {
            let client = state
                .microsoft
                .as_ref()
                .ok_or_else(|| WebhookError::NotConfigured("microsoft".into()))?;
            Ok(renew_graph(client, access_token, c.id, signer, ingest, &current, now).await?)
        }
        other => Err(WebhookError::NotConfigured(format!("webhooks for {other}"))),
    }
}

/// Opens the webhook and stores it, or records the failure on the connection (polling
/// keeps the calendar current meanwhile). Only a database failure is an `Err`.
pub async fn setup(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    c: &Connection,
    access_token: Option<&SecretString>,
    now: DateTime<Utc>,
) -> Result<Result<OpenedWebhook, String>, DbError> {
    let opened = match access_token {
        Some(t) => open_webhook(state, c, t, now).await,
        None => match tokens::access_token(state, conn, c, now).await {
            Ok(t) => open_webhook(state, c, &t, now).await,
            Err(TokenError::Db(e)) => return Err(e),
            Err(e) => Err(e.into()),
        },
    };
    match opened {
        Ok(w) => {
            let stored = Webhook {
                channel_id: w.channel_id.clone(),
                resource_id: w.resource_id.clone(),
                subscription_id: w.subscription_id.clone(),
                expires_at: Some(w.expires_at),
            };
            connections::store_webhook(conn, c.id, &stored, now).await?;
            Ok(Ok(w))
        }
        Err(e) => {
            let message = e.to_string();
            tracing::warn!(connection.id = %c.id, error.message = %message, "webhook setup failed");
            connections::record_webhook_error(conn, c.id, &message, now + RETRY_AFTER_FAILURE)
                .await?;
            Ok(Err(message))
        }
    }
}
