//! What availability reads: busy time bounded to the window (long events and
//! appointments included), the three pipelined statements, and connection health.

use crate::support::{conn, connection, specialist, test_db, within};
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment, STATUS_CANCELLED, STATUS_CONFIRMED};
use calsync_db::availability::{self, BusyRow};
use calsync_db::connections::{self, FailureKind, SyncSuccess};
use calsync_db::{events, specialists};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use uuid::Uuid;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 4, day, hour, 0, 0)
        .single()
        .expect("valid time")
}

fn event(id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> ExternalEvent {
    ExternalEvent {
        provider_event_id: id.to_owned(),
        ical_uid: None,
        starts_at: from,
        ends_at: to,
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: false,
        appointment_id: None,
        title: Some(format!("title {id}")),
        provider_updated_at: None,
    }
}

fn appointment(specialist_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> NewAppointment {
    NewAppointment {
        id: Uuid::new_v4(),
        specialist_id,
        starts_at: from,
        ends_at: to,
        status: STATUS_CONFIRMED.to_owned(),
        customer: serde_json::json!({}),
    }
}

#[tokio::test]
async fn busy_time_includes_a_long_holiday_begun_before_the_window_and_confirmed_appointments() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-busy").await;
    let cid = connection(&mut c, s, "google", "primary").await.id;
    let batch = vec![
        event("holiday", at(1, 0), at(20, 0)),
        event("ended-long-ago", at(1, 9), at(1, 10)),
        event("two-day-trip", at(8, 12), at(10, 12)),
        event("inside", at(10, 14), at(10, 15)),
        event("after", at(11, 9), at(11, 10)),
    ];
    within("upsert", events::upsert(&mut c, cid, s, &batch))
        .await
        .expect("upsert");
    let mut cancelled = appointment(s, at(10, 9), at(10, 10));
    cancelled.status = STATUS_CANCELLED.to_owned();
    for a in [
        appointment(s, at(9, 23), at(10, 1)),
        appointment(s, at(10, 11), at(10, 12)),
        cancelled,
    ] {
        within("appointment", appointments::insert(&mut c, &a))
            .await
            .expect("appointment");
    }

    let mut busy = within(
        "busy",
        availability::busy_between(&mut c, &[s], at(10, 0), at(11, 0)),
    )
    .await
    .expect("busy");
    busy.sort_by_key(|b| (b.starts_at, b.ends_at));
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        busy.iter().map(|b| (b.starts_at, b.ends_at)).collect();
    assert_eq!(
        spans,
        vec![
            (at(1, 0), at(20, 0)),
            (at(8, 12), at(10, 12)),
            (at(9, 23), at(10, 1)),
            (at(10, 11), at(10, 12)),
            (at(10, 14), at(10, 15)),
        ]
    );
    assert!(busy.iter().all(|b| b.specialist_id == s));
}

#[tokio::test]
async fn an_appointment_longer_than_a_day_is_refused_by_the_database() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-long").await;
    let err = within(
        "insert",
        appointments::insert(&mut c, &appointment(s, at(2, 9), at(3, 10))),
    )
    .await
    .expect_err("refused");
    assert!(err.is_constraint("appointments_length_check"), "{err:?}");
}

#[tokio::test]
async fn the_three_reads_run_pipelined_on_one_connection() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let nine = NaiveTime::from_hms_opt(9, 0, 0).expect("time");
    let five = NaiveTime::from_hms_opt(17, 0, 0).expect("time");
    let hours = [calsync_core::WorkingHours {
        weekday: 1,
        start: nine,
        end: five,
    }];
    let s = specialists::upsert(&mut c, "agent-p", "Agent", "Europe/Berlin", &hours)
        .await
        .expect("specialist");
    let bare = specialist(&mut c, "agent-bare").await;
    connection(&mut c, s, "ics", "https://example.com/a.ics").await;
    let unknown = Uuid::new_v4();
    let ids = [s, bare, unknown];
    let (people, health, busy) = within("pipelined reads", async {
        futures::try_join!(
            availability::specialists_with_hours(&mut c, &ids),
            availability::connection_health(&mut c, &ids),
            availability::busy_between(&mut c, &ids, at(1, 0), at(2, 0)),
        )
    })
    .await
    .expect("reads");
    let mut people: Vec<_> = people
        .into_iter()
        .map(|r| (r.specialist_id == s, r.weekday, r.start_time))
        .collect();
    people.sort();
    assert_eq!(
        people,
        vec![(false, None, None), (true, Some(1), Some(nine))],
        "one row per block, one bare row for a specialist without hours, none for unknown ids"
    );
    assert_eq!(health.len(), 1);
    assert!(health[0].last_sync_at.is_none() && !health[0].last_error_permanent);
    assert_eq!(busy, Vec::<BusyRow>::new());
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_as_such_and_cleared_by_a_success() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-f").await;
    let id = connection(&mut c, s, "ics", "https://example.com/f.ics")
        .await
        .id;
    let now = Utc::now();
    let health = |c: &mut calsync_db::DbConn| {
        let f = availability::connection_health(c, &[s]);
        async move { f.await.map(|h| h[0]) }
    };
    connections::record_failure(&mut c, id, "refused", FailureKind::Permanent, now, now)
        .await
        .expect("failure");
    let h = health(&mut c).await.expect("health");
    assert!(h.last_error_permanent && !h.needs_reauth);

    connections::record_failure(&mut c, id, "timeout", FailureKind::Transient, now, now)
        .await
        .expect("failure");
    assert!(!health(&mut c).await.expect("health").last_error_permanent);

    connections::record_failure(&mut c, id, "revoked", FailureKind::NeedsReauth, now, now)
        .await
        .expect("failure");
    let h = health(&mut c).await.expect("health");
    assert!(h.last_error_permanent && h.needs_reauth);

    connections::record_success(&mut c, id, &SyncSuccess::default(), now, now)
        .await
        .expect("success");
    let h = health(&mut c).await.expect("health");
    assert!(!h.last_error_permanent && h.last_sync_at.is_some());
}
