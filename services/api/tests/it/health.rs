//! Health, readiness and metrics endpoints.

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_ok_and_readyz_sees_database_and_broker() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let res = app.get("/readyz").await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true);
    assert_eq!(body["checks"]["broker"]["ok"], true);
    assert_eq!(
        body["checks"]["schema"]["ok"], true,
        "the test database is migrated"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = TestApp::spawn().await;
    let _ = app.get("/api/availability?specialistId=nope").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"calsync_api_requests_total{route="/api/availability",status="400"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("calsync_api_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_path_gets_a_json_404() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/nothing-here").await;
    assert_eq!(res.status(), 404);
    assert_eq!(crate::helpers::error_code(res).await, "not_found");
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_gets_a_json_405() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/specialists").await;
    assert_eq!(res.status(), 405);
    assert_eq!(crate::helpers::error_code(res).await, "method_not_allowed");
}
