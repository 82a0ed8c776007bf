//! Everything a sync needs, built once per worker process and shared by its tasks.

use crate::clock::Clock;
use crate::metrics::WorkerMetrics;
use calsync_core::Provider;
use calsync_db::DbPool;
use calsync_mq::Publisher;
use calsync_providers::clients::{self, AppEndpoints};
use calsync_providers::google::GoogleClient;
use calsync_providers::ics::{FetchConfig, IcsFetcher};
use calsync_providers::microsoft::MicrosoftClient;
use calsync_providers::security::{TokenCipher, WebhookSigner};
use calsync_runtime::Settings;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use std::sync::Arc;

pub struct WorkerContext {
    pub pool: DbPool,
    pub publisher: Publisher,
    pub clock: Arc<dyn Clock>,
    pub cipher: TokenCipher,
    pub signer: WebhookSigner,
    pub google: Option<GoogleClient>,
    pub microsoft: Option<MicrosoftClient>,
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

/// Builds the provider clients that are configured (client id set).
pub fn provider_clients(
    settings: &Settings,
    http: &reqwest::Client,
) -> anyhow::Result<(Option<GoogleClient>, Option<MicrosoftClient>)> {
    let public = &settings.api.public_url;
    let google = settings
        .google_configured()
        .then(|| {
            let g = &settings.google;
            let app = AppEndpoints {
                client_id: &g.client_id,
                client_secret: &g.client_secret,
                base: &g.api_base,
                auth_url: &g.auth_url,
                token_url: &g.token_url,
            };
            clients::google_client(app, public, http.clone())
        })
        .transpose()?;
    let microsoft = settings
        .microsoft_configured()
        .then(|| {
            let m = &settings.microsoft;
            let app = AppEndpoints {
                client_id: &m.client_id,
                client_secret: &m.client_secret,
                base: &m.graph_base,
                auth_url: &m.auth_url,
                token_url: &m.token_url,
            };
            clients::microsoft_client(app, public, http.clone())
        })
        .transpose()?;
    Ok((google, microsoft))
}
