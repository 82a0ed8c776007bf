//! Everything a sync needs, built once per worker process and shared by its tasks.

use crate::clock::Clock;
use crate::metrics::WorkerMetrics;
use calsync_db::DbPool;
use calsync_mq::Publisher;
use calsync_providers::google::GoogleClient;
use calsync_providers::microsoft::MicrosoftClient;
use calsync_providers::security::{TokenCipher, WebhookSigner};
use calsync_providers::{GoogleConfig, MicrosoftConfig};
use calsync_runtime::Settings;
use chrono::Duration;
use std::sync::Arc;
use url::Url;

pub struct WorkerContext {
    pub pool: DbPool,
    pub publisher: Publisher,
    pub clock: Arc<dyn Clock>,
    pub cipher: TokenCipher,
    pub signer: WebhookSigner,
    pub google: Option<GoogleClient>,
    pub microsoft: Option<MicrosoftClient>,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub metrics: WorkerMetrics,
    /// Lease owner name: unique per worker process.
    pub owner: String,
}

impl WorkerContext {
    pub fn lease(&self) -> Duration {
        Duration::seconds(i64::try_from(self.settings.worker.lease_secs).unwrap_or(300))
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::seconds(i64::try_from(self.settings.worker.poll_interval_secs).unwrap_or(600))
    }

    pub fn ics_poll_interval(&self) -> Duration {
        Duration::seconds(i64::try_from(self.settings.ics.poll_interval_secs).unwrap_or(600))
    }
}

fn url(s: &str, key: &str) -> anyhow::Result<Url> {
    Url::parse(s).map_err(|e| anyhow::anyhow!("{key}: {e}"))
}

/// Builds the provider clients that are configured (client id set).
pub fn provider_clients(
    settings: &Settings,
    http: &reqwest::Client,
) -> anyhow::Result<(Option<GoogleClient>, Option<MicrosoftClient>)> {
    let redirect = |p: &str| url(&format!("{}/api/integrations/{p}/callback", settings.api.public_url.trim_end_matches('/')), "api.public_url");
    let google = if settings.google_configured() {
        let g = &settings.google;
        Some(GoogleClient::new(
            GoogleConfig {
                client_id: g.client_id.clone(),
                client_secret: g.client_secret.clone(),
                api_base: url(&g.api_base, "google.api_base")?,
                auth_url: url(&g.auth_url, "google.auth_url")?,
                token_url: url(&g.token_url, "google.token_url")?,
                redirect_uri: redirect("google")?,
            },
            http.clone(),
        ))
    } else {
        None
    };
    let microsoft = if settings.microsoft_configured() {
        let m = &settings.microsoft;
        Some(MicrosoftClient::new(
            MicrosoftConfig {
                client_id: m.client_id.clone(),
                client_secret: m.client_secret.clone(),
                graph_base: url(&m.graph_base, "microsoft.graph_base")?,
                auth_url: url(&m.auth_url, "microsoft.auth_url")?,
                token_url: url(&m.token_url, "microsoft.token_url")?,
                redirect_uri: redirect("microsoft")?,
            },
            http.clone(),
        ))
    } else {
        None
    };
    Ok((google, microsoft))
}
