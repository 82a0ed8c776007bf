//! Freshness fail-safe from the first minute (issue 13.7): a feed the fetcher would never
//! fetch is refused at connect; a connection that never synced, or whose last sync failed
//! for good, is not fresh at once; only transient failures get the grace.

use crate::helpers::{error_code, next_monday, q, TestApp};
use calsync_db::connections::{self, FailureKind};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

/// Waits until the api has seen what the test wrote to the database, then asks.
async fn availability(app: &TestApp, id: uuid::Uuid) -> Value {
    app.settle().await;
    let day = next_monday();
    let res = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration=60",
            q(day),
            q(day + Duration::days(1))
        ))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_feed_at_a_link_local_or_loopback_address_is_refused_with_the_fetchers_reason() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-ssrf", "UTC").await;
    for (url, reason) in [
        (
            "http://169.254.169.254/latest/meta-data/cal.ics",
            "is a link-local address",
        ),
        ("webcal://127.0.0.1:8080/agent.ics", "is a loopback address"),
        ("https://[fe80::1]/a.ics", "is a link-local address"),
        ("http://localhost:9/a.ics", "is a loopback address"),
    ] {
        let res = app
            .operator_post(
                "/api/integrations/ics",
                &json!({"specialistId": id, "url": url}),
            )
            .await;
        assert_eq!(res.status(), 422, "{url}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "feed_refused", "{url}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{url}: {message}");
    }
    let mut conn = app.pool().get().await.unwrap();
    assert!(
        connections::list(&mut conn, Some(id))
            .await
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn an_allow_listed_private_feed_is_accepted() {
    let app = TestApp::spawn_with(|s| s.ics.allow_hosts = vec!["127.0.0.1".to_owned()]).await;
    let id = app.create_specialist("agent-allowed", "UTC").await;
    let res = app
        .operator_post(
            "/api/integrations/ics",
            &json!({"specialistId": id, "url": "http://127.0.0.1:8099/agent.ics"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The first sync it asked for waits in the queue: no worker runs here.
    app.env.expect_leftover_messages();
}

#[tokio::test]
async fn a_connection_that_never_synced_is_not_fresh_from_its_first_minute() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-new", "UTC").await;
    app.connect_calendar(id, "ics").await;
    let body = availability(&app, id).await;
    assert_eq!(body["calendarsFresh"], false, "{body}");
    assert_eq!(
        body["reason"],
        "ics calendar has not completed its first sync"
    );
    assert!(
        !body["slots"].as_array().unwrap().is_empty(),
        "the flag policy still offers slots"
    );
}

#[tokio::test]
async fn a_permanent_failure_is_not_fresh_at_once_and_a_transient_one_keeps_the_grace() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-fail", "UTC").await;
    let c = app.connect_calendar(id, "ics").await;
    let mut conn = app.pool().get().await.unwrap();
    let now = Utc::now();
    connections::record_success(&mut conn, c, &Default::default(), now, now)
        .await
        .unwrap();
    assert_eq!(availability(&app, id).await["calendarsFresh"], true);

    connections::record_failure(
        &mut conn,
        c,
        "feed answered HTTP 503",
        FailureKind::Transient,
        now,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        availability(&app, id).await["calendarsFresh"],
        true,
        "transient: the grace holds"
    );

    connections::record_failure(
        &mut conn,
        c,
        "feed fetch failed: refused: 169.254.169.254 is a link-local address",
        FailureKind::Permanent,
        now,
        now,
    )
    .await
    .unwrap();
    let body = availability(&app, id).await;
    assert_eq!(body["calendarsFresh"], false);
    let reason = body["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "ics calendar failed to sync for a reason that waiting will not fix"
    );
    assert!(
        !reason.contains("169.254"),
        "stored error text stays out of the public answer"
    );

    connections::record_success(&mut conn, c, &Default::default(), now, now)
        .await
        .unwrap();
    assert_eq!(
        availability(&app, id).await["calendarsFresh"],
        true,
        "a success clears it"
    );
    let _ = error_code;
}
