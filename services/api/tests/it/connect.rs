//! The OAuth connect flow against the Google sandbox: consent redirect with a signed
//! state, callback, encrypted tokens, first sync requested, webhook awaited.

use crate::helpers::{error_code, TestApp};
use calsync_providers::security::{StatePayload, StateSigner, WebhookSigner};
use calsync_testkit::TestEnv;
use chrono::{Duration, Utc};
use serde_json::Value;

/// The api over a `TestEnv` with the Google sandbox (`app.env.google()`).
pub async fn sandbox_app(ingest_public_url: &str) -> TestApp {
    let env = TestEnv::builder()
        .with_google_sandbox()
        .build()
        .await
        .unwrap();
    let ingest = ingest_public_url.to_owned();
    TestApp::spawn_in(env, move |s| s.ingest.public_url = ingest).await
}

/// Walks consent → callback as a browser would; returns the callback's status and body.
pub async fn connect_google(app: &TestApp, specialist: uuid::Uuid) -> (u16, Value) {
    let res = app
        .operator_get(&format!(
            "/api/integrations/google/connect?specialistId={specialist}"
        ))
        .await;
    assert_eq!(res.status(), 302);
    let consent = res.headers()["location"].to_str().unwrap().to_owned();
    let res = app.client.get(&consent).send().await.unwrap();
    assert_eq!(
        res.status(),
        302,
        "sandbox consent: {}",
        res.text().await.unwrap_or_default()
    );
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&app.url("/api/integrations/google/callback")),
        "{callback}"
    );
    let res = app.client.get(&callback).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn connecting_google_stores_encrypted_tokens_requests_a_sync_and_opens_a_channel() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-a", "UTC").await;
    let (status, body) = connect_google(&app, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook"]["status"], "created", "{body}");
    assert!(body["webhook"]["expiresAt"].is_string());
    let connection_id: uuid::Uuid = body["connectionId"].as_str().unwrap().parse().unwrap();

    let mut conn = app.pool().get().await.unwrap();
    let c = calsync_db::connections::get(&mut conn, connection_id)
        .await
        .unwrap();
    assert_eq!(
        (c.provider.as_str(), c.external_calendar_id.as_str()),
        ("google", "primary")
    );
    let access = c.access_token_enc.clone().unwrap();
    assert!(
        !String::from_utf8_lossy(&access).contains("ya29"),
        "token stored in clear"
    );
    assert!(c.refresh_token_enc.is_some());
    assert!(c.sync_pending, "the first sync is recorded");
    let k = calsync_db::calendars::list(&mut conn, connection_id)
        .await
        .unwrap()
        .remove(0);
    assert!(
        k.is_primary && k.blocking && k.write_to,
        "the primary calendar blocks and receives: {k:?}"
    );
    assert!(k.webhook_channel_id.is_some());

    let channels = app.env.google().state().channels();
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].address, "http://127.0.0.1:9/webhooks/google");
    let signer = WebhookSigner::new(app.env.settings.security.webhook_secret.clone());
    assert_eq!(
        signer.verify(channels[0].token.as_deref().unwrap()),
        Ok(connection_id)
    );
    assert_eq!(app.env.drain_work_queue().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_webhook_failure_is_recorded_and_does_not_fail_the_connection() {
    // Google refuses plain-http channel addresses that are not loopback.
    let app = sandbox_app("http://calsync.invalid").await;
    let id = app.create_specialist("agent-b", "UTC").await;
    let (status, body) = connect_google(&app, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook"]["status"], "failed");
    assert!(
        body["webhook"]["error"]
            .as_str()
            .unwrap()
            .contains("webhook"),
        "{body}"
    );
    let connection_id: uuid::Uuid = body["connectionId"].as_str().unwrap().parse().unwrap();
    let mut conn = app.pool().get().await.unwrap();
    let c = calsync_db::connections::get(&mut conn, connection_id)
        .await
        .unwrap();
    let k = calsync_db::calendars::list(&mut conn, connection_id)
        .await
        .unwrap()
        .remove(0);
    assert!(
        k.is_primary && k.blocking && k.write_to,
        "the primary calendar blocks and receives: {k:?}"
    );
    assert!(k.webhook_last_error.is_some());
    assert!(c.sync_enabled && !c.needs_reauth);
    let queued = app.env.drain_work_queue().await.unwrap();
    assert_eq!(queued.len(), 1, "the first sync is requested all the same");
    assert_eq!(queued[0].connection_id, connection_id.to_string());
}

#[tokio::test]
async fn a_tampered_expired_or_missing_state_is_refused_at_the_callback() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-c", "UTC").await;
    let signer = StateSigner::new(app.env.settings.security.webhook_secret.clone());
    let expired = signer.sign(&StatePayload::new(
        calsync_core::SpecialistId(id),
        calsync_core::Provider::Google,
        Utc::now() - Duration::minutes(11),
        Duration::minutes(10),
    ));
    let valid = signer.sign(&StatePayload::new(
        calsync_core::SpecialistId(id),
        calsync_core::Provider::Google,
        Utc::now(),
        Duration::minutes(10),
    ));
    let tampered = format!("{}x", valid);
    for state in [expired.as_str(), tampered.as_str(), "garbage"] {
        let res = app
            .get(&format!(
                "/api/integrations/google/callback?code=abc&state={state}"
            ))
            .await;
        assert_eq!(res.status(), 400, "{state}");
        assert_eq!(error_code(res).await, "invalid_state");
    }
    let res = app.get("/api/integrations/google/callback?code=abc").await;
    assert_eq!(res.status(), 400);
    let res = app
        .get(&format!(
            "/api/integrations/microsoft/callback?code=abc&state={valid}"
        ))
        .await;
    assert_eq!(
        res.status(),
        400,
        "a google state is not accepted for microsoft"
    );
    let mut conn = app.pool().get().await.unwrap();
    assert!(calsync_db::connections::list(&mut conn, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn connect_needs_the_operator_or_the_agents_own_token() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-d", "UTC").await;
    app.create_specialist("agent-e", "UTC").await;
    let path = format!("/api/integrations/google/connect?specialistId={id}");
    assert_eq!(app.get(&path).await.status(), 401);
    let own = app.agent_token("agent-d", Duration::hours(1));
    let res = app.agent_get(&path, &own).await;
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("access_type=offline") && location.contains("state="),
        "{location}"
    );
    let other = app.agent_token("agent-e", Duration::hours(1));
    assert_eq!(app.agent_get(&path, &other).await.status(), 403);
    let res = app
        .operator_get(
            "/api/integrations/microsoft/connect?specialistId="
                .to_owned()
                .as_str(),
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .operator_get(&format!(
            "/api/integrations/microsoft/connect?specialistId={id}"
        ))
        .await;
    assert_eq!(res.status(), 503, "microsoft is not configured here");
    assert_eq!(
        app.operator_get(&format!(
            "/api/integrations/yahoo/connect?specialistId={id}"
        ))
        .await
        .status(),
        404
    );
}
