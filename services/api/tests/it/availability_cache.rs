//! The availability cache (`calsync_api::cache`): what another connection commits (a
//! sync's upsert, a booking by another replica, a cancellation, a calendar going stale)
//! is in the next answer once its notification has arrived, and while the LISTEN
//! session is down nothing is served from the cache.

use crate::helpers::{at, next_monday, q, TestApp};
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment};
use calsync_db::events;
use calsync_testkit::{ChaosProxy, TestEnv};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// Generous bound for waits (not a timing assertion: a hang becomes a failure).
const PATIENCE: Duration = Duration::from_secs(30);

async fn starts(app: &TestApp, id: Uuid, day: DateTime<Utc>) -> Vec<String> {
    let res = app
        .get(&format!(
            "/api/availability?specialistId={id}&from={}&to={}&duration=60",
            q(day),
            q(day + chrono::Duration::days(1))
        ))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

fn has(starts: &[String], hh_mm: &str) -> bool {
    starts.iter().any(|s| s.contains(&format!("T{hh_mm}:00")))
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for {what}"));
}

/// Waits for the api to see a change of `id` (its notification).
async fn notified(seen: &mut tokio::sync::broadcast::Receiver<Uuid>, id: Uuid) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match seen.recv().await {
                Ok(got) if got == id => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the change is notified");
}

fn event(id: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> ExternalEvent {
    ExternalEvent {
        provider_event_id: id.into(),
        ical_uid: None,
        starts_at: start,
        ends_at: end,
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: false,
        appointment_id: None,
        title: Some("Busy".into()),
        provider_updated_at: None,
    }
}

#[tokio::test]
async fn a_change_committed_by_another_connection_is_in_the_next_answer() {
    let app = TestApp::spawn().await;
    let cache = app.cache.clone();
    until("LISTEN", || cache.is_live()).await;
    let id = app.create_specialist("agent-cache", "UTC").await;
    let conn = app.connect_calendar(id, "google").await;
    let day = next_monday();
    let first = starts(&app, id, day).await;
    assert!(has(&first, "10:00") && has(&first, "14:00"), "{first:?}");
    let before = app.cache.stats();
    assert_eq!(starts(&app, id, day).await, first);
    assert_eq!(
        app.cache.stats().hits,
        before.hits + 1,
        "the second answer is cached"
    );

    // A sync's upsert, committed by a connection of another process.
    let mut seen = app.cache.subscribe();
    let mut db = app.pool().get().await.unwrap();
    events::upsert(
        &mut db,
        conn,
        id,
        &[event("e1", at(day, 10, 0), at(day, 11, 0))],
    )
    .await
    .unwrap();
    notified(&mut seen, id).await;
    let after_sync = starts(&app, id, day).await;
    assert!(!has(&after_sync, "10:00"), "{after_sync:?}");
    assert!(has(&after_sync, "14:00"), "{after_sync:?}");

    // A booking committed by another api replica.
    let booked = appointments::insert(
        &mut db,
        &NewAppointment {
            id: Uuid::new_v4(),
            specialist_id: id,
            starts_at: at(day, 14, 0),
            ends_at: at(day, 15, 0),
            status: "confirmed".into(),
            customer: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    notified(&mut seen, id).await;
    assert!(!has(&starts(&app, id, day).await, "14:00"));
    // Cached again, then cancelled elsewhere: the time is offered again.
    assert!(!has(&starts(&app, id, day).await, "14:00"));
    assert!(app.cache.contains(id));
    appointments::cancel(&mut db, booked.id).await.unwrap();
    notified(&mut seen, id).await;
    assert!(has(&starts(&app, id, day).await, "14:00"));

    // An event moved away by the next sync frees its time.
    events::upsert(
        &mut db,
        conn,
        id,
        &[event("e1", at(day, 16, 0), at(day, 17, 0))],
    )
    .await
    .unwrap();
    notified(&mut seen, id).await;
    let moved = starts(&app, id, day).await;
    assert!(has(&moved, "10:00") && !has(&moved, "16:00"), "{moved:?}");

    // Freshness is cached too: a first sync makes the calendar fresh, and a grant
    // revoked later makes it not fresh, each in the next answer.
    let fresh = || async {
        let res = app
            .get(&format!(
                "/api/availability?specialistId={id}&from={}&to={}&duration=60",
                q(day),
                q(day + chrono::Duration::days(1))
            ))
            .await;
        let body: Value = res.json().await.unwrap();
        body["calendarsFresh"].as_bool()
    };
    assert_eq!(fresh().await, Some(false), "never synced");
    for (change, expect) in [
        ("last_sync_at = now()", true),
        ("needs_reauth = true", false),
    ] {
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(format!(
                "UPDATE calendar_connections SET {change} WHERE id = '{conn}'"
            )),
            &mut db,
        )
        .await
        .unwrap();
        notified(&mut seen, id).await;
        assert_eq!(fresh().await, Some(expect), "after {change}");
        assert_eq!(fresh().await, Some(expect), "after {change}, cached");
    }
}

#[tokio::test]
async fn a_booking_through_this_api_is_in_its_next_answer_without_waiting() {
    let app = TestApp::spawn().await;
    let cache = app.cache.clone();
    until("LISTEN", || cache.is_live()).await;
    let id = app.create_specialist("agent-cache-book", "UTC").await;
    let day = next_monday();
    assert!(has(&starts(&app, id, day).await, "11:00"));
    assert!(app.cache.contains(id));
    assert_eq!(
        app.book(id, at(day, 11, 0), at(day, 12, 0)).await.status(),
        201
    );
    // No wait for the notification: the api dropped the entry when it committed.
    assert!(!has(&starts(&app, id, day).await, "11:00"));
}

/// `url` with its host and port replaced by `addr`.
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_host(Some(&addr.ip().to_string())).unwrap();
    u.set_port(Some(addr.port())).unwrap();
    u.to_string()
}

#[tokio::test]
async fn while_listen_is_down_the_cache_is_bypassed() {
    let env = TestEnv::new().await.unwrap();
    let direct = url::Url::parse(env.db().url()).unwrap();
    let target = direct
        .socket_addrs(|| Some(5432))
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    // The LISTEN session goes through the proxy; the pool's queries do not.
    let proxy = ChaosProxy::start(target).await.unwrap();
    let listen_url = via(env.db().url(), proxy.addr());
    let app = TestApp::spawn_in(env, |s| s.database.url = listen_url).await;
    let cache = app.cache.clone();
    until("LISTEN", || cache.is_live()).await;
    let id = app.create_specialist("agent-cache-down", "UTC").await;
    let conn = app.connect_calendar(id, "google").await;
    let day = next_monday();
    assert!(has(&starts(&app, id, day).await, "10:00"));
    assert!(app.cache.contains(id));

    proxy.break_all();
    until("the lost session", || !cache.is_live()).await;
    assert!(!app.cache.contains(id), "flushed when the session was lost");
    // Committed while nothing can be notified: still in the very next answer.
    let mut db = app.pool().get().await.unwrap();
    events::upsert(
        &mut db,
        conn,
        id,
        &[event("e1", at(day, 10, 0), at(day, 11, 0))],
    )
    .await
    .unwrap();
    let before = app.cache.stats();
    assert!(!has(&starts(&app, id, day).await, "10:00"));
    assert!(!has(&starts(&app, id, day).await, "10:00"));
    let during = app.cache.stats();
    assert_eq!(during.hits, before.hits, "nothing served from the cache");
    assert_eq!(during.bypassed, before.bypassed + 2);
    assert!(!app.cache.contains(id), "nothing kept while LISTEN is down");

    proxy.restore();
    until("LISTEN again", || cache.is_live()).await;
    let mut seen = app.cache.subscribe();
    events::upsert(
        &mut db,
        conn,
        id,
        &[event("e2", at(day, 14, 0), at(day, 15, 0))],
    )
    .await
    .unwrap();
    notified(&mut seen, id).await;
    let back = starts(&app, id, day).await;
    assert!(!has(&back, "10:00") && !has(&back, "14:00"), "{back:?}");
    assert_eq!(starts(&app, id, day).await, back);
    assert!(app.cache.stats().hits > during.hits, "cached again");
}
