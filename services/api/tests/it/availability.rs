//! `GET /api/availability` and `POST /api/availability/search`.

use crate::helpers::{at, error_code, next_monday, q, TestApp};
use calsync_runtime::StalePolicy;
use chrono::Duration;
use serde_json::{json, Value};

async fn slots(
    app: &TestApp,
    id: uuid::Uuid,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    duration: i64,
) -> Value {
    let res = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration={duration}",
            q(from),
            q(to)
        ))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn starts(body: &Value) -> Vec<String> {
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_free_working_day_offers_hourly_slots_on_the_half_hour_grid_in_local_time() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-a", "Europe/Berlin").await;
    let day = next_monday();
    let body = slots(&app, id, day, day + Duration::days(1), 60).await;
    assert_eq!(body["specialistId"], id.to_string());
    assert_eq!(body["calendarsFresh"], true);
    let s = starts(&body);
    // 09:00–17:00 with 60-minute slots every 30 minutes: 09:00 … 16:00 = 15 slots.
    assert_eq!(s.len(), 15, "{s:?}");
    assert!(
        s[0].ends_with("T09:00:00+01:00") || s[0].ends_with("T09:00:00+02:00"),
        "{s:?}"
    );
    let first = &body["slots"][0];
    assert_eq!(
        first.as_object().unwrap().len(),
        2,
        "only start and end: {first}"
    );
}

#[tokio::test]
async fn appointments_and_external_events_remove_slots_and_no_event_detail_leaks() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-b", "UTC").await;
    let day = next_monday();
    assert_eq!(
        app.book(id, at(day, 10, 0), at(day, 11, 0)).await.status(),
        201
    );
    let conn = app.connect_calendar(id, "google").await;
    let secret_title = "Zebra-Quokka merger talks 7f3a";
    app.add_event(
        conn,
        id,
        "gEvt-SECRET-ID-991",
        secret_title,
        at(day, 14, 0),
        at(day, 15, 0),
    )
    .await;

    let res = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration=60",
            q(day),
            q(day + Duration::days(1))
        ))
        .await;
    let text = res.text().await.unwrap();
    assert!(!text.contains("Zebra"), "a title leaked: {text}");
    assert!(
        !text.contains("gEvt-SECRET-ID-991"),
        "an event id leaked: {text}"
    );
    assert!(!text.contains("example.com"), "an iCal UID leaked: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let s = starts(&body);
    for taken in ["T09:30", "T10:00", "T10:30", "T13:30", "T14:00", "T14:30"] {
        assert!(
            !s.iter().any(|x| x.contains(taken)),
            "{taken} offered: {s:?}"
        );
    }
    for free in ["T09:00", "T11:00", "T13:00", "T15:00"] {
        assert!(s.iter().any(|x| x.contains(free)), "{free} missing: {s:?}");
    }
    let search: Value = app
        .post_json("/api/availability/search", &json!({"specialistIds": [id], "from": q(day), "to": q(day + Duration::days(1)), "duration": 60}))
        .await
        .text()
        .await
        .map(|t| {
            assert!(!t.contains("Zebra") && !t.contains("gEvt"), "search leaked: {t}");
            serde_json::from_str(&t).unwrap()
        })
        .unwrap();
    assert_eq!(search["results"][0]["slots"], body["slots"]);
}

#[tokio::test]
async fn garbage_queries_get_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-c", "UTC").await;
    let day = q(next_monday());
    for query in [
        String::new(),
        format!("specialistId=not-a-uuid&from={day}&to={day}&duration=60"),
        format!("specialistId={id}&from=tomorrow&to={day}&duration=60"),
        format!("specialistId={id}&from={day}&to={day}&duration=abc"),
        format!("specialistId={id}&from={day}&to={day}&duration=60"),
        "specialistId=%ZZ".to_owned(),
    ] {
        let res = app.get(&format!("/api/availability?{query}")).await;
        assert_eq!(res.status(), 400, "{query}");
        assert!(!error_code(res).await.is_empty(), "{query}");
    }
}

#[tokio::test]
async fn an_unknown_specialist_is_404_and_a_window_over_93_days_is_400() {
    let app = TestApp::spawn().await;
    let day = next_monday();
    let res = app
        .get(&format!(
            "/api/availability?specialistId={}&from={}&to={}&duration=60",
            uuid::Uuid::new_v4(),
            q(day),
            q(day + Duration::days(1))
        ))
        .await;
    assert_eq!(res.status(), 404);
    let id = app.create_specialist("agent-d", "UTC").await;
    let res = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration=60",
            q(day),
            q(day + Duration::days(94))
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "window_too_long");
}

#[tokio::test]
async fn a_stale_or_reauth_connection_flags_calendars_as_not_fresh_with_a_reason() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-e", "UTC").await;
    let conn = app.connect_calendar(id, "microsoft").await;
    app.sql(&format!("UPDATE calendar_connections SET last_sync_at = now() - interval '45 minutes' WHERE id = '{conn}'")).await;
    let day = next_monday();
    let body = slots(&app, id, day, day + Duration::days(1), 60).await;
    assert_eq!(body["calendarsFresh"], false);
    assert_eq!(
        body["reason"],
        "microsoft calendar not synced for 45 minutes"
    );
    assert!(
        !starts(&body).is_empty(),
        "the flag policy still offers slots"
    );

    app.sql(&format!("UPDATE calendar_connections SET last_sync_at = now(), needs_reauth = true WHERE id = '{conn}'")).await;
    let body = slots(&app, id, day, day + Duration::days(1), 60).await;
    assert_eq!(body["reason"], "microsoft calendar needs re-authorisation");
}

#[tokio::test]
async fn the_block_policy_offers_no_slots_for_a_stale_specialist() {
    let app = TestApp::spawn_with(|s| s.availability.stale_policy = StalePolicy::Block).await;
    let stale = app.create_specialist("agent-f", "UTC").await;
    let fine = app.create_specialist("agent-g", "UTC").await;
    let conn = app.connect_calendar(stale, "google").await;
    app.sql(&format!("UPDATE calendar_connections SET created_at = now() - interval '2 hours' WHERE id = '{conn}'")).await;
    let day = next_monday();
    let res: Value = app
        .post_json("/api/availability/search", &json!({"specialistIds": [stale, fine], "from": q(day), "to": q(day + Duration::days(1)), "duration": 30}))
        .await
        .json()
        .await
        .unwrap();
    let r = res["results"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["specialistId"], stale.to_string());
    assert_eq!(r[0]["calendarsFresh"], false);
    assert_eq!(r[0]["slots"].as_array().unwrap().len(), 0);
    assert_eq!(r[1]["calendarsFresh"], true);
    assert_eq!(r[1]["slots"].as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn search_leaves_out_unknown_specialists_and_refuses_more_than_500() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-h", "UTC").await;
    let day = next_monday();
    let body = json!({"specialistIds": [uuid::Uuid::new_v4(), id], "from": q(day), "to": q(day + Duration::days(14)), "duration": 60});
    let res: Value = app
        .post_json("/api/availability/search", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["results"].as_array().unwrap().len(), 1);
    assert_eq!(res["results"][0]["specialistId"], id.to_string());
    let many: Vec<String> = (0..501).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let res = app
        .post_json("/api/availability/search", &json!({"specialistIds": many, "from": q(day), "to": q(day + Duration::days(1)), "duration": 60}))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "too_many_specialists");
}
