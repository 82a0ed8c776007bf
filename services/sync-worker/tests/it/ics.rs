//! ICS connections end to end: a feed served on loopback, fetched with conditional GET,
//! expanded in the specialist's zone and stored; 304s keep events, changes follow, a
//! broken feed is recorded and never empties the calendar.

use crate::support::{connect, connection, eventually, specialist, stored, worker_with};
use calsync_sandboxes::ics::IcsFeedServer;
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::handler::drive;
use calsync_sync_worker::scheduler::Scheduler;
use calsync_testkit::TestEnv;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::time::Duration as StdDuration;
use tokio_util::sync::CancellationToken;

const PATH: &str = "/agent.ics";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

fn at(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap()
}

fn calendar(events: &[&str]) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calsync tests//EN",
    ];
    let body: Vec<&str> = events
        .iter()
        .flat_map(|e| e.lines())
        .map(str::trim)
        .collect();
    lines.extend(body);
    lines.push("END:VCALENDAR");
    lines.join("\r\n") + "\r\n"
}

const WEEKLY: &str = "BEGIN:VEVENT
    UID:weekly@test
    DTSTAMP:20260301T000000Z
    DTSTART;TZID=Europe/Berlin:20260303T100000
    DTEND;TZID=Europe/Berlin:20260303T110000
    RRULE:FREQ=WEEKLY;COUNT=4
    SUMMARY:Standup
    END:VEVENT";
const WEEKLY_EDITED: &str = "BEGIN:VEVENT
    UID:weekly@test
    DTSTAMP:20260301T000000Z
    DTSTART;TZID=Europe/Berlin:20260303T100000
    DTEND;TZID=Europe/Berlin:20260303T110000
    RRULE:FREQ=WEEKLY;COUNT=4
    EXDATE;TZID=Europe/Berlin:20260317T100000
    SUMMARY:Standup
    END:VEVENT
    BEGIN:VEVENT
    UID:weekly@test
    DTSTAMP:20260301T000000Z
    RECURRENCE-ID;TZID=Europe/Berlin:20260310T100000
    DTSTART;TZID=Europe/Berlin:20260310T120000
    DTEND;TZID=Europe/Berlin:20260310T130000
    SUMMARY:Standup (moved)
    END:VEVENT";
const SINGLE: &str = "BEGIN:VEVENT
    UID:single@test
    DTSTAMP:20260301T000000Z
    DTSTART:20260305T140000Z
    DTEND:20260305T150000Z
    SUMMARY:Dentist
    END:VEVENT";
const FREE: &str = "BEGIN:VEVENT
    UID:free@test
    DTSTAMP:20260301T000000Z
    DTSTART:20260306T080000Z
    DTEND:20260306T090000Z
    TRANSP:TRANSPARENT
    SUMMARY:Maybe lunch
    END:VEVENT";

struct Feed {
    world: TestEnv,
    clock: ManualClock,
}

async fn feed(body: &str) -> Feed {
    let world = TestEnv::builder().with_ics_server().build().await.unwrap();
    world.ics().set_feed(PATH, body);
    Feed {
        world,
        clock: ManualClock::new(start()),
    }
}

