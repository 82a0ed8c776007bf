#![doc = include_str!("../README.md")]

pub mod calendars;
pub mod clients;
pub mod clock;
pub mod error;
pub mod lease;
pub mod requests;
pub mod tokens;
pub mod webhook;
pub mod writeback;

pub use calendars::{CalendarChoice, CalendarError};
pub use clients::{ics_fetcher, OAuthApp, ProviderClients};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{error_chain, ConnectionError};
pub use lease::Lease;
pub use requests::Enqueued;
pub use tokens::Tokens;
pub use writeback::WriteBack;

use calsync_db::DbPool;
use calsync_mq::Publisher;
use calsync_providers::security::{TokenCipher, WebhookSigner};
use calsync_runtime::Settings;
use chrono::Duration;
use std::sync::Arc;

/// Everything connection logic needs, built once per process and shared by its tasks.
pub struct Connections {
    pub pool: DbPool,
    pub publisher: Publisher,
    pub clock: Arc<dyn Clock>,
    pub clients: ProviderClients,
    pub cipher: TokenCipher,
    pub signer: WebhookSigner,
    /// Base URL of webhook-ingest as providers reach it (no trailing slash).
    pub ingest_public_url: String,
    /// Lease owner name: unique per process.
    pub owner: String,
    /// How long a lease lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// Longest Graph subscription asked for, in minutes.
    pub graph_subscription_max_minutes: i64,
}

impl Connections {
    /// Builds from settings: the secrets (current and previous keys), the clients of the
    /// configured providers, and the lease length of `worker.lease_secs`.
    pub fn from_settings(
        settings: &Settings,
        pool: DbPool,
        publisher: Publisher,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        owner: impl Into<String>,
    ) -> Result<Self, ConnectionError> {
        let cipher = TokenCipher::with_previous(
            &settings.security.encryption_key,
            &settings.security.previous_encryption_keys,
        )?;
        let signer = WebhookSigner::with_previous(
            settings.security.webhook_secret.clone(),
            settings.security.previous_webhook_secrets.clone(),
        );
        let lease_secs = i64::try_from(settings.worker.lease_secs.max(3)).unwrap_or(15);
        Ok(Self {
            pool,
            publisher,
            clock,
            clients: ProviderClients::from_settings(settings, http)?,
            cipher,
            signer,
            ingest_public_url: settings.ingest.public_url.trim_end_matches('/').to_owned(),
            owner: owner.into(),
            lease_ttl: Duration::seconds(lease_secs),
            graph_subscription_max_minutes: settings.microsoft.subscription_max_minutes,
        })
    }
}

/// Readiness of a process that serves from the database: it answers, and its schema is
/// at this binary's version (pods go ready only after the migration ran).
pub fn database_readiness(pool: &DbPool) -> calsync_runtime::health::Readiness {
    let (db, schema) = (pool.clone(), pool.clone());
    calsync_runtime::health::Readiness::new()
        .with("database", move || {
            let db = db.clone();
            async move { calsync_db::pool::ping(&db).await.map_err(|e| e.to_string()) }
        })
        .with("schema", move || {
            let db = schema.clone();
            async move {
                calsync_db::migrate::check_schema(&db)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
}

/// A lease owner name unique to this process: the host (pod) name and a random suffix.
pub fn owner_name(service: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| service.to_owned());
    format!("{service}-{host}-{}", uuid::Uuid::new_v4().simple())
}
