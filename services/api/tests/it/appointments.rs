//! `POST /api/appointments`: booking, conflicts, and the race of 50 concurrent bookings.

use crate::helpers::{at, error_code, next_monday, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn a_free_time_is_booked_with_201_and_the_contract_fields() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-a", "Europe/Berlin").await;
    let day = next_monday();
    let res = app.book(id, at(day, 9, 0), at(day, 10, 0)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body["id"]
        .as_str()
        .and_then(|s| s.parse::<uuid::Uuid>().ok())
        .is_some());
    assert_eq!(body["specialistId"], id.to_string());
    assert_eq!(body["status"], "confirmed");
    let start = body["start"].as_str().unwrap();
    assert!(
        start.ends_with("+01:00") || start.ends_with("+02:00"),
        "{start}"
    );
}

#[tokio::test]
async fn an_overlapping_booking_gets_409_slot_taken_and_back_to_back_is_fine() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-b", "UTC").await;
    let day = next_monday();
    assert_eq!(
        app.book(id, at(day, 9, 0), at(day, 10, 0)).await.status(),
        201
    );
    let res = app.book(id, at(day, 9, 30), at(day, 10, 30)).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "slot_taken");
    assert_eq!(
        app.book(id, at(day, 10, 0), at(day, 11, 0)).await.status(),
        201
    );
}

#[tokio::test]
async fn a_blocking_external_event_makes_the_time_unbookable() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-c", "UTC").await;
    let conn = app.connect_calendar(id, "google").await;
    let day = next_monday();
    app.add_event(conn, id, "evt-1", "Dentist", at(day, 12, 0), at(day, 13, 0))
        .await;
    let res = app.book(id, at(day, 12, 30), at(day, 13, 30)).await;
    assert_eq!(res.status(), 409);
    assert_eq!(error_code(res).await, "slot_taken");
}

#[tokio::test]
async fn bad_bookings_are_refused_with_4xx() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-d", "UTC").await;
    let day = next_monday();
    let unknown = app
        .book(uuid::Uuid::new_v4(), at(day, 9, 0), at(day, 10, 0))
        .await;
    assert_eq!(unknown.status(), 404);
    let reversed = app.book(id, at(day, 10, 0), at(day, 9, 0)).await;
    assert_eq!(reversed.status(), 400);
    let res = app
        .marketplace_post(
            "/api/appointments",
            &json!({"specialistId": id, "start": "soon", "end": "later"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .marketplace_post("/api/appointments", &json!({"specialistId": id, "start": at(day, 9, 0).to_rfc3339(), "end": at(day, 10, 0).to_rfc3339(), "customer": "x"}))
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_give_exactly_one_201_and_49_409() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-e", "UTC").await;
    let day = next_monday();
    let body = json!({"specialistId": id, "start": at(day, 11, 0).to_rfc3339(),
                      "end": at(day, 12, 0).to_rfc3339(), "customer": {"name": "racer"}});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url, body) = (
            reqwest::Client::new(),
            app.url("/api/appointments"),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(crate::helpers::MARKETPLACE_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
    let mut conn = app.pool().get().await.unwrap();
    let stored = calsync_db::appointments::confirmed_between(
        &mut conn,
        &[id],
        at(day, 0, 0),
        at(day, 24, 0),
    )
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
}