#[tokio::test]
async fn a_feed_is_stored_then_answered_304_and_kept_and_then_moves_and_removals_follow() {
    let f = feed(&calendar(&[WEEKLY, SINGLE, FREE])).await;
    let ctx = worker_with(&f.world.settings, &f.clock).context();
    let agent = specialist(f.world.pool(), "ics-agent", "Europe/Berlin").await;
    let c = connect(f.world.pool(), agent, "ics", &f.server().url(PATH)).await;

    assert_eq!(drive(&ctx, c.id).await.unwrap(), 1);
    let first = stored(f.world.pool(), c.id).await;
    let starts: Vec<_> = first
        .iter()
        .map(|r| r.1)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        starts,
        [
            at(3, 9),
            at(5, 14),
            at(6, 8),
            at(10, 9),
            at(17, 9),
            at(24, 9)
        ],
        "10:00 Berlin is 09:00 UTC before the DST change"
    );
    let mut db = ctx.pool.get().await.unwrap();
    let rows = calsync_db::events::for_connection(&mut db, c.id)
        .await
        .unwrap();
    drop(db);
    let free = rows
        .iter()
        .find(|r| r.ical_uid.as_deref() == Some("free@test"))
        .unwrap();
    assert!(
        !free.blocks_availability,
        "TRANSPARENT is stored but does not block"
    );
    let dentist = rows
        .iter()
        .find(|r| r.ical_uid.as_deref() == Some("single@test"))
        .unwrap();
    assert!(dentist.blocks_availability);
    assert_eq!(dentist.title.as_deref(), Some("Dentist"));
    let row = connection(&ctx, c.id).await;
    assert!(
        row.ics_etag.is_some() && row.ics_last_modified.is_some(),
        "validators are kept"
    );
    assert_eq!(row.last_sync_at, Some(start()));
    let wait = row.next_poll_at - start();
    assert!(
        wait >= Duration::minutes(9) && wait <= Duration::minutes(11),
        "next poll in the ICS interval ± 10 %: {wait}"
    );

    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    assert_eq!(f.server().requests(PATH), 2);
    assert_eq!(
        f.server().not_modified(PATH),
        1,
        "the second fetch is conditional and answered 304"
    );
    assert_eq!(
        stored(f.world.pool(), c.id).await,
        first,
        "a 304 keeps the events"
    );
    let row = connection(&ctx, c.id).await;
    assert_eq!(
        row.last_sync_at,
        Some(start() + Duration::minutes(10)),
        "a 304 is a successful sync"
    );
    assert!(row.last_error.is_none());

    f.server().set_feed(PATH, calendar(&[WEEKLY_EDITED, FREE]));
    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    let after = stored(f.world.pool(), c.id).await;
    let starts: Vec<_> = after
        .iter()
        .map(|r| r.1)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        starts,
        [at(3, 9), at(6, 8), at(10, 11), at(24, 9)],
        "moved, excluded and removed instances follow"
    );
    let id_of = |rows: &[(String, DateTime<Utc>, DateTime<Utc>)], t| {
        rows.iter().find(|r| r.1 == t).unwrap().0.clone()
    };
    assert_eq!(
        id_of(&after, at(10, 11)),
        id_of(&first, at(10, 9)),
        "a moved instance keeps its identity"
    );
    assert_eq!(f.server().not_modified(PATH), 1);
}

#[tokio::test]
async fn a_broken_feed_is_recorded_on_the_connection_and_keeps_the_last_good_events() {
    let f = feed(&calendar(&[WEEKLY, SINGLE])).await;
    let ctx = worker_with(&f.world.settings, &f.clock).context();
    let agent = specialist(f.world.pool(), "ics-agent", "Europe/Berlin").await;
    let c = connect(f.world.pool(), agent, "ics", &f.server().url(PATH)).await;
    drive(&ctx, c.id).await.unwrap();
    let good = stored(f.world.pool(), c.id).await;
    assert_eq!(good.len(), 5);

    f.server().serve_garbage(PATH);
    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    let row = connection(&ctx, c.id).await;
    let error = row.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("could not be parsed"),
        "clear message: {error}"
    );
    assert_eq!(row.consecutive_failures, 1);
    assert_eq!(row.last_sync_at, Some(start()), "the failure is not a sync");
    assert_eq!(
        stored(f.world.pool(), c.id).await,
        good,
        "garbage never empties the calendar"
    );

    f.server().fail(PATH, 500);
    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    let row = connection(&ctx, c.id).await;
    let error = row.last_error.clone().unwrap_or_default();
    assert!(error.contains("500"), "the status is named: {error}");
    assert_eq!(row.consecutive_failures, 2);
    assert!(
        row.next_poll_at - f.clock_now() <= Duration::minutes(4),
        "failures are retried sooner: {:?}",
        row.next_poll_at
    );
    assert_eq!(stored(f.world.pool(), c.id).await, good);

    f.server().heal(PATH);
    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    let row = connection(&ctx, c.id).await;
    assert!(
        row.last_error.is_none() && row.consecutive_failures == 0,
        "a healed feed clears the error"
    );
    assert_eq!(
        f.server().not_modified(PATH),
        1,
        "the stored validators survive failures"
    );
    assert_eq!(stored(f.world.pool(), c.id).await, good);
}

