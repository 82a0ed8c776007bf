//! Everything a sync needs, built once per worker process and shared by its tasks.

use crate::clock::Clock;
use crate::metrics::WorkerMetrics;
use calsync_core::Provider;
use calsync_db::DbPool;
use calsync_mq::Publisher;
use calsync_providers::google::GoogleClient;
use calsync_providers::ics::{FetchConfig, IcsFetcher};
use calsync_providers::microsoft::MicrosoftClient;
use calsync_providers::security::{TokenCipher, WebhookSigner};
use calsync_providers::{GoogleConfig, MicrosoftConfig};
use calsync_runtime::Settings;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
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
    /// The SSRF-guarded ICS fetcher (its own client: it resolves through the guard).
    pub ics: IcsFetcher,
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

    /// The polling interval of a provider: ICS feeds have their own.
    pub fn poll_interval_of(&self, provider: Provider) -> Duration {
        match provider {
            Provider::Ics => self.ics_poll_interval(),
            Provider::Google | Provider::Microsoft => self.poll_interval(),
        }
    }

    /// When a connection synced at `now` is polled next: its interval ± 10 %, so that
    /// connections created together (an import, a restart) spread over the interval
    /// instead of polling in lockstep.
    pub fn next_poll_at(&self, provider: Provider, now: DateTime<Utc>) -> DateTime<Utc> {
        jittered(now, self.poll_interval_of(provider))
    }
}

pub(crate) fn jittered(now: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let ms = interval.num_milliseconds().max(0);
    let spread = ms / 10;
    let offset = if spread > 0 {
        rand::thread_rng().gen_range(-spread..=spread)
    } else {
        0
    };
    now + Duration::milliseconds(ms + offset)
}

/// The ICS fetcher as `settings.ics` configures it.
pub fn ics_fetcher(settings: &Settings) -> anyhow::Result<IcsFetcher> {
    let total = std::time::Duration::from_secs(settings.ics.timeout_secs.max(1));
    let config = FetchConfig {
        connect_timeout: total.min(std::time::Duration::from_secs(10)),
        total_timeout: total,
        max_bytes: settings.ics.max_bytes,
        allow_hosts: settings.ics.allow_hosts.clone(),
        ..FetchConfig::default()
    };
    IcsFetcher::new(config).map_err(|e| anyhow::anyhow!("ics fetcher: {e}"))
}

fn url(s: &str, key: &str) -> anyhow::Result<Url> {
    Url::parse(s).map_err(|e| anyhow::anyhow!("{key}: {e}"))
}

/// Builds the provider clients that are configured (client id set).
pub fn provider_clients(
    settings: &Settings,
    http: &reqwest::Client,
) -> anyhow::Result<(Option<GoogleClient>, Option<MicrosoftClient>)> {
    let redirect = |p: &str| {
        url(
            &format!(
                "{}/api/integrations/{p}/callback",
                settings.api.public_url.trim_end_matches('/')
            ),
            "api.public_url",
        )
    };
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
