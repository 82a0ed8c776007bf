//! `TestApp`: the api on an ephemeral port over a `TestEnv` (its own database, queue
//! prefix and secrets), plus typed helpers to arrange specialists, connections, events
//! and agent tokens.
#![allow(dead_code)]

use calsync_api::cache::AvailabilityCache;
use calsync_api::ApiServer;
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::connections::{self, NewConnection};
use calsync_db::{events, DbPool};
use calsync_runtime::Settings;
use calsync_testkit::{local_listener, TestEnv};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The marketplace's booking credential in every test app.
pub const MARKETPLACE_TOKEN: &str = "marketplace-test-token";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    /// Its `settings` are the ones the api was built with.
    pub env: TestEnv,
    /// The api's availability cache.
    pub cache: Arc<AvailabilityCache>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let env = TestEnv::new()
            .await
            .map_err(|e| format!("{e:#}"))
            .expect("test env");
        Self::spawn_in(env, adjust).await
    }

    /// The api over `env` (e.g. one with sandboxes), after `adjust`ing its settings.
    pub async fn spawn_in(mut env: TestEnv, adjust: impl FnOnce(&mut Settings)) -> Self {
        let (listener, address) = local_listener().expect("bind");
        env.settings.api.public_url = address.clone();
        env.settings.api.marketplace_token = MARKETPLACE_TOKEN.to_owned().into();
        adjust(&mut env.settings);
        let server =
            ApiServer::build_with(&env.settings, listener, env.pool().clone(), env.publisher())
                .expect("api builds");
        let cache = server.availability_cache();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run(shutdown.clone()));
        Self {
            address,
            client: reqwest::Client::builder()
                // A browser: the OAuth state is bound to the cookie the connect sets.
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            shutdown,
            env,
            cache,
        }
    }

    /// Returns once the api has seen every change committed before the call: a
    /// notification sent now arrives after theirs (PostgreSQL delivers them in commit
    /// order). Tests that write to the database directly call it before asking the api.
    pub async fn settle(&self) {
        let mut seen = self.cache.subscribe();
        let barrier = Uuid::new_v4();
        self.sql_only(&format!("NOTIFY calsync_availability, '{barrier}'"))
            .await;
        let wait = async {
            // Not listening: the api reads the database anyway.
            while self.cache.is_live() {
                match tokio::time::timeout(std::time::Duration::from_millis(100), seen.recv()).await
                {
                    Ok(Ok(id)) if id == barrier => return,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                    _ => {}
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .expect("the api sees the change");
    }

    pub fn settings(&self) -> &Settings {
        &self.env.settings
    }

    pub fn operator_token(&self) -> &str {
        &self.env.secrets.operator_token
    }

    /// An agent token for `sub`, expiring `valid_for` from now (negative: already expired).
    pub fn agent_token(&self, sub: &str, valid_for: Duration) -> String {
        signed_token(sub, valid_for, &self.env.secrets.jwt_secret)
    }

    pub fn pool(&self) -> &DbPool {
        self.env.pool()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn operator_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(self.operator_token())
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn marketplace_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(MARKETPLACE_TOKEN)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn operator_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(self.operator_token())
            .send()
            .await
            .expect("request")
    }

    pub async fn agent_get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// A specialist working Monday to Friday, 09:00–17:00 in `tz`.
    pub async fn create_specialist(&self, user_id: &str, tz: &str) -> Uuid {
        let hours: Vec<Value> = (1..=5)
            .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"}))
            .collect();
        let res = self
            .operator_post(
                "/api/specialists",
                &json!({"userId": user_id, "displayName": format!("Agent {user_id}"),
                        "timeZone": tz, "workingHours": hours}),
            )
            .await;
        assert_eq!(res.status(), 200, "creating a specialist");
        let body: Value = res.json().await.expect("json");
        let id = body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        // The creation's own notification would otherwise land during a test's first
        // read and keep that read out of the cache.
        self.settle().await;
        id
    }

    pub async fn connect_calendar(&self, specialist_id: Uuid, provider: &str) -> Uuid {
        let mut conn = self.pool().get().await.expect("conn");
        let id = connections::upsert(
            &mut conn,
            &NewConnection {
                specialist_id,
                provider: provider.parse().expect("provider"),
                external_calendar_id: format!("{provider}-cal"),
                account_email: None,
                access_token_enc: None,
                refresh_token_enc: None,
                token_expires_at: None,
            },
        )
        .await
        .expect("connection")
        .id;
        self.settle().await;
        id
    }

    pub async fn add_event(
        &self,
        connection_id: Uuid,
        specialist_id: Uuid,
        provider_event_id: &str,
        title: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        let mut conn = self.pool().get().await.expect("conn");
        let e = ExternalEvent {
            provider_event_id: provider_event_id.into(),
            ical_uid: Some(format!("{provider_event_id}@example.com")),
            starts_at: start,
            ends_at: end,
            all_day: false,
            status: EventStatus::Confirmed,
            blocks: true,
            is_soradin_created: false,
            appointment_id: None,
            title: Some(title.into()),
            provider_updated_at: None,
        };
        events::upsert(&mut conn, connection_id, specialist_id, &[e])
            .await
            .expect("event");
        drop(conn);
        self.settle().await;
    }

    /// Runs `statement` on the database, then waits until the api has seen its effect.
    pub async fn sql(&self, statement: &str) {
        self.sql_only(statement).await;
        self.settle().await;
    }

    async fn sql_only(&self, statement: &str) {
        let mut conn = self.pool().get().await.expect("conn");
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .expect("sql");
    }

    pub async fn book(
        &self,
        specialist_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/api/appointments"))
            .bearer_auth(MARKETPLACE_TOKEN)
            .json(
                &json!({"specialistId": specialist_id, "start": start.to_rfc3339(),
                    "end": end.to_rfc3339(), "customer": {"name": "Ada Lovelace"}}),
            )
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn signed_token(sub: &str, valid_for: Duration, secret: &str) -> String {
    let exp = (Utc::now() + valid_for).timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token")
}

/// Midnight UTC of a Monday at least a week ahead, so no slot is in the past.
pub fn next_monday() -> DateTime<Utc> {
    let d = (Utc::now() + Duration::days(7)).date_naive();
    let monday = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let monday = monday + Duration::days(7);
    Utc.from_utc_datetime(&monday.and_time(NaiveTime::MIN))
}

pub fn at(day: DateTime<Utc>, hour: i64, minute: i64) -> DateTime<Utc> {
    day + Duration::hours(hour) + Duration::minutes(minute)
}

pub fn q(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.expect("error body is JSON");
    assert!(body["error"]["message"].is_string(), "error shape: {body}");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
