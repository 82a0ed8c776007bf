//! `AppState`: what every handler shares: the pool, the connection logic (provider
//! clients, secrets, broker publisher), the auth keys, the availability settings, the
//! ICS fetcher's pre-check, the rate limiter and the availability cache.

use crate::cache::AvailabilityCache;
use crate::limit::RateLimiter;
use anyhow::Context;
use calsync_connections::{Connections, SystemClock};
use calsync_db::DbPool;
use calsync_mq::Publisher;
use calsync_providers::ics::IcsFetcher;
use calsync_providers::security::StateSigner;
use calsync_runtime::settings::AvailabilitySettings;
use calsync_runtime::Settings;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Outbound provider calls (token exchange, watch) never hold a request longer than this.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(20);
/// Tolerated clock skew when checking an agent token's `exp`.
const JWT_LEEWAY_SECS: u64 = 30;

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    /// Connection logic shared with sync-worker and the CLI: provider clients, tokens
    /// under the lease, webhooks, sync requests.
    pub conns: Arc<Connections>,
    pub auth: Arc<AuthKeys>,
    pub availability: AvailabilitySettings,
    pub state_signer: Arc<StateSigner>,
    pub max_body_bytes: usize,
    /// Cookies carry `Secure` when the api is reached over https.
    pub secure_cookies: bool,
    /// Asked before an ICS feed is connected: would it ever be fetched?
    pub ics: IcsFetcher,
    /// Per-address limit of the public endpoints; `None`: unlimited.
    pub limiter: Option<Arc<RateLimiter>>,
    /// What availability is computed from, kept true by LISTEN/NOTIFY (`crate::cache`).
    pub cache: Arc<AvailabilityCache>,
}

/// The operator and marketplace tokens and the agent-JWT key, kept apart from the rest so that the auth
/// extractors need nothing else.
pub struct AuthKeys {
    pub operator_token: SecretString,
    pub marketplace_token: SecretString,
    pub jwt_key: DecodingKey,
    pub jwt_validation: Validation,
}

impl AppState {
    pub fn new(settings: &Settings, pool: DbPool, publisher: Publisher) -> anyhow::Result<Self> {
        let mut jwt_validation = Validation::new(Algorithm::HS256);
        jwt_validation.leeway = JWT_LEEWAY_SECS;
        jwt_validation.set_required_spec_claims(&["exp", "sub"]);
        let auth = AuthKeys {
            operator_token: settings.api.operator_token.clone(),
            marketplace_token: settings.api.marketplace_token.clone(),
            jwt_key: DecodingKey::from_secret(settings.api.jwt_secret.expose_secret().as_bytes()),
            jwt_validation,
        };
        // The state signer has its own HMAC domain, so sharing the webhook secret is safe.
        let state_signer = StateSigner::with_previous(
            settings.security.webhook_secret.clone(),
            settings.security.previous_webhook_secrets.clone(),
        );
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the provider HTTP client")?;
        let conns = Connections::from_settings(
            settings,
            pool.clone(),
            publisher,
            http,
            Arc::new(SystemClock),
            calsync_connections::owner_name("api"),
        )
        .context("connection settings")?;
        let ics = calsync_connections::ics_fetcher(settings).context("the ICS fetcher")?;
        let api = &settings.api;
        let limiter = RateLimiter::new(
            api.rate_limit_per_minute,
            api.rate_limit_burst,
            &api.trusted_proxies,
        )
        .map_err(anyhow::Error::msg)?
        .map(Arc::new);
        if api.marketplace_token.expose_secret().is_empty() {
            tracing::warn!("api.marketplace_token is not set: booking and cancelling answer 401");
        }
        Ok(Self {
            pool,
            conns: Arc::new(conns),
            auth: Arc::new(auth),
            availability: settings.availability.clone(),
            state_signer: Arc::new(state_signer),
            max_body_bytes: settings.api.max_body_bytes,
            secure_cookies: settings.api.public_url.starts_with("https://"),
            ics,
            limiter,
            cache: Arc::new(AvailabilityCache::new(
                settings.availability.cache_specialists,
            )),
        })
    }
}
