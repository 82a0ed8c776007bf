//! Write-back's api side (issue 14): a booking commits its calendar writes with it and is
//! answered without any provider call, even when the provider is unreachable; the agent's
//! portal says the event is pending; a cancellation before the write skips it.

use crate::helpers::{at, next_monday, TestApp};
use calsync_db::calendar_writes;
use chrono::Duration;
use serde_json::Value;
use uuid::Uuid;

#[tokio::test]
async fn a_booking_commits_its_calendar_writes_and_never_waits_for_the_provider() {
    // Both providers point at a port where nothing listens: a booking that called them
    // would fail or hang.
    let app = TestApp::spawn_with(|s| {
        s.google.client_id = "client".into();
        s.google.api_base = "http://127.0.0.1:9/calendar/v3".into();
        s.microsoft.client_id = "client".into();
        s.microsoft.graph_base = "http://127.0.0.1:9/v1.0".into();
    })
    .await;
    let id = app.create_specialist("agent-wb", "UTC").await;
    let google = app.connect_calendar(id, "google").await;
    let microsoft = app.connect_calendar(id, "microsoft").await;
    app.connect_calendar(id, "ics").await;
    let day = next_monday();

    let started = std::time::Instant::now();
    let res = app.book(id, at(day, 10, 0), at(day, 11, 0)).await;
    assert_eq!(res.status(), 201);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let booked: Uuid = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut db = app.pool().get().await.unwrap();
    let writes = calendar_writes::for_appointments(&mut db, &[booked])
        .await
        .unwrap();
    let mut targets: Vec<Uuid> = writes.iter().map(|w| w.connection_id).collect();
    targets.sort();
    let mut expected = vec![google, microsoft];
    expected.sort();
    assert_eq!(
        targets, expected,
        "one create per Google/Microsoft connection"
    );
    assert!(writes.iter().all(|w| w.is_create() && w.state == "pending"));

    let token = app.agent_token("agent-wb", Duration::minutes(5));
    let mine: Value = app
        .agent_get(
            &format!(
                "/api/appointments/mine?from={}&to={}",
                crate::helpers::q(day),
                crate::helpers::q(day + Duration::days(1))
            ),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let item = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == booked.to_string())
        .unwrap()
        .clone();
    assert_eq!(item["calendarEvent"], "pending", "{item}");
    assert_eq!(item["inAgentCalendar"], false);

    // Cancelled before any write was tried: nothing to delete.
    let res = app
        .client
        .delete(app.url(&format!("/api/appointments/{booked}")))
        .bearer_auth(crate::helpers::MARKETPLACE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let writes = calendar_writes::for_appointments(&mut db, &[booked])
        .await
        .unwrap();
    assert_eq!(writes.len(), 2, "no delete queued: {writes:?}");
    assert!(writes.iter().all(|w| w.state == "skipped"));
}
