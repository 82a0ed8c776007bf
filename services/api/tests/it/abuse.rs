//! Abuse (issue 13.5): the public endpoints are rate-limited per client address with a
//! 429 and `Retry-After`, bodies are bounded (413), the search takes at most 500 ids.

use crate::helpers::{error_code, next_monday, q, TestApp};
use chrono::Duration;
use serde_json::json;

#[tokio::test]
async fn a_client_over_its_allowance_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn_with(|s| {
        s.api.rate_limit_per_minute = 30;
        s.api.rate_limit_burst = 3;
    })
    .await;
    let id = app.create_specialist("agent-limit", "UTC").await;
    let day = next_monday();
    let path = format!(
        "/api/availability?specialistId={id}&from={}&to={}&duration=60",
        q(day),
        q(day + Duration::days(1))
    );
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status(), 200);
    }
    let res = app.get(&path).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(error_code(res).await, "rate_limited");
    // The allowance is per address and not per path: the search is public too, and a
    // forged X-Forwarded-For from an untrusted peer changes nothing.
    let res = app
        .client
        .post(app.url("/api/availability/search"))
        .header("X-Forwarded-For", "198.51.100.23")
        .json(&json!({"specialistIds": [id], "from": q(day), "to": q(day + Duration::days(1)), "duration": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    // Operator endpoints are not limited.
    assert_eq!(
        app.operator_get("/api/integrations/setup-webhooks")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_limited() {
    let app = TestApp::spawn_with(|s| {
        s.api.rate_limit_per_minute = 60;
        s.api.rate_limit_burst = 1;
        s.api.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let from = |ip: &'static str| {
        app.client
            .get(app.url("/api/openapi.json"))
            .header("X-Forwarded-For", ip)
            .send()
    };
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 429);
    assert_eq!(from("198.51.100.2").await.unwrap().status(), 200);
}

#[tokio::test]
async fn bodies_are_bounded_and_the_search_takes_at_most_500_ids() {
    let app = TestApp::spawn().await;
    let day = next_monday();
    let padded = json!({"specialistIds": [], "from": q(day), "to": q(day), "duration": 60,
                        "padding": "x".repeat(app.settings().api.max_body_bytes)});
    let res = app.post_json("/api/availability/search", &padded).await;
    assert_eq!(res.status(), 413);
    assert_eq!(error_code(res).await, "body_too_large");
    let ids: Vec<String> = (0..501).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let res = app
        .post_json("/api/availability/search", &json!({"specialistIds": ids, "from": q(day), "to": q(day + Duration::days(1)), "duration": 60}))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "too_many_specialists");
}
