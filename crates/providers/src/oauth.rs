//! OAuth 2.0 for both providers: the configuration of each app, consent URLs, and the
//! token endpoint calls (authorization code and refresh), form-encoded.

use crate::error::{Api, ProviderError};
use crate::http::HttpClient;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Read and write events: needed to see events and to write booking mirrors.
pub const GOOGLE_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";
/// `offline_access` is what makes Microsoft issue a refresh token.
pub const MICROSOFT_SCOPES: &str = "offline_access Calendars.ReadWrite User.Read";

/// Google OAuth app and endpoints. Every URL is whole and taken from configuration
/// (`api_base` includes `/calendar/v3`), so a sandbox stands in by configuration alone.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub api_base: Url,
    pub auth_url: Url,
    pub token_url: Url,
    pub redirect_uri: Url,
}

/// Microsoft identity platform app and Graph endpoints (`graph_base` includes `/v1.0`).
#[derive(Debug, Clone)]
pub struct MicrosoftConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub graph_base: Url,
    pub auth_url: Url,
    pub token_url: Url,
    pub redirect_uri: Url,
}

/// Tokens from a token endpoint. `refresh_token` is `None` when the provider did not send
/// one: Google on refresh (keep the stored one); Microsoft rotates it (store the new one).
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    pub scope: Option<String>,
}

impl TokenSet {
    /// Whether the access token expires within `margin` of `now`: refresh before use.
    pub fn expires_within(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        self.expires_at <= now + margin
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    /// Seconds; absent would be unusual, and is read as one hour (Google's usual life).
    expires_in: Option<i64>,
    scope: Option<String>,
}

const DEFAULT_EXPIRES_IN_SECS: i64 = 3600;

impl TokenResponse {
    fn into_token_set(self, now: DateTime<Utc>) -> TokenSet {
        TokenSet {
            access_token: SecretString::from(self.access_token),
            refresh_token: self
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            expires_at: now + Duration::seconds(self.expires_in.unwrap_or(DEFAULT_EXPIRES_IN_SECS)),
            scope: self.scope,
        }
    }
}

/// Google consent page: offline access (refresh token), consent forced so a reconnect
/// gets a refresh token again, earlier grants included.
pub fn google_consent_url(cfg: &GoogleConfig, state: &str) -> Url {
    let mut url = cfg.auth_url.clone();
    url.query_pairs_mut()
        .append_pair("client_id", &cfg.client_id)
        .append_pair("redirect_uri", cfg.redirect_uri.as_str())
        .append_pair("response_type", "code")
        .append_pair("scope", GOOGLE_SCOPE)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("include_granted_scopes", "true")
        .append_pair("state", state);
    url
}

pub fn microsoft_consent_url(cfg: &MicrosoftConfig, state: &str) -> Url {
    let mut url = cfg.auth_url.clone();
    url.query_pairs_mut()
        .append_pair("client_id", &cfg.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", cfg.redirect_uri.as_str())
        .append_pair("response_mode", "query")
        .append_pair("scope", MICROSOFT_SCOPES)
        .append_pair("state", state);
    url
}

/// POSTs `form` to a token endpoint. 400 `invalid_grant` → `ProviderError::InvalidGrant`.
/// A code exchange is not retried after an unknown outcome: a code is single-use, and a
/// second try would only be refused (the agent connects again instead).
pub(crate) async fn token_request(
    http: &HttpClient,
    token_url: &Url,
    form: &[(&str, &str)],
    what: &'static str,
) -> Result<TokenSet, ProviderError> {
    let now = Utc::now();
    let build = |c: &reqwest::Client| {
        c.post(token_url.clone())
            .header("Accept", "application/json")
            .form(form)
    };
    let single_use = form.contains(&("grant_type", "authorization_code"));
    let resp: TokenResponse = if single_use {
        http.json_once(Api::OAuth, what, build).await?
    } else {
        http.json(Api::OAuth, what, build).await?
    };
    Ok(resp.into_token_set(now))
}

pub(crate) async fn google_exchange_code(
    http: &HttpClient,
    cfg: &GoogleConfig,
    code: &str,
) -> Result<TokenSet, ProviderError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose_secret()),
        ("redirect_uri", cfg.redirect_uri.as_str()),
    ];
    token_request(http, &cfg.token_url, &form, "google.token.code").await
}

