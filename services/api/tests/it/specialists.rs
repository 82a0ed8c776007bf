//! `POST /api/specialists`.

use crate::helpers::{error_code, TestApp};
use serde_json::json;

fn body(tz: &str) -> serde_json::Value {
    json!({"userId": "u-1", "displayName": "Ada", "timeZone": tz,
           "workingHours": [{"weekday": 1, "start": "09:00", "end": "17:00"}]})
}

#[tokio::test]
async fn the_same_user_id_again_updates_the_same_specialist() {
    let app = TestApp::spawn().await;
    let first: serde_json::Value = app
        .operator_post("/api/specialists", &body("Europe/Berlin"))
        .await
        .json()
        .await
        .unwrap();
    let second: serde_json::Value = app
        .operator_post("/api/specialists", &body("America/New_York"))
        .await
        .json()
        .await
        .unwrap();
    assert!(first["id"].is_string());
    assert_eq!(first["id"], second["id"]);
    app.sql("SELECT 1").await;
}

#[tokio::test]
async fn a_missing_or_wrong_operator_token_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let res = app.post_json("/api/specialists", &body("UTC")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "unauthorized");
    let res = app
        .client
        .post(app.url("/api/specialists"))
        .bearer_auth("operator-test-tokeX")
        .json(&body("UTC"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let mut conn = app.pool().get().await.unwrap();
    let found = calsync_db::specialists::find_by_user_id(&mut conn, "u-1").await;
    assert!(matches!(found, Err(calsync_db::DbError::NotFound)));
}

#[tokio::test]
async fn an_unknown_time_zone_or_bad_hours_are_refused_with_400() {
    let app = TestApp::spawn().await;
    let res = app
        .operator_post("/api/specialists", &body("Mars/Olympus"))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_body");
    let mut b = body("UTC");
    b["workingHours"] = json!([{"weekday": 8, "start": "09:00", "end": "17:00"}]);
    assert_eq!(
        app.operator_post("/api/specialists", &b).await.status(),
        400
    );
    b["workingHours"] = json!([{"weekday": 1, "start": "17:00", "end": "09:00"}]);
    assert_eq!(
        app.operator_post("/api/specialists", &b).await.status(),
        400
    );
    let res = app
        .client
        .post(app.url("/api/specialists"))
        .bearer_auth(app.operator_token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_json");
}
