//! Operator endpoints: ICS connect, webhook setup and status, manual sync.

use crate::connect::{connect_google, sandbox_app};
use crate::helpers::{error_code, TestApp};
use calsync_sandboxes::google::Fault;
use chrono::Duration;
use serde_json::{json, Value};

#[tokio::test]
async fn an_ics_feed_is_connected_by_its_agent_and_its_first_sync_requested() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-a", "UTC").await;
    let body = json!({"specialistId": id, "url": "webcal://calendar.example.com/agent.ics"});
    assert_eq!(
        app.post_json("/api/integrations/ics", &body).await.status(),
        401
    );
    let res = app
        .client
        .post(app.url("/api/integrations/ics"))
        .bearer_auth(app.agent_token("agent-a", Duration::hours(1)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["connectionId"].is_string());
    assert_eq!(app.env.drain_work_queue().await.unwrap().len(), 1);
    for bad in [
        "ftp://x.example/a.ics",
        "https://u:p@x.example/a.ics",
        "nope",
    ] {
        let res = app
            .operator_post(
                "/api/integrations/ics",
                &json!({"specialistId": id, "url": bad}),
            )
            .await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(error_code(res).await, "invalid_url");
    }
}

#[tokio::test]
async fn operator_endpoints_refuse_a_missing_or_wrong_token_and_do_nothing() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-b", "UTC").await;
    let conn_id = app.connect_calendar(id, "ics").await;
    for (method, path) in [
        ("POST", "/api/integrations/sync"),
        ("GET", "/api/integrations/sync"),
        ("POST", "/api/integrations/setup-webhooks?force=true"),
        ("GET", "/api/integrations/setup-webhooks"),
    ] {
        for token in [None, Some("wrong-token")] {
            let mut req = app.client.request(method.parse().unwrap(), app.url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} {token:?}");
        }
    }
    let agent = app.agent_token("agent-b", Duration::hours(1));
    assert_eq!(
        app.agent_get("/api/integrations/sync", &agent)
            .await
            .status(),
        401
    );
    let mut conn = app.pool().get().await.unwrap();
    let c = calsync_db::connections::get(&mut conn, conn_id)
        .await
        .unwrap();
    assert!(!c.sync_pending, "nothing was enqueued");
    assert_eq!(app.env.drain_work_queue().await.unwrap().len(), 0);
}

#[tokio::test]
async fn sync_enqueues_every_enabled_connection_and_counts_webhooks_to_renew() {
    let app = TestApp::spawn().await;
    let a = app.create_specialist("agent-c", "UTC").await;
    let b = app.create_specialist("agent-d", "UTC").await;
    app.connect_calendar(a, "ics").await;
    app.connect_calendar(a, "google").await; // no webhook yet: to renew
    let paused = app.connect_calendar(b, "microsoft").await;
    app.sql(&format!(
        "UPDATE calendar_connections SET needs_reauth = true WHERE id = '{paused}'"
    ))
    .await;
    let res = app
        .operator_post("/api/integrations/sync", &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["enqueued"], 2, "{v}");
    assert_eq!(v["webhooksToRenew"], 1, "{v}");
    assert_eq!(app.env.drain_work_queue().await.unwrap().len(), 2);
    let v: Value = app
        .operator_get(&format!("/api/integrations/sync?specialistId={b}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["enqueued"], 0, "a paused connection is not synced: {v}");
}

#[tokio::test]
async fn setup_webhooks_creates_missing_ones_skips_healthy_ones_and_renews_all_with_force() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-e", "UTC").await;
    app.env
        .google()
        .state()
        .inject(Fault::new(403, "forbidden", 1).only_path_contains("/watch"));
    let (status, body) = connect_google(&app, id).await;
    assert_eq!(status, 200);
    assert_eq!(body["webhook"]["status"], "failed", "{body}");
    app.connect_calendar(id, "ics").await;

    let status: Value = app
        .operator_get("/api/integrations/setup-webhooks")
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = status["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["missing", "not_applicable"]);

    let run = |force: bool| {
        let path = if force {
            "/api/integrations/setup-webhooks?force=true"
        } else {
            "/api/integrations/setup-webhooks"
        };
        let app = &app;
        async move {
            let v: Value = app
                .operator_post(path, &json!({}))
                .await
                .json()
                .await
                .unwrap();
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["provider"].as_str().unwrap().to_owned(),
                        r["result"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        run(false).await,
        vec![s("google", "created"), s("ics", "skipped")]
    );
    assert_eq!(
        run(false).await,
        vec![s("google", "skipped"), s("ics", "skipped")]
    );
    assert_eq!(
        run(true).await,
        vec![s("google", "renewed"), s("ics", "skipped")]
    );

    let status: Value = app
        .operator_get(&format!(
            "/api/integrations/setup-webhooks?specialistId={id}"
        ))
        .await
        .json()
        .await
        .unwrap();
    let google = &status["connections"][0];
    assert_eq!(google["state"], "active");
    assert!(
        google["channelId"].is_string() && google["expiresAt"].is_string(),
        "{google}"
    );
    let open: Vec<_> = app
        .env
        .google()
        .state()
        .channels()
        .into_iter()
        .filter(|c| !c.stopped)
        .collect();
    assert_eq!(open.len(), 1, "the renewed channel replaced the old one");
    // No worker runs here: take what the connect and the webhook setups enqueued.
    let google_id = body["connectionId"].as_str().unwrap().to_owned();
    let queued = app.env.drain_work_queue().await.unwrap();
    assert!(!queued.is_empty(), "the connect asked for a first sync");
    assert!(
        queued.iter().all(|n| n.connection_id == google_id),
        "only the Google connection was synced: {queued:?}"
    );
}