#[tokio::test]
async fn a_feed_asking_for_12_hours_is_polled_at_the_configured_interval_and_its_hint_kept() {
    let asks_12h = "REFRESH-INTERVAL;VALUE=DURATION:PT12H";
    let f = feed(&calendar(&[asks_12h, SINGLE])).await;
    let ctx = worker_with(&f.world.settings, &f.clock).context();
    let agent = specialist(f.world.pool(), "ics-agent", "UTC").await;
    let c = connect(f.world.pool(), agent, "ics", &f.server().url(PATH)).await;

    drive(&ctx, c.id).await.unwrap();
    let row = connection(&ctx, c.id).await;
    assert_eq!(row.ics_refresh_interval_secs, Some(12 * 3600));
    let wait = row.next_poll_at - start();
    assert!(
        wait >= Duration::minutes(9) && wait <= Duration::minutes(11),
        "the configured 10 minutes (± 10 %), not the feed's 12 hours: {wait}"
    );

    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    assert_eq!(f.server().not_modified(PATH), 1);
    let row = connection(&ctx, c.id).await;
    assert_eq!(
        row.ics_refresh_interval_secs,
        Some(12 * 3600),
        "a 304 keeps the hint"
    );

    f.server().set_feed(PATH, calendar(&[SINGLE, FREE]));
    f.clock.advance(Duration::minutes(10));
    drive(&ctx, c.id).await.unwrap();
    let row = connection(&ctx, c.id).await;
    assert_eq!(
        row.ics_refresh_interval_secs, None,
        "a feed that stops asking clears the hint"
    );
}

impl Feed {
    fn server(&self) -> &IcsFeedServer {
        self.world.ics()
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use calsync_sync_worker::clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn a_loopback_feed_is_refused_when_the_host_is_not_allowed() {
    let mut f = feed(&calendar(&[SINGLE])).await;
    f.world.settings.ics.allow_hosts.clear();
    let ctx = worker_with(&f.world.settings, &f.clock).context();
    let agent = specialist(f.world.pool(), "ics-agent", "UTC").await;
    let c = connect(f.world.pool(), agent, "ics", &f.server().url(PATH)).await;
    drive(&ctx, c.id).await.unwrap();
    let error = connection(&ctx, c.id).await.last_error.unwrap_or_default();
    assert!(error.contains("refused"), "SSRF guard named: {error}");
    assert_eq!(f.server().requests(PATH), 0, "nothing reached the host");
    assert!(stored(f.world.pool(), c.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_polls_ics_feeds_through_the_queue_on_their_own_interval() {
    // New rows are due from the database's now(): the clock starts a minute later.
    let now = Utc::now();
    let tomorrow = (now + Duration::days(1))
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let event =
        format!("BEGIN:VEVENT\nUID:soon@test\nDTSTART:{tomorrow}\nDURATION:PT1H\nEND:VEVENT");
    let mut f = feed(&calendar(&[&event])).await;
    f.clock = ManualClock::new(now + Duration::minutes(1));
    f.world.settings.ics.poll_interval_secs = 3600;
    f.world.settings.worker.poll_interval_secs = 600;
    let server = worker_with(&f.world.settings, &f.clock);
    let ctx = server.context();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));
    let agent = specialist(f.world.pool(), "ics-agent", "UTC").await;
    let c = connect(f.world.pool(), agent, "ics", &f.server().url(PATH)).await;
    let mut scheduler = Scheduler::new(ctx.clone());

    let synced = |n: i64| {
        let ctx = ctx.clone();
        move || {
            let ctx = ctx.clone();
            async move {
                let row = connection(&ctx, c.id).await;
                (row.sync_count >= n && row.lease_owner.is_none()).then_some(row)
            }
        }
    };
    assert_eq!(scheduler.run_once().await.unwrap().polled, [c.id]);
    let row = eventually(StdDuration::from_secs(15), "the first poll", synced(1)).await;
    let wait = row.next_poll_at - (now + Duration::minutes(1));
    assert!(
        wait >= Duration::minutes(54) && wait <= Duration::minutes(66),
        "ICS interval, jittered: {wait}"
    );
    assert_eq!(stored(f.world.pool(), c.id).await.len(), 1);

    f.clock.advance(Duration::minutes(30));
    assert!(
        scheduler.run_once().await.unwrap().polled.is_empty(),
        "not due at the worker's 10-minute interval"
    );
    f.clock.advance(Duration::minutes(40));
    assert_eq!(scheduler.run_once().await.unwrap().polled, [c.id]);
    eventually(StdDuration::from_secs(15), "the second poll", synced(2)).await;
    assert_eq!(f.server().not_modified(PATH), 1);

    f.world
        .wait_for_empty_work_queue(StdDuration::from_secs(15))
        .await
        .unwrap();
    shutdown.cancel();
    tokio::time::timeout(StdDuration::from_secs(15), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
