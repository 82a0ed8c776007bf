//! Booking made real (issue 13.2): the marketplace credential, exactly the slots that
//! availability offers, 409 versus 422, Idempotency-Key, and cancellation.

use crate::helpers::{at, error_code, next_monday, q, TestApp, MARKETPLACE_TOKEN};
use calsync_runtime::StalePolicy;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

fn body(id: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    json!({"specialistId": id, "start": start.to_rfc3339(), "end": end.to_rfc3339(),
           "customer": {"name": "Grace Hopper"}})
}

async fn post(
    app: &TestApp,
    token: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/appointments")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

async fn delete(app: &TestApp, token: Option<&str>, id: &str) -> reqwest::Response {
    let mut req = app
        .client
        .delete(app.url(&format!("/api/appointments/{id}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn stored(app: &TestApp, id: Uuid, day: DateTime<Utc>) -> usize {
    let mut conn = app.pool().get().await.unwrap();
    calsync_db::appointments::confirmed_between(&mut conn, &[id], day, day + Duration::days(1))
        .await
        .unwrap()
        .len()
}

async fn offered(app: &TestApp, id: Uuid, day: DateTime<Utc>, duration: i64) -> Vec<String> {
    let body: Value = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration={duration}",
            q(day),
            q(day + Duration::days(1))
        ))
        .await
        .json()
        .await
        .unwrap();
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn without_the_marketplace_token_booking_and_cancelling_are_401_and_nothing_happens() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-auth", "UTC").await;
    let day = next_monday();
    let b = body(id, at(day, 9, 0), at(day, 10, 0));
    for token in [None, Some("wrong"), Some(app.operator_token())] {
        let res = post(&app, token, None, &b).await;
        assert_eq!(res.status(), 401, "{token:?}");
        assert_eq!(error_code(res).await, "unauthorized");
    }
    assert_eq!(stored(&app, id, day).await, 0);

    // The credential is checked before the body is read: an oversized body with a wrong
    // token costs a 401, not the work of reading it.
    let huge = json!({"specialistId": id, "padding": "x".repeat(100_000)});
    assert_eq!(post(&app, Some("wrong"), None, &huge).await.status(), 401);
    assert_eq!(
        post(&app, Some(MARKETPLACE_TOKEN), None, &huge)
            .await
            .status(),
        413
    );

    let booked: Value = post(&app, Some(MARKETPLACE_TOKEN), None, &b)
        .await
        .json()
        .await
        .unwrap();
    let appointment = booked["id"].as_str().unwrap();
    assert_eq!(delete(&app, None, appointment).await.status(), 401);
    assert_eq!(delete(&app, Some("wrong"), appointment).await.status(), 401);
    assert_eq!(stored(&app, id, day).await, 1, "still booked");
}

#[tokio::test]
async fn only_a_slot_that_availability_offers_is_booked_otherwise_422_slot_unavailable() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-grid", "UTC").await;
    let day = next_monday();
    for (what, start, end) in [
        ("off the half-hour grid", at(day, 9, 10), at(day, 10, 10)),
        ("outside working hours", at(day, 20, 0), at(day, 21, 0)),
        (
            "running past the end of the day",
            at(day, 16, 30),
            at(day, 17, 30),
        ),
        (
            "on a Saturday",
            at(day, 24 * 5 + 10, 0),
            at(day, 24 * 5 + 11, 0),
        ),
        (
            "not whole minutes",
            at(day, 9, 0),
            at(day, 10, 0) + Duration::seconds(30),
        ),
        (
            "in the past",
            at(day - Duration::days(21), 9, 0),
            at(day - Duration::days(21), 10, 0),
        ),
    ] {
        let res = post(&app, Some(MARKETPLACE_TOKEN), None, &body(id, start, end)).await;
        assert_eq!(res.status(), 422, "{what}");
        assert_eq!(error_code(res).await, "slot_unavailable", "{what}");
    }
    assert_eq!(stored(&app, id, day).await, 0);

    // A 45-minute slot at 09:30 is on the grid: offered, so booked.
    assert!(offered(&app, id, day, 45)
        .await
        .iter()
        .any(|s| s.contains("T09:30")));
    let res = post(
        &app,
        Some(MARKETPLACE_TOKEN),
        None,
        &body(id, at(day, 9, 30), at(day, 10, 15)),
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_slot_within_the_minimum_notice_is_not_booked() {
    let app = TestApp::spawn_with(|s| s.availability.min_notice_minutes = 30 * 24 * 60).await;
    let id = app.create_specialist("agent-notice", "UTC").await;
    let day = next_monday();
    assert!(offered(&app, id, day, 60).await.is_empty());
    let res = post(
        &app,
        Some(MARKETPLACE_TOKEN),
        None,
        &body(id, at(day, 9, 0), at(day, 10, 0)),
    )
    .await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "slot_unavailable");
}

#[tokio::test]
async fn a_time_blocked_by_an_appointment_or_event_is_409_but_one_kept_free_by_a_buffer_is_422() {
    let app = TestApp::spawn_with(|s| s.availability.buffer_after_minutes = 30).await;
    let id = app.create_specialist("agent-buffer", "UTC").await;
    let conn = app.connect_calendar(id, "google").await;
    let day = next_monday();
    app.sql(&format!(
        "UPDATE calendar_connections SET last_sync_at = now() WHERE id = '{conn}'"
    ))
    .await;
    app.add_event(conn, id, "e1", "Dentist", at(day, 12, 0), at(day, 13, 0))
        .await;
    let res = post(
        &app,
        Some(MARKETPLACE_TOKEN),
        None,
        &body(id, at(day, 12, 30), at(day, 13, 30)),
    )
    .await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "slot_taken");
    // 13:00 touches the event and lies in its 30-minute buffer: not offered, no overlap.
    assert!(!offered(&app, id, day, 60)
        .await
        .iter()
        .any(|s| s.contains("T13:00")));
    let res = post(
        &app,
        Some(MARKETPLACE_TOKEN),
        None,
        &body(id, at(day, 13, 0), at(day, 14, 0)),
    )
    .await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "slot_unavailable");
    assert_eq!(
        post(
            &app,
            Some(MARKETPLACE_TOKEN),
            None,
            &body(id, at(day, 13, 30), at(day, 14, 30))
        )
        .await
        .status(),
        201
    );
    let res = post(
        &app,
        Some(MARKETPLACE_TOKEN),
        None,
        &body(id, at(day, 14, 0), at(day, 15, 0)),
    )
    .await;
    assert_eq!(
        error_code(res).await,
        "slot_taken",
        "overlaps the booking just made"
    );
}

