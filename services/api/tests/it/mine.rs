//! `GET /api/appointments/mine` with the agent's JWT.

use crate::helpers::{at, error_code, next_monday, q, signed_token, TestApp};
use chrono::Duration;
use serde_json::Value;

#[tokio::test]
async fn an_agent_sees_bookings_and_calendar_events_merged_sorted_and_titled() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-a", "UTC").await;
    let conn = app.connect_calendar(id, "microsoft").await;
    let day = next_monday();
    app.add_event(
        conn,
        id,
        "m-1",
        "Team stand-up",
        at(day, 9, 0),
        at(day, 9, 30),
    )
    .await;
    assert_eq!(
        app.book(id, at(day, 10, 0), at(day, 11, 0)).await.status(),
        201
    );
    app.add_event(
        conn,
        id,
        "m-2",
        "Lunch <with> \"Bob\"",
        at(day, 12, 0),
        at(day, 13, 0),
    )
    .await;

    let token = app.agent_token("agent-a", Duration::hours(1));
    let path = format!(
        "/api/appointments/mine?from={}&to={}",
        q(day),
        q(day + Duration::days(1))
    );
    let res = app.agent_get(&path, &token).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    let summary: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["source"].as_str().unwrap(), i["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("microsoft", "Team stand-up"),
            ("marketplace", "Booking: Ada Lovelace"),
            ("microsoft", "Lunch <with> \"Bob\""),
        ]
    );
    for i in items {
        for key in ["id", "start", "end", "allDay", "status"] {
            assert!(!i[key].is_null(), "{key} missing in {i}");
        }
    }
    assert_eq!(items[1]["status"], "confirmed");
}

#[tokio::test]
async fn another_agents_token_sees_only_their_own_items() {
    let app = TestApp::spawn().await;
    let a = app.create_specialist("agent-a", "UTC").await;
    let _b = app.create_specialist("agent-b", "UTC").await;
    let day = next_monday();
    assert_eq!(
        app.book(a, at(day, 10, 0), at(day, 11, 0)).await.status(),
        201
    );
    let path = format!(
        "/api/appointments/mine?from={}&to={}",
        q(day),
        q(day + Duration::days(1))
    );
    let body: Value = app
        .agent_get(&path, &app.agent_token("agent-b", Duration::hours(1)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    let body: Value = app
        .agent_get(&path, &app.agent_token("agent-a", Duration::hours(1)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_forged_and_missing_tokens_are_refused_with_401() {
    let app = TestApp::spawn().await;
    app.create_specialist("agent-a", "UTC").await;
    let path = "/api/appointments/mine";
    let expired = app.agent_token("agent-a", Duration::hours(-1));
    let res = app.agent_get(path, &expired).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "unauthorized");
    let forged = signed_token("agent-a", Duration::hours(1), "not-the-secret");
    assert_eq!(app.agent_get(path, &forged).await.status(), 401);
    assert_eq!(app.get(path).await.status(), 401);
    assert_eq!(app.agent_get(path, "garbage").await.status(), 401);
    let ok = app.agent_token("agent-a", Duration::hours(1));
    assert_eq!(app.agent_get(path, &ok).await.status(), 200);
}

#[tokio::test]
async fn a_valid_token_for_an_unknown_login_is_forbidden() {
    let app = TestApp::spawn().await;
    let res = app
        .agent_get(
            "/api/appointments/mine",
            &app.agent_token("nobody", Duration::hours(1)),
        )
        .await;
    assert_eq!(res.status(), 403);
}
