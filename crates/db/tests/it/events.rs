//! `external_events`: idempotent upserts, full-sync replacement, the blocking query
//! availability is built on, and cleanup of old events.

use crate::support::{conn, connection, specialist, test_db, within};
use calsync_core::{AppointmentId, EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment, STATUS_CONFIRMED};
use calsync_db::events::{self, BusyRow, EventRow};
use calsync_db::DbConn;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, day, hour, 0, 0)
        .single()
        .expect("valid time")
}

fn event(id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> ExternalEvent {
    ExternalEvent {
        provider_event_id: id.to_owned(),
        ical_uid: Some(format!("{id}@example.com")),
        starts_at: from,
        ends_at: to,
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: false,
        appointment_id: None,
        title: Some(format!("title {id}")),
        provider_updated_at: Some(from - Duration::days(1)),
    }
}

async fn stored(c: &mut DbConn, connection_id: Uuid) -> Vec<EventRow> {
    within("reading events", events::for_connection(c, connection_id))
        .await
        .expect("events")
}

fn ids(rows: &[EventRow]) -> Vec<&str> {
    let mut v: Vec<&str> = rows.iter().map(|r| r.provider_event_id.as_str()).collect();
    v.sort_unstable();
    v
}

/// Row identity and content, without the timestamps the database sets.
fn content(rows: &[EventRow]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {:?}",
                r.id, r.provider_event_id, r.starts_at, r.ends_at, r.status, r.title
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn upserting_the_same_batch_twice_leaves_the_same_rows() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let cid = connection(&mut c, s, "google", "primary").await.id;
    let batch = vec![
        event("a", at(4, 9), at(4, 10)),
        event("b", at(4, 11), at(4, 12)),
        event("c", at(5, 9), at(5, 10)),
    ];

    within("upsert", events::upsert(&mut c, cid, s, &batch))
        .await
        .expect("upsert");
    let first = stored(&mut c, cid).await;
    within("upsert again", events::upsert(&mut c, cid, s, &batch))
        .await
        .expect("upsert");
    let second = stored(&mut c, cid).await;

    assert_eq!(first.len(), 3);
    assert_eq!(
        content(&first),
        content(&second),
        "a redelivered sync changes nothing"
    );

    let mut moved = batch.clone();
    moved[1].starts_at = at(4, 13);
    moved[1].ends_at = at(4, 14);
    moved[1].status = EventStatus::Tentative;
    within("upsert changed", events::upsert(&mut c, cid, s, &moved))
        .await
        .expect("upsert");
    let third = stored(&mut c, cid).await;
    assert_eq!(third.len(), 3, "an update does not add a row");
    let b = third
        .iter()
        .find(|r| r.provider_event_id == "b")
        .expect("b");
    let b_before = first
        .iter()
        .find(|r| r.provider_event_id == "b")
        .expect("b");
    assert_eq!(
        (b.id, b.starts_at, b.status.as_str()),
        (b_before.id, at(4, 13), "tentative")
    );
}

#[tokio::test]
async fn retain_only_replaces_the_stored_set_of_one_connection() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let cid = connection(&mut c, s, "google", "primary").await.id;
    let other = connection(&mut c, s, "google", "work").await.id;
    let batch = vec![
        event("a", at(4, 9), at(4, 10)),
        event("b", at(4, 11), at(4, 12)),
        event("c", at(5, 9), at(5, 10)),
    ];
    within("upsert", events::upsert(&mut c, cid, s, &batch))
        .await
        .expect("upsert");
    within("upsert other", events::upsert(&mut c, other, s, &batch))
        .await
        .expect("upsert");

    let keep = vec!["a".to_owned(), "c".to_owned()];
    let removed = within(
        "retain",
        events::retain_only(&mut c, cid, events::NO_CALENDAR, &keep),
    )
    .await
    .expect("retain");
    assert_eq!(removed, 1);
    assert_eq!(ids(&stored(&mut c, cid).await), ["a", "c"]);

    let removed = within(
        "retain none",
        events::retain_only(&mut c, cid, events::NO_CALENDAR, &[]),
    )
    .await
    .expect("retain");
    assert_eq!(removed, 2, "an empty full result empties the calendar");
    assert!(stored(&mut c, cid).await.is_empty());
    assert_eq!(
        ids(&stored(&mut c, other).await),
        ["a", "b", "c"],
        "other connections are untouched"
    );
}

#[tokio::test]
async fn blocking_between_returns_only_blocking_events_we_did_not_create() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let other_s = specialist(&mut c, "agent-2").await;
    let cid = connection(&mut c, s, "google", "primary").await.id;
    let other_cid = connection(&mut c, other_s, "google", "primary").await.id;

    let mut free = event("free", at(4, 9), at(4, 10));
    free.blocks = false;
    let mut ours = event("ours", at(4, 10), at(4, 11));
    ours.is_soradin_created = true;
    let batch = vec![
        event("busy", at(4, 12), at(4, 13)),
        free,
        ours,
        event("ends-at-from", at(4, 7), at(4, 8)),
        event("starts-at-to", at(4, 18), at(4, 19)),
        event("spans", at(3, 0), at(5, 0)),
    ];
    within("upsert", events::upsert(&mut c, cid, s, &batch))
        .await
        .expect("upsert");
    within(
        "upsert other",
        events::upsert(
            &mut c,
            other_cid,
            other_s,
            &[event("x", at(4, 12), at(4, 13))],
        ),
    )
    .await
    .expect("upsert");

    let mut busy = within(
        "blocking",
        events::blocking_between(&mut c, &[s], at(4, 8), at(4, 18)),
    )
    .await
    .expect("blocking");
    busy.sort_by_key(|b| b.starts_at);
    assert_eq!(
        busy,
        vec![
            BusyRow {
                specialist_id: s,
                starts_at: at(3, 0),
                ends_at: at(5, 0)
            },
            BusyRow {
                specialist_id: s,
                starts_at: at(4, 12),
                ends_at: at(4, 13)
            },
        ],
        "half-open overlap, blocking only, not soradin-created, this specialist only"
    );
    let both = within(
        "blocking",
        events::blocking_between(&mut c, &[s, other_s], at(4, 8), at(4, 18)),
    )
    .await
    .expect("blocking");
    assert_eq!(both.len(), 3);
}

#[tokio::test]
async fn delete_ended_before_keeps_events_linked_to_an_appointment() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let cid = connection(&mut c, s, "google", "primary").await.id;
    let appointment = within(
        "appointment",
        appointments::insert(
            &mut c,
            &NewAppointment {
                id: Uuid::new_v4(),
                specialist_id: s,
                starts_at: at(1, 9),
                ends_at: at(1, 10),
                status: STATUS_CONFIRMED.to_owned(),
                customer: serde_json::json!({}),
            },
        ),
    )
    .await
    .expect("appointment");
    let mut linked = event("linked", at(1, 9), at(1, 10));
    linked.is_soradin_created = true;
    linked.appointment_id = Some(AppointmentId(appointment.id));
    let batch = vec![
        event("old", at(1, 11), at(1, 12)),
        linked,
        event("recent", at(20, 9), at(20, 10)),
    ];
    within("upsert", events::upsert(&mut c, cid, s, &batch))
        .await
        .expect("upsert");

    let deleted = within("cleanup", events::delete_ended_before(&mut c, at(10, 0)))
        .await
        .expect("cleanup");
    assert_eq!(deleted, 1);
    assert_eq!(ids(&stored(&mut c, cid).await), ["linked", "recent"]);
}
