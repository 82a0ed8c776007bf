//! The marketplace grid's compact form, and busy time just outside the window.

use crate::helpers::{at, next_monday, q, TestApp};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

#[tokio::test]
async fn the_compact_grid_lists_the_same_slots_as_minutes_after_from() {
    let app = TestApp::spawn().await;
    let berlin = app.create_specialist("agent-grid-b", "Europe/Berlin").await;
    let utc = app.create_specialist("agent-grid-u", "UTC").await;
    let conn = app.connect_calendar(utc, "google").await;
    let day = next_monday();
    app.add_event(conn, utc, "e", "Busy", at(day, 10, 0), at(day, 12, 0))
        .await;
    let from = day + Duration::seconds(20);
    let search = |format: Option<&'static str>| {
        let mut body = json!({"specialistIds": [berlin, utc, uuid::Uuid::new_v4()],
            "from": from.to_rfc3339(), "to": q(day + Duration::days(2)), "duration": 60});
        if let Some(f) = format {
            body["format"] = json!(f);
        }
        let app = &app;
        async move { app.post_json("/api/availability/search", &body).await }
    };
    let full: Value = search(None).await.json().await.unwrap();
    assert_eq!(
        search(Some("full")).await.json::<Value>().await.unwrap(),
        full
    );
    let res = search(Some("compact")).await;
    assert_eq!(res.status(), 200);
    let compact: Value = res.json().await.unwrap();
    assert_eq!(compact["format"], "compact");
    assert_eq!(compact["from"], q(day), "from cut to the minute");
    assert_eq!(compact["duration"], 60);
    let origin: DateTime<Utc> = q(day).parse().unwrap();
    let results = compact["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (c, f) in results.iter().zip(full["results"].as_array().unwrap()) {
        assert_eq!(c["specialistId"], f["specialistId"]);
        assert_eq!(c["calendarsFresh"], f["calendarsFresh"]);
        let expected: Vec<i64> = f["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let start: DateTime<Utc> = s["start"].as_str().unwrap().parse().unwrap();
                (start - origin).num_minutes()
            })
            .collect();
        let starts: Vec<i64> = c["starts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert!(!starts.is_empty());
        assert_eq!(starts, expected);
    }
    assert_eq!(results[0]["timeZone"], "Europe/Berlin");
    assert!(
        compact.to_string().len() * 3 < full.to_string().len(),
        "compact is compact"
    );
    let bad = app
        .post_json(
            "/api/availability/search",
            &json!({"specialistIds": [], "from": q(day),
            "to": q(day + Duration::days(1)), "duration": 60, "format": "tiny"}),
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn busy_time_just_before_the_window_still_blocks_through_the_buffer() {
    let app = TestApp::spawn_with(|s| s.availability.buffer_after_minutes = 30).await;
    let id = app.create_specialist("agent-edge", "UTC").await;
    let conn = app.connect_calendar(id, "google").await;
    let day = next_monday();
    app.add_event(conn, id, "early", "Early", at(day, 8, 0), at(day, 9, 15))
        .await;
    let window_start = at(day, 9, 0) + Duration::minutes(20);
    let body: Value = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration=30",
            q(window_start),
            q(day + Duration::days(1))
        ))
        .await
        .json()
        .await
        .unwrap();
    let first = body["slots"][0]["start"].as_str().unwrap();
    assert!(
        first.ends_with("T10:00:00+00:00"),
        "09:30 is inside the buffer: {first}"
    );
}
