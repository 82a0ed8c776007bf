//! Building the provider clients from configured endpoint strings, shared by api and
//! sync-worker. Endpoints are whole URLs (a faithful fake can stand in); the OAuth
//! redirect URI is derived from the api's public URL as ARCHITECTURE.md says.

use crate::google::GoogleClient;
use crate::microsoft::MicrosoftClient;
use crate::{GoogleConfig, MicrosoftConfig, ProviderError};
use secrecy::SecretString;
use url::Url;

/// One configured OAuth app: its id and secret and its three endpoints
/// (`base` is Google's `api_base` or Graph's `graph_base`).
#[derive(Debug, Clone, Copy)]
pub struct AppEndpoints<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    pub base: &'a str,
    pub auth_url: &'a str,
    pub token_url: &'a str,
}

fn parse(key: &str, value: &str) -> Result<Url, ProviderError> {
    Url::parse(value).map_err(|e| ProviderError::InvalidUrl(format!("{key} {value:?}: {e}")))
}

fn redirect(api_public_url: &str, provider: &str) -> Result<Url, ProviderError> {
    let base = api_public_url.trim_end_matches('/');
    parse(
        "api.public_url",
        &format!("{base}/api/integrations/{provider}/callback"),
    )
}

pub fn google_client(
    app: AppEndpoints<'_>,
    api_public_url: &str,
    http: reqwest::Client,
) -> Result<GoogleClient, ProviderError> {
    let cfg = GoogleConfig {
        client_id: app.client_id.to_owned(),
        client_secret: app.client_secret.clone(),
        api_base: parse("google.api_base", app.base)?,
        auth_url: parse("google.auth_url", app.auth_url)?,
        token_url: parse("google.token_url", app.token_url)?,
        redirect_uri: redirect(api_public_url, "google")?,
    };
    Ok(GoogleClient::new(cfg, http))
}

pub fn microsoft_client(
    app: AppEndpoints<'_>,
    api_public_url: &str,
    http: reqwest::Client,
) -> Result<MicrosoftClient, ProviderError> {
    let cfg = MicrosoftConfig {
        client_id: app.client_id.to_owned(),
        client_secret: app.client_secret.clone(),
        graph_base: parse("microsoft.graph_base", app.base)?,
        auth_url: parse("microsoft.auth_url", app.auth_url)?,
        token_url: parse("microsoft.token_url", app.token_url)?,
        redirect_uri: redirect(api_public_url, "microsoft")?,
    };
    Ok(MicrosoftClient::new(cfg, http))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_uri_is_derived_from_the_api_public_url() {
        let secret = SecretString::from("s");
        let app = AppEndpoints {
            client_id: "id",
            client_secret: &secret,
            base: "http://127.0.0.1:9/calendar/v3",
            auth_url: "http://127.0.0.1:9/auth",
            token_url: "http://127.0.0.1:9/token",
        };
        let g = google_client(app, "https://api.example.com/", reqwest::Client::new());
        let uri = g
            .map(|c| c.config().redirect_uri.to_string())
            .map_err(|e| e.to_string());
        assert_eq!(
            uri.as_deref(),
            Ok("https://api.example.com/api/integrations/google/callback")
        );
        let bad = AppEndpoints {
            base: "not a url",
            ..app
        };
        assert!(google_client(bad, "https://api.example.com", reqwest::Client::new()).is_err());
    }
}
