//! The daily cleanup deletes exactly the external events that ended more than 30 days
//! ago and are not linked to an appointment.

use crate::support::{connect, specialist, worker_with};
use calsync_core::{AppointmentId, EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment, STATUS_CONFIRMED};
use calsync_db::events;
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::scheduler::Scheduler;
use calsync_testkit::TestEnv;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

fn event(id: &str, ended: DateTime<Utc>, appointment: Option<Uuid>) -> ExternalEvent {
    ExternalEvent {
        provider_event_id: id.to_owned(),
        ical_uid: None,
        starts_at: ended - Duration::hours(1),
        ends_at: ended,
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: appointment.is_some(),
        appointment_id: appointment.map(AppointmentId),
        title: None,
        provider_updated_at: None,
    }
}

#[tokio::test]
async fn cleanup_removes_exactly_the_old_unlinked_events_and_keeps_linked_and_recent_ones() {
    let world = TestEnv::new().await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let clock = ManualClock::new(now);
    let ctx = worker_with(&world.settings, &clock).context();
    let agent = specialist(world.pool(), "cleanup-agent", "UTC").await;
    let a = connect(world.pool(), agent, "ics", "https://example.com/a.ics").await;
    let b = connect(world.pool(), agent, "ics", "https://example.com/b.ics").await;
    let mut db = ctx.pool.get().await.unwrap();
    let booking = appointments::insert(
        &mut db,
        &NewAppointment {
            id: Uuid::new_v4(),
            specialist_id: agent,
            starts_at: now - Duration::days(41),
            ends_at: now - Duration::days(40),
            status: STATUS_CONFIRMED.to_owned(),
            customer: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    let old = |d: i64| now - Duration::days(d);
    events::upsert(
        &mut db,
        a.id,
        agent,
        &[
            event("old", old(31), None),
            event("ancient", old(400), None),
            event("linked", old(40), Some(booking.id)),
            event("recent", old(29), None),
            event("future", now + Duration::days(3), None),
        ],
    )
    .await
    .unwrap();
    events::upsert(
        &mut db,
        b.id,
        agent,
        &[
            event("old-b", old(30) - Duration::minutes(1), None),
            event("edge-b", old(30) + Duration::minutes(1), None),
        ],
    )
    .await
    .unwrap();
    drop(db);

    let mut scheduler = Scheduler::new(ctx.clone());
    assert_eq!(scheduler.run_once().await.unwrap().cleaned, 3);
    let ids = |rows: Vec<events::EventRow>| {
        rows.into_iter()
            .map(|r| r.provider_event_id)
            .collect::<Vec<_>>()
    };
    let mut db = ctx.pool.get().await.unwrap();
    assert_eq!(
        ids(events::for_connection(&mut db, a.id).await.unwrap()),
        ["linked", "recent", "future"]
    );
    assert_eq!(
        ids(events::for_connection(&mut db, b.id).await.unwrap()),
        ["edge-b"]
    );

    clock.advance(Duration::hours(23));
    assert_eq!(
        scheduler.run_once().await.unwrap().cleaned,
        0,
        "cleanup runs once a day"
    );
    clock.advance(Duration::hours(2));
    assert_eq!(
        scheduler.run_once().await.unwrap().cleaned,
        2,
        "a day later the edge and the recent events are old too"
    );
    assert_eq!(
        ids(events::for_connection(&mut db, b.id).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(events::for_connection(&mut db, a.id).await.unwrap()),
        ["linked", "future"]
    );
}