#[tokio::test]
async fn the_block_policy_refuses_bookings_while_the_calendars_cannot_be_vouched_for() {
    let app = TestApp::spawn_with(|s| s.availability.stale_policy = StalePolicy::Block).await;
    let id = app.create_specialist("agent-stale", "UTC").await;
    let conn = app.connect_calendar(id, "ics").await;
    let day = next_monday();
    let b = body(id, at(day, 9, 0), at(day, 10, 0));
    let res = post(&app, Some(MARKETPLACE_TOKEN), None, &b).await;
    assert_eq!(
        res.status(),
        422,
        "never synced: nothing is offered, so nothing is booked"
    );
    assert_eq!(error_code(res).await, "slot_unavailable");
    app.sql(&format!(
        "UPDATE calendar_connections SET last_sync_at = now() WHERE id = '{conn}'"
    ))
    .await;
    assert_eq!(
        post(&app, Some(MARKETPLACE_TOKEN), None, &b).await.status(),
        201
    );
}

#[tokio::test]
async fn an_idempotency_key_answers_its_first_booking_again_and_refuses_another_body() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-key", "Europe/Berlin").await;
    let day = next_monday();
    let b = body(id, at(day, 9, 0), at(day, 10, 0));
    let first = post(&app, Some(MARKETPLACE_TOKEN), Some("order-7431"), &b).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    // The same request, even written with another offset, gets the same answer.
    let mut same = b.clone();
    same["start"] = json!((at(day, 9, 0))
        .with_timezone(&chrono_tz::Europe::Berlin)
        .to_rfc3339());
    let again = post(&app, Some(MARKETPLACE_TOKEN), Some("order-7431"), &same).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    let other = body(id, at(day, 11, 0), at(day, 12, 0));
    let res = post(&app, Some(MARKETPLACE_TOKEN), Some("order-7431"), &other).await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "idempotency_key_reused");
    assert_eq!(stored(&app, id, day).await, 1);

    // A refused booking stores nothing under its key: it may be retried.
    let taken = post(&app, Some(MARKETPLACE_TOKEN), Some("order-7432"), &b).await;
    assert_eq!(taken.status(), 409);
    assert_eq!(
        post(&app, Some(MARKETPLACE_TOKEN), Some("order-7432"), &other)
            .await
            .status(),
        201
    );

    let bad = post(&app, Some(MARKETPLACE_TOKEN), Some(&"k".repeat(300)), &b).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_book_once_and_all_get_that_booking() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-race", "UTC").await;
    let day = next_monday();
    let b = body(id, at(day, 14, 0), at(day, 15, 0));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (client, url, b) = (app.client.clone(), app.url("/api/appointments"), b.clone());
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(MARKETPLACE_TOKEN)
                .header("Idempotency-Key", "retry-storm")
                .json(&b)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(stored(&app, id, day).await, 1);
}

#[tokio::test]
async fn cancelling_frees_the_slot_is_idempotent_and_an_unknown_id_is_404() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-cancel", "Europe/Berlin").await;
    let day = next_monday();
    let b = body(id, at(day, 9, 0), at(day, 10, 0));
    let booked: Value = post(&app, Some(MARKETPLACE_TOKEN), None, &b)
        .await
        .json()
        .await
        .unwrap();
    let appointment = booked["id"].as_str().unwrap().to_owned();
    let local_start = booked["start"].as_str().unwrap().to_owned();
    assert!(!offered(&app, id, day, 60).await.contains(&local_start));

    for _ in 0..2 {
        let res = delete(&app, Some(MARKETPLACE_TOKEN), &appointment).await;
        assert_eq!(res.status(), 200);
        let cancelled: Value = res.json().await.unwrap();
        assert_eq!(cancelled["id"], appointment.as_str());
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["start"], local_start.as_str());
        assert_eq!(cancelled["specialistId"], id.to_string());
    }
    assert!(
        offered(&app, id, day, 60).await.contains(&local_start),
        "offered again"
    );
    assert_eq!(
        post(&app, Some(MARKETPLACE_TOKEN), None, &b).await.status(),
        201,
        "and bookable"
    );

    let res = delete(&app, Some(MARKETPLACE_TOKEN), &Uuid::new_v4().to_string()).await;
    assert_eq!(res.status(), 404);
    assert_eq!(error_code(res).await, "not_found");
    assert_eq!(
        delete(&app, Some(MARKETPLACE_TOKEN), "not-a-uuid")
            .await
            .status(),
        400
    );
}
