//! The Microsoft connect flow against the Graph sandbox, with the real webhook-ingest
//! answering Graph's validation handshake.

use crate::helpers::TestApp;
use calsync_testkit::{local_listener, TestEnv};
use calsync_webhook_ingest::IngestServer;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

async fn graph_app(ingest_url: Option<&str>) -> (TestApp, CancellationToken) {
    let env = TestEnv::builder()
        .with_graph_sandbox()
        .build()
        .await
        .unwrap();
    let (listener, ingest_address) = local_listener().unwrap();
    let public = ingest_url.map_or(ingest_address.clone(), str::to_owned);
    let app = TestApp::spawn_in(env, move |s| s.ingest.public_url = public).await;
    let ingest =
        IngestServer::build_with(&app.env.settings, listener, app.env.publisher()).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(ingest.run(stop.clone()));
    (app, stop)
}

async fn connect(app: &TestApp, specialist: uuid::Uuid) -> (u16, Value) {
    let res = app
        .operator_get(&format!(
            "/api/integrations/microsoft/connect?specialistId={specialist}"
        ))
        .await;
    assert_eq!(res.status(), 302);
    let consent = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(consent.contains("offline_access"), "{consent}");
    let res = app.client.get(&consent).send().await.unwrap();
    assert_eq!(
        res.status(),
        302,
        "consent: {}",
        res.text().await.unwrap_or_default()
    );
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    let res = app.client.get(&callback).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn connecting_microsoft_creates_a_validated_subscription_signed_for_the_connection() {
    let (app, stop) = graph_app(None).await;
    let id = app.create_specialist("agent-m", "Europe/London").await;
    let (status, body) = connect(&app, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook"]["status"], "created", "{body}");
    let connection_id: uuid::Uuid = body["connectionId"].as_str().unwrap().parse().unwrap();
    let mut conn = app.pool().get().await.unwrap();
    let c = calsync_db::connections::get(&mut conn, connection_id)
        .await
        .unwrap();
    assert_eq!(
        (c.provider.as_str(), c.external_calendar_id.as_str()),
        ("microsoft", "primary")
    );
    let k = calsync_db::calendars::list(&mut conn, connection_id)
        .await
        .unwrap()
        .remove(0);
    assert!(
        k.is_primary && k.blocking && k.write_to,
        "the primary calendar blocks and receives: {k:?}"
    );
    assert!(k.webhook_subscription_id.is_some() && k.webhook_expires_at.is_some());
    assert!(c.sync_pending);
    let queued = app.env.drain_work_queue().await.unwrap();
    assert_eq!(queued.len(), 1, "the first sync is requested");
    assert_eq!(queued[0].connection_id, connection_id.to_string());
    stop.cancel();
}

#[tokio::test]
async fn a_refused_subscription_is_reported_and_the_connection_kept() {
    // Nothing answers the validation handshake at this address.
    let (app, stop) = graph_app(Some("http://127.0.0.1:9")).await;
    let id = app.create_specialist("agent-n", "UTC").await;
    let (status, body) = connect(&app, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["webhook"]["status"], "failed", "{body}");
    assert!(body["webhook"]["error"].is_string());
    let status: Value = app
        .operator_get("/api/integrations/setup-webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["connections"][0]["state"], "missing");
    assert!(status["connections"][0]["webhookError"].is_string());
    assert_eq!(
        app.env.drain_work_queue().await.unwrap().len(),
        1,
        "the first sync is requested all the same"
    );
    stop.cancel();
}
