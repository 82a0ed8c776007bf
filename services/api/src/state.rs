//! `AppState`: what every handler shares: the pool, the broker publisher, the secrets
//! and signers, the provider clients (when configured) and the availability settings.

use anyhow::Context;
use calsync_db::DbPool;
use calsync_mq::Publisher;
use calsync_providers::clients::{self, AppEndpoints};
use calsync_providers::google::GoogleClient;
use calsync_providers::microsoft::MicrosoftClient;
use calsync_providers::security::{StateSigner, TokenCipher, WebhookSigner};
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
    pub publisher: Publisher,
    pub auth: Arc<AuthKeys>,
    pub availability: AvailabilitySettings,
    pub ingest_public_url: String,
    pub cipher: Arc<TokenCipher>,
    pub state_signer: Arc<StateSigner>,
    pub webhook_signer: Arc<WebhookSigner>,
    pub google: Option<GoogleClient>,
    pub microsoft: Option<MicrosoftClient>,
    pub max_body_bytes: usize,
}

/// The operator token and the agent-JWT key, kept apart from the rest so that the auth
/// extractors need nothing else.
pub struct AuthKeys {
    pub operator_token: SecretString,
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
            jwt_key: DecodingKey::from_secret(settings.api.jwt_secret.expose_secret().as_bytes()),
            jwt_validation,
        };
        let cipher = TokenCipher::with_previous(
            &settings.security.encryption_key,
            &settings.security.previous_encryption_keys,
        )
        .context("security.encryption_key")?;
        // The state signer has its own HMAC domain, so sharing the webhook secret is safe.
        let state_signer = StateSigner::with_previous(
            settings.security.webhook_secret.clone(),
            settings.security.previous_webhook_secrets.clone(),
        );
        let webhook_signer = WebhookSigner::with_previous(
            settings.security.webhook_secret.clone(),
            settings.security.previous_webhook_secrets.clone(),
        );
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the provider HTTP client")?;
        let public = &settings.api.public_url;
        let (g, m) = (&settings.google, &settings.microsoft);
        let google = settings
            .google_configured()
            .then(|| {
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
        Ok(Self {
            pool,
            publisher,
            auth: Arc::new(auth),
            availability: settings.availability.clone(),
            ingest_public_url: settings.ingest.public_url.trim_end_matches('/').to_owned(),
            cipher: Arc::new(cipher),
            state_signer: Arc::new(state_signer),
            webhook_signer: Arc::new(webhook_signer),
            google,
            microsoft,
            max_body_bytes: settings.api.max_body_bytes,
        })
    }
}
