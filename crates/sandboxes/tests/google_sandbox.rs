//! The Google sandbox over HTTP, as a real client would use it: OAuth, sync, expansion,
//! watch channels and push, strictness, fault injection. Shared helpers live here; the
//! tests are in `google_sandbox/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_sandboxes::google::{GoogleSandbox, GoogleSandboxConfig, GoogleState};
use serde_json::Value;
use std::collections::HashMap;

#[path = "google_sandbox/calendars.rs"]
mod calendars;
#[path = "google_sandbox/oauth.rs"]
mod oauth;
#[path = "google_sandbox/push.rs"]
mod push;
#[path = "google_sandbox/sync.rs"]
mod sync;
#[path = "google_sandbox/writes.rs"]
mod writes;

pub(crate) const USER: &str = "agent@example.com";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/api/integrations/google/callback";
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

pub(crate) struct Env {
    sb: GoogleSandbox,
    http: reqwest::Client,
    st: GoogleState,
}

pub(crate) async fn env_with(cfg: GoogleSandboxConfig) -> Env {
    let sb = GoogleSandbox::start(cfg).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let st = sb.state();
    Env { sb, http, st }
}

pub(crate) async fn env() -> Env {
    env_with(GoogleSandboxConfig::default()).await
}

pub(crate) fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

impl Env {
    pub(crate) async fn consent(&self, extra: &[(&str, &str)]) -> reqwest::Response {
        let cfg = GoogleSandboxConfig::default();
        let mut params = vec![
            ("client_id", cfg.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", SCOPE),
            ("state", "st4te"),
        ];
        params.extend_from_slice(extra);
        self.http
            .get(self.sb.auth_url())
            .query(&params)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn code(&self) -> String {
        self.code_with(&[("access_type", "offline"), ("login_hint", USER)])
            .await
    }

    /// Consents with `extra` parameters and returns the code from the redirect.
    pub(crate) async fn code_with(&self, extra: &[(&str, &str)]) -> String {
        let resp = self.consent(extra).await;
        assert_eq!(resp.status(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let q = query(&location);
        assert_eq!(q["state"], "st4te");
        assert!(location.starts_with(REDIRECT));
        q["code"].clone()
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let cfg = GoogleSandboxConfig::default();
        let mut all = vec![
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
        ];
        all.extend_from_slice(form);
        let resp = self
            .http
            .post(self.sb.token_url())
            .form(&all)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    pub(crate) async fn access_token(&self) -> String {
        let code = self.code().await;
        self.exchange(&code).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Exchanges a code; asserts success and returns the token answer.
    pub(crate) async fn exchange(&self, code: &str) -> Value {
        let (status, body) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub(crate) async fn get(
        &self,
        token: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.sb.api_base()))
            .bearer_auth(token)
            .query(params)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// One of the sandbox's own admin documents (`/_sandbox/…`), as JSON.
    pub(crate) async fn admin(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_sandbox/{path}", self.sb.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn post(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        let url = format!("{}{path}", self.sb.api_base());
        self.http
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

pub(crate) fn timed(summary: &str, start: &str, end: &str) -> Value {
    serde_json::json!({"summary": summary, "start": {"dateTime": start}, "end": {"dateTime": end}})
}

pub(crate) fn reason(body: &Value) -> &str {
    body["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
}

/// Follows every page of a listing; returns the items and the final sync token.
pub(crate) async fn list_all(
    env: &Env,
    token: &str,
    params: &[(&str, &str)],
) -> (Vec<Value>, String, usize) {
    let mut items = Vec::new();
    let mut page_token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut p = params.to_vec();
        if let Some(t) = &page_token {
            p.push(("pageToken", t));
        }
        let (status, body) = env.get(token, "/calendars/primary/events", &p).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["nextPageToken"].as_str() {
            Some(t) => {
                assert!(
                    body.get("nextSyncToken").is_none(),
                    "intermediate page carried a sync token"
                );
                page_token = Some(t.to_owned());
            }
            None => {
                return (
                    items,
                    body["nextSyncToken"].as_str().unwrap().to_owned(),
                    pages,
                )
            }
        }
    }
}
