//! `connection_calendars`: the primary calendar by default, the agent's choice (events
//! of a calendar that stops blocking go at once), the write target, and the event key
//! that includes the calendar.

use crate::support::{conn, connection, specialist, test_db, within};
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::calendars::{self, Known};
use calsync_db::events;
use chrono::{Duration, TimeZone, Utc};

fn meeting(id: &str) -> ExternalEvent {
    let from = Utc
        .with_ymd_and_hms(2030, 3, 4, 10, 0, 0)
        .single()
        .expect("valid time");
    ExternalEvent {
        provider_event_id: id.to_owned(),
        ical_uid: None,
        starts_at: from,
        ends_at: from + Duration::hours(1),
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: false,
        appointment_id: None,
        title: None,
        provider_updated_at: None,
    }
}

#[tokio::test]
async fn an_oauth_connection_starts_with_its_primary_calendar_blocking_and_receiving() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let ics = connection(&mut c, s, "ics", "https://feed").await.id;
    // Reconnecting keeps the row (and would keep the agent's choices).
    connection(&mut c, s, "google", "primary").await;

    let cals = within("list", calendars::list(&mut c, id))
        .await
        .expect("list");
    assert_eq!(cals.len(), 1, "{cals:?}");
    assert!(cals[0].is_primary && cals[0].blocking && cals[0].write_to);
    assert_eq!(cals[0].calendar_id, "primary");
    let target = within("write target", calendars::write_target(&mut c, id))
        .await
        .expect("target");
    assert_eq!(target.as_deref(), Some("primary"));
    let none = within("ics", calendars::list(&mut c, ics))
        .await
        .expect("list");
    assert!(none.is_empty(), "an ICS feed has no calendars");
}

#[tokio::test]
async fn a_meeting_in_two_calendars_is_stored_twice_and_a_released_calendar_loses_its_events() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let known = [
        Known {
            calendar_id: "primary",
            name: "Agent",
            is_primary: true,
        },
        Known {
            calendar_id: "team@group",
            name: "Team",
            is_primary: false,
        },
    ];
    let now = Utc::now();
    let released = within(
        "choose both",
        calendars::choose(
            &mut c,
            id,
            &known,
            &["primary", "team@group"],
            "team@group",
            now,
        ),
    )
    .await
    .expect("choose");
    assert!(released.is_empty());
    let target = within("target", calendars::write_target(&mut c, id))
        .await
        .expect("target");
    assert_eq!(target.as_deref(), Some("team@group"), "one write target");

    // Google gives an invited meeting the same id in both calendars.
    for cal in ["primary", "team@group"] {
        within(
            "upsert",
            events::upsert_in(&mut c, id, cal, s, &[meeting("invite-1")]),
        )
        .await
        .expect("upsert");
    }
    let rows = within("events", events::for_connection(&mut c, id))
        .await
        .expect("events");
    assert_eq!(rows.len(), 2, "one row per calendar: {rows:?}");

    let released = within(
        "choose primary only",
        calendars::choose(&mut c, id, &known, &["primary"], "primary", now),
    )
    .await
    .expect("choose");
    assert_eq!(released, vec!["team@group".to_owned()]);
    let rows = within("events", events::for_connection(&mut c, id))
        .await
        .expect("events");
    assert_eq!(
        rows.iter()
            .map(|r| r.calendar_id.as_str())
            .collect::<Vec<_>>(),
        vec!["primary"],
        "the released calendar's events are gone"
    );
    let cals = within("list", calendars::list(&mut c, id))
        .await
        .expect("list");
    let team = cals
        .iter()
        .find(|k| k.calendar_id == "team@group")
        .expect("team row kept");
    assert!(!team.blocking && !team.write_to && team.sync_cursor.is_none());
    assert_eq!(team.name, "Team");
    let blocking = within("blocking", calendars::blocking(&mut c, id))
        .await
        .expect("blocking");
    assert_eq!(blocking.len(), 1);
}

#[tokio::test]
async fn a_calendar_gone_at_the_provider_stops_blocking_and_loses_its_events() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "microsoft", "primary").await.id;
    let known = [Known {
        calendar_id: "AAMk-team",
        name: "Team",
        is_primary: false,
    }];
    within(
        "choose",
        calendars::choose(
            &mut c,
            id,
            &known,
            &["primary", "AAMk-team"],
            "primary",
            Utc::now(),
        ),
    )
    .await
    .expect("choose");
    within(
        "upsert",
        events::upsert_in(&mut c, id, "AAMk-team", s, &[meeting("m-1")]),
    )
    .await
    .expect("upsert");
    within(
        "release",
        calendars::release_gone(&mut c, id, "AAMk-team", "gone", Utc::now()),
    )
    .await
    .expect("release");
    let blocking = within("blocking", calendars::blocking(&mut c, id))
        .await
        .expect("blocking");
    assert_eq!(
        blocking
            .iter()
            .map(|k| k.calendar_id.as_str())
            .collect::<Vec<_>>(),
        vec!["primary"]
    );
    let rows = within("events", events::for_connection(&mut c, id))
        .await
        .expect("events");
    assert!(rows.is_empty(), "{rows:?}");
}
