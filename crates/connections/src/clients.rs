//! The provider clients a process has: Google and Graph when their OAuth app is
//! configured (client id set). Asking for one that is not is the one
//! `ConnectionError::NotConfigured`, wherever it happens.

use crate::ConnectionError;
use calsync_core::Provider;
use calsync_providers::clients::{google_client, microsoft_client, AppEndpoints};
use calsync_providers::google::GoogleClient;
use calsync_providers::microsoft::MicrosoftClient;
use calsync_providers::{ProviderError, TokenSet};
use calsync_runtime::Settings;
use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone, Default)]
pub struct ProviderClients {
    google: Option<GoogleClient>,
    microsoft: Option<MicrosoftClient>,
}

impl ProviderClients {
    pub fn new(google: Option<GoogleClient>, microsoft: Option<MicrosoftClient>) -> Self {
        Self { google, microsoft }
    }

    /// The clients of the providers whose OAuth app `settings` configures.
    pub fn from_settings(
        settings: &Settings,
        http: reqwest::Client,
    ) -> Result<Self, ProviderError> {
        let public = &settings.api.public_url;
        let google = if settings.google_configured() {
            let g = &settings.google;
            let app = AppEndpoints {
                client_id: &g.client_id,
                client_secret: &g.client_secret,
                base: &g.api_base,
                auth_url: &g.auth_url,
                token_url: &g.token_url,
            };
            Some(google_client(app, public, http.clone())?)
        } else {
            None
        };
        let microsoft = if settings.microsoft_configured() {
            let m = &settings.microsoft;
            let app = AppEndpoints {
                client_id: &m.client_id,
                client_secret: &m.client_secret,
                base: &m.graph_base,
                auth_url: &m.auth_url,
                token_url: &m.token_url,
            };
            Some(microsoft_client(app, public, http)?)
        } else {
            None
        };
        Ok(Self { google, microsoft })
    }

    pub fn google(&self) -> Result<&GoogleClient, ConnectionError> {
        self.google
            .as_ref()
            .ok_or(ConnectionError::NotConfigured(Provider::Google))
    }

    pub fn microsoft(&self) -> Result<&MicrosoftClient, ConnectionError> {
        self.microsoft
            .as_ref()
            .ok_or(ConnectionError::NotConfigured(Provider::Microsoft))
    }

    /// The OAuth app of an OAuth provider; ICS feeds have none.
    pub fn oauth(&self, provider: Provider) -> Result<OAuthApp<'_>, ConnectionError> {
        match provider {
            Provider::Google => self.google().map(OAuthApp::Google),
            Provider::Microsoft => self.microsoft().map(OAuthApp::Microsoft),
            Provider::Ics => Err(ConnectionError::Unsupported {
                provider,
                what: "OAuth",
            }),
        }
    }
}

/// The OAuth calls both providers have, so callers write them once.
#[derive(Debug, Clone, Copy)]
pub enum OAuthApp<'a> {
    Google(&'a GoogleClient),
    Microsoft(&'a MicrosoftClient),
}

impl OAuthApp<'_> {
    pub fn consent_url(&self, state: &str) -> Url {
        match self {
            Self::Google(c) => c.consent_url(state),
            Self::Microsoft(c) => c.consent_url(state),
        }
    }

    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, ProviderError> {
        match self {
            Self::Google(c) => c.exchange_code(code).await,
            Self::Microsoft(c) => c.exchange_code(code).await,
        }
    }

    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ProviderError> {
        match self {
            Self::Google(c) => c.refresh(refresh_token).await,
            Self::Microsoft(c) => c.refresh(refresh_token).await,
        }
    }
}

/// The ICS fetcher as `settings.ics` configures it: what sync-worker fetches feeds with,
/// and what api asks (`IcsFetcher::precheck`) before it connects one.
pub fn ics_fetcher(
    settings: &Settings,
) -> Result<calsync_providers::ics::IcsFetcher, calsync_providers::ics::IcsFetchError> {
    use calsync_providers::ics::{FetchConfig, IcsFetcher};
    let total = std::time::Duration::from_secs(settings.ics.timeout_secs.max(1));
    IcsFetcher::new(FetchConfig {
        connect_timeout: total.min(std::time::Duration::from_secs(10)),
        total_timeout: total,
        max_bytes: settings.ics.max_bytes,
        allow_hosts: settings.ics.allow_hosts.clone(),
        ..FetchConfig::default()
    })
}
