//! A simulated week and a day against the Google sandbox, one scheduler tick per
//! simulated hour, with the worker's manual clock and the sandbox clock moved in step
//! (channels expire by the sandbox clock). Pushes travel the real path: sandbox →
//! webhook-ingest → RabbitMQ → the worker's consumer.
//!
//! Checked every hour: the pushed connection's channel is open and not about to lapse
//! (renewed a day ahead, the old channel stopped only after the new one opened); both
//! connections hold exactly what the sandbox holds. Checked at every change: the pushed
//! connection sees it without a poll. The other connection's channel creation always
//! fails, and polling alone keeps it current.

use crate::support::{eventually, specialist};
use calsync_db::connections::{self, NewConnection};
use calsync_sandboxes::google::{Fault, GoogleState};
use calsync_sync_worker::clock::{Clock, ManualClock};
use calsync_sync_worker::context::WorkerContext;
use calsync_sync_worker::scheduler::Scheduler;
use calsync_testkit::TestEnv;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use secrecy::ExposeSecret;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PUSHED: &str = "pushed@example.com";
const NO_WEBHOOK: &str = "nowebhook@example.com";
const HOURS: i64 = 8 * 24;
const WAIT: StdDuration = StdDuration::from_secs(20);

type Expected = BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)>;

async fn connect_google(ctx: &WorkerContext, specialist: Uuid, user: &str) -> Uuid {
    let google = ctx.clients.google().unwrap();
    let consent = format!("{}&login_hint={user}", google.consent_url("week-test"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http.get(consent).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = google.exchange_code(&code).await.unwrap();
    let mut db = ctx.pool.get().await.unwrap();
    connections::upsert(
        &mut db,
        &NewConnection {
            specialist_id: specialist,
            provider: calsync_core::Provider::Google,
            external_calendar_id: user.into(),
            account_email: Some(user.into()),
            access_token_enc: Some(ctx.cipher.encrypt(tokens.access_token.expose_secret())),
            refresh_token_enc: tokens
                .refresh_token
                .map(|r| ctx.cipher.encrypt(r.expose_secret())),
            token_expires_at: Some(tokens.expires_at),
        },
    )
    .await
    .unwrap()
    .id
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One coworker edit per calendar, cycling insert → move → delete.
fn change(google: &GoogleState, cal: &str, expected: &mut Expected, k: i64, at: DateTime<Utc>) {
    let oldest = expected.keys().next().cloned();
    match (k % 3, oldest) {
        (1, Some(id)) => {
            let (s, e) = expected[&id];
            let (s, e) = (s + Duration::hours(1), e + Duration::hours(1));
            google
                .patch_event(
                    cal,
                    &id,
                    json!({"start": {"dateTime": rfc(s)}, "end": {"dateTime": rfc(e)}}),
                )
                .unwrap();
            expected.insert(id, (s, e));
        }
        (2, Some(id)) => {
            google.delete_event(cal, &id).unwrap();
            expected.remove(&id);
        }
        _ => {
            let (s, e) = (
                at + Duration::days(2),
                at + Duration::days(2) + Duration::minutes(45),
            );
            let body = json!({"summary": format!("meeting {k}"), "start": {"dateTime": rfc(s)}, "end": {"dateTime": rfc(e)}});
            let id = google.insert_event(cal, body).unwrap();
            expected.insert(id, (s, e));
        }
    }
}

async fn matches(ctx: &WorkerContext, id: Uuid, expected: &Expected) -> bool {
    let mut db = ctx.pool.get().await.unwrap();
    let rows = calsync_db::events::for_connection(&mut db, id)
        .await
        .unwrap();
    let got: Expected = rows
        .into_iter()
        .map(|r| (r.provider_event_id, (r.starts_at, r.ends_at)))
        .collect();
    &got == expected
}

/// Waits until every claimed connection was synced at `now` and is idle again.
async fn settle(ctx: &Arc<WorkerContext>, ids: &[Uuid], now: DateTime<Utc>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut db = ctx.pool.get().await.unwrap();
        let mut busy = Vec::new();
        for id in ids {
            let c = connections::get(&mut db, *id).await.unwrap();
            if c.last_sync_attempt_at != Some(now) || c.lease_owner.is_some() || c.sync_pending {
                busy.push((c.id, c.last_sync_attempt_at, c.lease_owner, c.sync_pending));
            }
        }
        if busy.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "claimed connections did not sync at {now}: {busy:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_week_renews_every_webhook_in_time_and_misses_no_change() {
    let mut world = TestEnv::builder()
        .with_google_sandbox()
        .build()
        .await
        .unwrap();
    let google = world.google().state();
    let s = &mut world.settings;
    let ingest_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s.ingest.public_url = format!("http://{}", ingest_listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let ingest =
        calsync_webhook_ingest::IngestServer::build(&world.settings, ingest_listener).unwrap();
    let ingest = tokio::spawn(ingest.run(shutdown.clone()));

    // Rows are due from the database's now(); the clock starts a minute later.
    // Whole seconds: PostgreSQL keeps microseconds, and `settle` compares exactly.
    let start = DateTime::from_timestamp(google.now().timestamp() + 60, 0).unwrap();
    let clock = ManualClock::new(start);
    let server = crate::support::worker_with(&world.settings, &clock);
    let ctx = server.context();
    let worker = tokio::spawn(server.run(shutdown.clone()));
    let agent = specialist(world.pool(), "week-agent", "Europe/Berlin").await;
    let pushed = connect_google(&ctx, agent, PUSHED).await;
    let polled_only = connect_google(&ctx, agent, NO_WEBHOOK).await;
    google.inject(
        Fault::new(400, "badRequest", u32::MAX)
            .only_path_contains(&format!("{NO_WEBHOOK}/events/watch")),
    );
    google.advance_clock(StdDuration::from_secs(60));

    let mut scheduler = Scheduler::new(ctx.clone());
    let (mut exp_pushed, mut exp_polled) = (Expected::new(), Expected::new());
    let mut channels_seen = HashSet::new();
    let (mut seen_by_push, mut min_headroom) = (0, Duration::days(30));
    for hour in 0..=HOURS {
        if hour > 0 {
            if hour % 5 == 0 {
                let k = hour / 5;
                change(&google, PUSHED, &mut exp_pushed, k, clock.now());
                change(&google, NO_WEBHOOK, &mut exp_polled, k, clock.now());
                let what = format!("hour {hour}: the push for change {k}");
                eventually(WAIT, &what, || async {
                    matches(&ctx, pushed, &exp_pushed).await.then_some(())
                })
                .await;
                // The push's sync must let go of the lease before the clock jumps.
                let attempt = connections::get(&mut ctx.pool.get().await.unwrap(), pushed)
                    .await
                    .unwrap()
                    .last_sync_attempt_at;
                settle(&ctx, &[pushed], attempt.unwrap_or(clock.now())).await;
                seen_by_push += 1;
            }
            clock.advance(Duration::hours(1));
            google.advance_clock(StdDuration::from_secs(3600));
        }
        let now = clock.now();
        let report = scheduler.run_once().await.unwrap();
        let polled: HashSet<Uuid> = report.polled.iter().copied().collect();
        if polled != HashSet::from([pushed, polled_only]) {
            let mut db = ctx.pool.get().await.unwrap();
            for id in [pushed, polled_only] {
                let c = connections::get(&mut db, id).await.unwrap();
                eprintln!(
                    "{id} pushed={} next={} last={:?} attempt={:?} pending={} now={now}",
                    id == pushed,
                    c.next_poll_at,
                    c.last_sync_at,
                    c.last_sync_attempt_at,
                    c.sync_pending
                );
            }
        }
        assert_eq!(
            polled,
            HashSet::from([pushed, polled_only]),
            "hour {hour}: both connections are polled hourly"
        );
        let claimed: Vec<Uuid> = polled
            .union(&report.renewals.iter().copied().collect())
            .copied()
            .collect();
        settle(&ctx, &claimed, now).await;

        assert!(
            matches(&ctx, pushed, &exp_pushed).await,
            "hour {hour}: pushed calendar current"
        );
        assert!(
            matches(&ctx, polled_only, &exp_polled).await,
            "hour {hour}: polled calendar current"
        );
        let mut db = ctx.pool.get().await.unwrap();
        let (p, q) = (
            connections::get(&mut db, pushed).await.unwrap(),
            connections::get(&mut db, polled_only).await.unwrap(),
        );
        let (pk, qk) = (
            calsync_db::calendars::list(&mut db, pushed)
                .await
                .unwrap()
                .remove(0),
            calsync_db::calendars::list(&mut db, polled_only)
                .await
                .unwrap()
                .remove(0),
        );
        drop(db);
        assert!(
            p.last_error.is_none() && q.last_error.is_none(),
            "hour {hour}: syncs succeed: {:?} {:?}",
            p.last_error,
            q.last_error
        );
        assert_eq!(
            q.last_sync_at,
            Some(now),
            "hour {hour}: polling keeps the webhook-less connection current"
        );
        assert!(
            qk.webhook_channel_id.is_none() && qk.webhook_last_error.is_some(),
            "hour {hour}: its channel keeps failing"
        );

        let channel = pk
            .webhook_channel_id
            .clone()
            .unwrap_or_else(|| panic!("hour {hour}: pushed connection has no channel"));
        let open = google
            .channels()
            .into_iter()
            .find(|c| c.id == channel)
            .unwrap();
        let headroom = open.expiration - google.now();
        assert!(!open.stopped, "hour {hour}: the stored channel is open");
        assert!(
            headroom > Duration::hours(12),
            "hour {hour}: channel renewed well before expiry ({headroom})"
        );
        min_headroom = min_headroom.min(headroom);
        channels_seen.insert(channel);
    }
    assert!(
        channels_seen.len() >= 2,
        "the week forced at least one renewal: {channels_seen:?}"
    );
    let current = connection_channel(&ctx, pushed).await;
    for c in google.channels() {
        assert_ne!(
            c.calendar_id, NO_WEBHOOK,
            "no channel was ever opened for the failing connection"
        );
        assert_eq!(
            c.stopped,
            c.id != current,
            "old channels are stopped once replaced, the current one is open"
        );
    }
    assert_eq!(
        ctx.metrics
            .webhooks
            .with_label_values(&["google", "active"])
            .get(),
        1
    );
    assert_eq!(
        ctx.metrics
            .webhooks
            .with_label_values(&["google", "missing"])
            .get(),
        1
    );
    eprintln!(
        "week: {HOURS} hourly ticks, {seen_by_push} changes seen by push, {} channels, min headroom {min_headroom}",
        channels_seen.len()
    );

    world.wait_for_empty_work_queue(WAIT).await.unwrap();
    shutdown.cancel();
    tokio::time::timeout(WAIT, worker)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    tokio::time::timeout(WAIT, ingest)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    world.stop_sandboxes().await;
}

async fn connection_channel(ctx: &WorkerContext, id: Uuid) -> String {
    let mut db = ctx.pool.get().await.unwrap();
    calsync_db::calendars::primary(&mut db, id)
        .await
        .unwrap()
        .and_then(|k| k.webhook_channel_id)
        .unwrap_or_default()
}
