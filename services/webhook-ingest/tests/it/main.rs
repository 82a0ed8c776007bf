//! webhook-ingest against a real RabbitMQ (own queue prefix per test): what is queued,
//! what is refused, and that broker trouble answers 503 instead of losing a push.

use calsync_mq::Publisher;
use calsync_proto::v1::ChangeNotice;
use calsync_providers::security::WebhookSigner;
use calsync_testkit::{ChaosProxy, TestEnv};
use secrecy::SecretString;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Ingest {
    base: String,
    shutdown: CancellationToken,
    signer: WebhookSigner,
    http: reqwest::Client,
    env: TestEnv,
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A broker prefix and secrets; ingest owns no tables, so no database.
async fn env() -> TestEnv {
    TestEnv::builder()
        .without_database()
        .build()
        .await
        .unwrap_or_else(|e| panic!("test env: {e:#}"))
}

async fn start_with(mut env: TestEnv, amqp_url: Option<String>) -> Ingest {
    env.settings.ingest.max_body_bytes = 64 * 1024;
    let (listener, _) = calsync_testkit::local_listener().unwrap_or_else(|e| panic!("{e}"));
    let publisher = Publisher::new(
        amqp_url.unwrap_or_else(|| env.broker.url.clone()),
        env.broker.topology.clone(),
    );
    let server =
        calsync_webhook_ingest::IngestServer::build_with(&env.settings, listener, publisher)
            .unwrap_or_else(|e| panic!("build: {e}"));
    let base = format!("http://127.0.0.1:{}", server.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(server.run(shutdown.clone()));
    Ingest {
        base,
        shutdown,
        signer: WebhookSigner::new(env.settings.security.webhook_secret.clone()),
        http: reqwest::Client::new(),
        env,
    }
}

async fn start() -> Ingest {
    start_with(env().await, None).await
}

impl Ingest {
    async fn google(&self, token: &str, state: &str, number: u64) -> reqwest::Response {
        self.http
            .post(format!("{}/webhooks/google", self.base))
            .header("X-Goog-Channel-ID", "chan-1")
            .header("X-Goog-Channel-Token", token)
            .header("X-Goog-Resource-ID", "res-1")
            .header("X-Goog-Resource-State", state)
            .header("X-Goog-Message-Number", number.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn depth(&self) -> u32 {
        self.env.work_queue_depth().await.unwrap_or(u32::MAX)
    }

    /// Takes up to `n` notices off the work queue (waits at most 5 s).
    async fn take(&self, n: usize) -> Vec<ChangeNotice> {
        self.env
            .take_notices(n, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[tokio::test]
async fn a_valid_google_push_is_queued_with_its_channel_and_message_number() {
    let app = start().await;
    let id = Uuid::new_v4();
    let resp = app.google(&app.signer.sign(id), "exists", 7).await;
    assert_eq!(resp.status(), 200);
    let notices = app.take(1).await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].connection_id, id.to_string());
    assert_eq!(notices[0].channel_id, "chan-1");
    assert_eq!(notices[0].message_number, 7);
    assert_eq!(notices[0].resource_state, "exists");
}

#[tokio::test]
async fn the_sync_handshake_of_a_new_channel_is_acknowledged_without_queueing() {
    let app = start().await;
    let resp = app
        .google(&app.signer.sign(Uuid::new_v4()), "sync", 1)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.depth().await, 0);
}

#[tokio::test]
async fn a_forged_or_missing_channel_token_is_refused_and_nothing_is_queued() {
    let app = start().await;
    let other = WebhookSigner::new(SecretString::from("someone-else"));
    let forged = app.google(&other.sign(Uuid::new_v4()), "exists", 2).await;
    assert_eq!(forged.status(), 401);
    let body: serde_json::Value = forged.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "invalid_token");
    let garbage = app.google("not-a-token", "exists", 2).await;
    assert_eq!(garbage.status(), 401);
    let missing = app
        .http
        .post(format!("{}/webhooks/google", app.base))
        .header("X-Goog-Channel-ID", "c")
        .header("X-Goog-Resource-State", "exists")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(missing.status().is_client_error());
    assert_eq!(app.depth().await, 0);
}

#[tokio::test]
async fn graph_validation_handshake_echoes_the_token_as_plain_text() {
    let app = start().await;
    for path in ["/webhooks/microsoft", "/webhooks/microsoft/lifecycle"] {
        let resp = app
            .http
            .post(format!("{}{path}", app.base))
            .query(&[("validationToken", "Validation: Token <&> 42")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 200);
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert_eq!(
            resp.text().await.unwrap_or_default(),
            "Validation: Token <&> 42"
        );
    }
    assert_eq!(app.depth().await, 0);
}

fn graph_item(client_state: &str, sub: &str) -> serde_json::Value {
    serde_json::json!({
        "subscriptionId": sub, "subscriptionExpirationDateTime": "2026-12-01T00:00:00Z",
        "changeType": "created", "resource": "Users/u/Events/e1",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "e1"},
        "clientState": client_state, "tenantId": "t"
    })
}

#[tokio::test]
async fn a_graph_batch_is_coalesced_per_connection_and_answered_202() {
    let app = start().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let body = serde_json::json!({"value": [
        graph_item(&app.signer.sign(a), "s1"), graph_item(&app.signer.sign(a), "s1"), graph_item(&app.signer.sign(b), "s2")
    ]});
    let resp = app
        .http
        .post(format!("{}/webhooks/microsoft", app.base))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 202);
    let mut ids: Vec<String> = app
        .take(3)
        .await
        .into_iter()
        .map(|n| n.connection_id)
        .collect();
    ids.sort();
    let mut want = vec![a.to_string(), b.to_string()];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn concurrent_pushes_for_many_connections_share_messages_and_each_is_queued() {
    let app = start().await;
    let ids: Vec<Uuid> = (0..200).map(|_| Uuid::new_v4()).collect();
    let sends: Vec<_> = ids
        .iter()
        .map(|id| {
            let (http, base, token) = (app.http.clone(), app.base.clone(), app.signer.sign(*id));
            tokio::spawn(async move {
                http.post(format!("{base}/webhooks/google"))
                    .header("X-Goog-Channel-ID", "chan-1")
                    .header("X-Goog-Channel-Token", token)
                    .header("X-Goog-Resource-ID", "res-1")
                    .header("X-Goog-Resource-State", "exists")
                    .header("X-Goog-Message-Number", "2")
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for s in sends {
        assert_eq!(
            s.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}")),
            200,
            "answered after its confirm"
        );
    }
    let messages = app.depth().await;
    assert!(
        messages < 200,
        "pushes waiting behind a confirm share a message ({messages} messages)"
    );
    let mut queued: Vec<String> = app
        .take(200)
        .await
        .into_iter()
        .map(|n| n.connection_id)
        .collect();
    queued.sort();
    let mut want: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    want.sort();
    assert_eq!(queued, want, "every push's notice is in the queue, once");
}

#[tokio::test]
async fn a_graph_batch_with_one_forged_item_queues_nothing() {
    let app = start().await;
    let body = serde_json::json!({"value": [graph_item(&app.signer.sign(Uuid::new_v4()), "s1"), graph_item("v1.forged.tag", "s2")]});
    let resp = app
        .http
        .post(format!("{}/webhooks/microsoft", app.base))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 401);
    assert_eq!(app.depth().await, 0);
}

#[tokio::test]
async fn a_malformed_graph_body_is_a_400_in_the_error_shape() {
    let app = start().await;
    let resp = app
        .http
        .post(format!("{}/webhooks/microsoft", app.base))
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "bad_body");
}

#[tokio::test]
async fn a_missed_lifecycle_event_asks_for_a_full_resync() {
    let app = start().await;
    let id = Uuid::new_v4();
    let body = serde_json::json!({"value": [{"lifecycleEvent": "missed", "subscriptionId": "s1", "clientState": app.signer.sign(id), "tenantId": "t"}]});
    let resp = app
        .http
        .post(format!("{}/webhooks/microsoft/lifecycle", app.base))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 202);
    let n = app.take(1).await;
    assert_eq!(n.len(), 1);
    assert!(n[0].full_resync);
    assert_eq!(n[0].resource_state, "missed");
}

#[tokio::test]
async fn broker_down_answers_503_so_the_provider_retries() {
    let target = "127.0.0.1:5672".parse().unwrap_or_else(|e| panic!("{e}"));
    let proxy = ChaosProxy::start(target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let env = env().await;
    let url = env
        .broker
        .url
        .replace("127.0.0.1:5672", &proxy.addr().to_string());
    let app = start_with(env, Some(url)).await;
    let token = app.signer.sign(Uuid::new_v4());
    assert_eq!(app.google(&token, "exists", 1).await.status(), 200);
    proxy.break_all();
    assert_eq!(app.google(&token, "exists", 2).await.status(), 503);
    let ready = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status(), 503);
    proxy.restore();
    assert_eq!(app.google(&token, "exists", 3).await.status(), 200);
    let numbers: Vec<u64> = app
        .take(3)
        .await
        .into_iter()
        .map(|n| n.message_number)
        .collect();
    assert_eq!(
        numbers,
        vec![1, 3],
        "the refused push was not queued; the others were"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let app = start().await;
    let big = "x".repeat(128 * 1024);
    let resp = app
        .http
        .post(format!("{}/webhooks/microsoft", app.base))
        .body(big)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn a_hanging_broker_gets_graph_a_503_within_its_three_second_budget() {
    let target = "127.0.0.1:5672".parse().unwrap_or_else(|e| panic!("{e}"));
    let proxy = ChaosProxy::start(target)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let env = env().await;
    let url = env
        .broker
        .url
        .replace("127.0.0.1:5672", &proxy.addr().to_string());
    proxy.stall();
    let app = start_with(env, Some(url)).await;
    let body = serde_json::json!({"value": [graph_item(&app.signer.sign(Uuid::new_v4()), "s1")]});
    let started = std::time::Instant::now();
    let resp = app
        .http
        .post(format!("{}/webhooks/microsoft", app.base))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    assert_eq!(resp.status(), 503, "an unconfirmed publish is never a 2xx");
    assert!(
        took < std::time::Duration::from_secs(3),
        "answered after {took:?}, past Graph's budget"
    );
    proxy.restore();
}