pub(crate) async fn google_refresh(
    http: &HttpClient,
    cfg: &GoogleConfig,
    refresh_token: &SecretString,
) -> Result<TokenSet, ProviderError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose_secret()),
    ];
    token_request(http, &cfg.token_url, &form, "google.token.refresh").await
}

pub(crate) async fn microsoft_exchange_code(
    http: &HttpClient,
    cfg: &MicrosoftConfig,
    code: &str,
) -> Result<TokenSet, ProviderError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose_secret()),
        ("redirect_uri", cfg.redirect_uri.as_str()),
        ("scope", MICROSOFT_SCOPES),
    ];
    token_request(http, &cfg.token_url, &form, "microsoft.token.code").await
}

pub(crate) async fn microsoft_refresh(
    http: &HttpClient,
    cfg: &MicrosoftConfig,
    refresh_token: &SecretString,
) -> Result<TokenSet, ProviderError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose_secret()),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose_secret()),
        ("scope", MICROSOFT_SCOPES),
    ];
    token_request(http, &cfg.token_url, &form, "microsoft.token.refresh").await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn google_cfg() -> GoogleConfig {
        GoogleConfig {
            client_id: "cid".into(),
            client_secret: SecretString::from("sec"),
            api_base: Url::parse("http://127.0.0.1:1/calendar/v3").unwrap(),
            auth_url: Url::parse("http://127.0.0.1:1/o/oauth2/v2/auth").unwrap(),
            token_url: Url::parse("http://127.0.0.1:1/token").unwrap(),
            redirect_uri: Url::parse("http://127.0.0.1:2/api/integrations/google/callback")
                .unwrap(),
        }
    }

    #[test]
    fn the_google_consent_url_asks_for_offline_access_and_forced_consent() {
        let url = google_consent_url(&google_cfg(), "st.ate");
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/o/oauth2/v2/auth");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(
            q["redirect_uri"],
            "http://127.0.0.1:2/api/integrations/google/callback"
        );
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], GOOGLE_SCOPE);
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["include_granted_scopes"], "true");
        assert_eq!(q["state"], "st.ate");
    }

    #[test]
    fn the_microsoft_consent_url_asks_for_offline_access_scope() {
        let cfg = MicrosoftConfig {
            client_id: "mid".into(),
            client_secret: SecretString::from("sec"),
            graph_base: Url::parse("http://127.0.0.1:1/v1.0").unwrap(),
            auth_url: Url::parse("http://127.0.0.1:1/common/oauth2/v2.0/authorize").unwrap(),
            token_url: Url::parse("http://127.0.0.1:1/common/oauth2/v2.0/token").unwrap(),
            redirect_uri: Url::parse("http://127.0.0.1:2/cb").unwrap(),
        };
        let q: HashMap<_, _> = microsoft_consent_url(&cfg, "s")
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(q["scope"], "offline_access Calendars.ReadWrite User.Read");
        assert_eq!(q["response_mode"], "query");
        assert_eq!(q["response_type"], "code");
    }

    #[test]
    fn a_refresh_answer_without_refresh_token_keeps_none_so_the_caller_keeps_the_old() {
        let now = Utc::now();
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":3599,"token_type":"Bearer"}"#)
                .unwrap();
        let t = r.into_token_set(now);
        assert!(t.refresh_token.is_none());
        assert_eq!(t.expires_at, now + Duration::seconds(3599));
        assert!(t.expires_within(now, Duration::hours(1)));
    }
}
