//! The availability benchmark's two halves (driven by `scripts/bench-availability.sh`):
//!
//! - `bench_availability plans`: a throw-away database with 1,000,000 external events
//!   (`BENCH_PLAN_EVENTS`) of 100,000 specialists over 400 days, plus holidays,
//!   appointments and one busy specialist; prints `EXPLAIN (ANALYZE, BUFFERS)` of the three statements
//!   availability runs, exactly as built by `calsync_db::availability`, for one
//!   specialist over 30 days and for 500 over 14 days; drops the database.
//! - `bench_availability` (serve): the seed of issue 13 — one specialist with 500
//!   external events and 100 appointments over 30 days, 500 specialists with 40 events
//!   each over 14 days — and two api servers on it, rate limit off: one without the
//!   availability cache (every request reads the database, as before it existed) and one
//!   with it. Prints the request lines the script feeds to wrk (`CACHED_…` for the
//!   second), then serves until Ctrl-C or `BENCH_SECONDS` (600).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_api::ApiServer;
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment};
use calsync_db::connections::{self, NewConnection, SyncSuccess};
use calsync_db::{availability, events, specialists, AsyncPgConnection};
use calsync_runtime::Settings;
use calsync_testkit::{TestBroker, TestDatabase};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn next_week_monday() -> DateTime<Utc> {
    let today = Utc::now().date_naive() + Duration::days(7);
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    Utc.from_utc_datetime(&monday.and_time(NaiveTime::MIN))
}

async fn seed_specialist(
    conn: &mut AsyncPgConnection,
    user: &str,
    start: DateTime<Utc>,
    days: i64,
    n_events: i64,
    n_appointments: i64,
) -> anyhow::Result<Uuid> {
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    let six = NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default();
    let hours: Vec<_> = (1..=5)
        .map(|weekday| calsync_core::WorkingHours {
            weekday,
            start: nine,
            end: six,
        })
        .collect();
    let id = specialists::upsert(conn, user, user, "Europe/Berlin", &hours).await?;
    let c = connections::upsert(
        conn,
        &NewConnection {
            specialist_id: id,
            provider: calsync_core::Provider::Google,
            external_calendar_id: "primary".into(),
            account_email: None,
            access_token_enc: None,
            refresh_token_enc: None,
            token_expires_at: None,
        },
    )
    .await?;
    // Synced a moment ago: the calendars are fresh, as in production.
    let now = Utc::now();
    connections::record_success(conn, c.id, &SyncSuccess::default(), now, now).await?;
    let evs: Vec<ExternalEvent> = (0..n_events)
        .map(|i| {
            // Spread over the window: a 30-minute meeting every few hours of each day.
            let at = start
                + Duration::minutes(i * days * 24 * 60 / n_events.max(1))
                + Duration::hours(8);
            ExternalEvent {
                provider_event_id: format!("e{i}"),
                ical_uid: None,
                starts_at: at,
                ends_at: at + Duration::minutes(30),
                all_day: false,
                status: EventStatus::Confirmed,
                blocks: i % 10 != 0,
                is_soradin_created: false,
                appointment_id: None,
                title: Some(format!("Meeting {i}")),
                provider_updated_at: None,
            }
        })
        .collect();
    events::upsert(conn, c.id, id, &evs).await?;
    for i in 0..n_appointments {
        let at = start
            + Duration::minutes(i * days * 24 * 60 / n_appointments.max(1))
            + Duration::hours(13);
        let _ = appointments::insert(
            conn,
            &NewAppointment {
                id: Uuid::new_v4(),
                specialist_id: id,
                starts_at: at,
                ends_at: at + Duration::minutes(45),
                status: "confirmed".into(),
                customer: serde_json::json!({"name": format!("c{i}")}),
            },
        )
        .await;
    }
    Ok(id)
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// 1,000,000 events (by default) in a database of their own, and the plans.
async fn plans() -> anyhow::Result<()> {
    let total: i64 = std::env::var("BENCH_PLAN_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let specialists_n: i64 = 100_000;
    let per = (total / specialists_n).max(1);
    let db = TestDatabase::new().await?;
    let mut conn = db.pool().get().await?;
    let started = std::time::Instant::now();
    // Each specialist: events evenly over 400 days from 30 days ago, 30 to 75 minutes
    // long, one in ten not blocking; a 20-day holiday begun 5 days ago; two appointments.
    // One of them (u1) is busy: 500 more events and 100 appointments over the next 30 days.
    let seed = format!(
        "SET statement_timeout = 0;
         INSERT INTO specialists (id, user_id, display_name, time_zone)
           SELECT gen_random_uuid(), 'u' || i, 'U' || i, 'Europe/Berlin' FROM generate_series(1, {specialists_n}) i;
         INSERT INTO availability_rules (specialist_id, weekday, start_time, end_time)
           SELECT s.id, d, '09:00', '18:00' FROM specialists s, generate_series(1, 5) d;
         INSERT INTO calendar_connections (id, specialist_id, provider, external_calendar_id, last_sync_at)
           SELECT gen_random_uuid(), id, 'google', 'primary', now() FROM specialists;
         INSERT INTO external_events (connection_id, specialist_id, provider_event_id, starts_at, ends_at, status, blocks_availability)
           SELECT c.id, c.specialist_id, 'e' || g,
                  date_trunc('day', now()) - interval '30 days' + g * (interval '400 days' / {per}),
                  date_trunc('day', now()) - interval '30 days' + g * (interval '400 days' / {per}) + (30 + g % 4 * 15) * interval '1 minute',
                  'confirmed', g % 10 <> 0
             FROM calendar_connections c, generate_series(1, {per}) g;
         INSERT INTO external_events (connection_id, specialist_id, provider_event_id, starts_at, ends_at, status, blocks_availability)
           SELECT c.id, c.specialist_id, 'holiday', date_trunc('day', now()) - interval '5 days',
                  date_trunc('day', now()) + interval '15 days', 'confirmed', true
             FROM calendar_connections c;
         INSERT INTO appointments (id, specialist_id, starts_at, ends_at, status)
           SELECT gen_random_uuid(), s.id,
                  date_trunc('day', now()) + g * interval '7 days' + interval '13 hours',
                  date_trunc('day', now()) + g * interval '7 days' + interval '14 hours', 'confirmed'
             FROM specialists s, generate_series(1, 2) g;
         INSERT INTO external_events (connection_id, specialist_id, provider_event_id, starts_at, ends_at, status, blocks_availability)
           SELECT c.id, c.specialist_id, 'busy' || g,
                  date_trunc('day', now()) + g * interval '86 minutes',
                  date_trunc('day', now()) + g * interval '86 minutes' + interval '30 minutes', 'confirmed', g % 10 <> 0
             FROM calendar_connections c JOIN specialists s ON s.id = c.specialist_id, generate_series(1, 500) g
            WHERE s.user_id = 'u1';
         INSERT INTO appointments (id, specialist_id, starts_at, ends_at, status)
           SELECT gen_random_uuid(), s.id,
                  date_trunc('day', now()) + g * interval '7 hours 12 minutes' + interval '10 minutes',
                  date_trunc('day', now()) + g * interval '7 hours 12 minutes' + interval '55 minutes', 'confirmed'
             FROM specialists s, generate_series(1, 100) g WHERE s.user_id = 'u1';"
    );
    diesel_async::SimpleAsyncConnection::batch_execute(&mut *conn, &seed).await?;
    diesel_async::SimpleAsyncConnection::batch_execute(&mut *conn, "VACUUM ANALYZE").await?;
    let n: Vec<Count> = diesel::sql_query("SELECT count(*) AS n FROM external_events")
        .load(&mut conn)
        .await?;
    println!(
        "PLAN seeded {} external events of {specialists_n} specialists in {:.0?}",
        n.iter().map(|c| c.n).sum::<i64>(),
        started.elapsed()
    );
    let ids: Vec<Id> =
        diesel::sql_query("SELECT id::text AS id FROM specialists ORDER BY user_id LIMIT 500")
            .load(&mut conn)
            .await?;
    let ids: Vec<Uuid> = ids.iter().filter_map(|i| i.id.parse().ok()).collect();
    let from = next_week_monday();
    // As the api's pool runs them (`PoolSettings::serial_statements`).
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut *conn,
        "SET max_parallel_workers_per_gather = 0",
    )
    .await?;
    for (who, ids, days) in [
        ("one specialist, 30 days", &ids[..1], 30),
        ("500 specialists, 14 days", &ids[..], 14),
    ] {
        let to = from + Duration::days(days);
        for (what, lines) in availability::explain(&mut conn, ids, from, to).await? {
            println!("PLAN");
            println!("PLAN == {what}: {who}");
            for l in lines {
                println!("PLAN   {l}");
            }
        }
    }
    drop(conn);
    drop(db);
    println!("PLAN (database dropped)");
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let db = TestDatabase::new().await?;
    let broker = TestBroker::new();
    let mut s = Settings::defaults()?;
    s.database.url = db.url().to_owned();
    s.amqp.prefix = broker.prefix().to_owned();
    s.api.operator_token = SecretString::from("bench-operator");
    s.api.jwt_secret = SecretString::from("bench-jwt");
    s.api.max_body_bytes = 1 << 20;
    // A load generator is one client address: the limit would measure itself.
    s.api.rate_limit_per_minute = 0;
    s.security.encryption_key = SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    s.security.webhook_secret = SecretString::from("bench-webhook-secret");

    let start = next_week_monday();
    let mut conn = db.pool().get().await?;
    let one = seed_specialist(&mut conn, "busy-agent", start, 30, 500, 100).await?;
    let mut many = Vec::with_capacity(500);
    for i in 0..500 {
        many.push(seed_specialist(&mut conn, &format!("agent-{i}"), start, 14, 40, 0).await?);
    }
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await?;
    drop(conn);

    // Built as the binary builds it: its own pool (serial statements) and publisher.
    s.amqp.url = broker.url.clone();
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut caches = Vec::new();
    let q = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (to30, to14) = (start + Duration::days(30), start + Duration::days(14));
    let body =
        serde_json::json!({"specialistIds": many, "from": q(start), "to": q(to14), "duration": 60});
    let mut compact = body.clone();
    compact["format"] = serde_json::json!("compact");
    for (prefix, cache) in [
        ("", 0),
        ("CACHED_", s.availability.cache_specialists.max(1000)),
    ] {
        let mut s = s.clone();
        s.availability.cache_specialists = cache;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = ApiServer::build(&s, listener)?;
        caches.push(server.availability_cache());
        tasks.push(tokio::spawn(server.run(stop.clone())));
        if prefix.is_empty() {
            println!("HEALTH http://127.0.0.1:{port}/healthz");
        }
        println!(
            "{prefix}GET http://127.0.0.1:{port}/api/availability?specialistId={one}&from={}&to={}&duration=60",
            q(start),
            q(to30)
        );
        println!("{prefix}SEARCH http://127.0.0.1:{port}/api/availability/search {body}");
        println!("{prefix}COMPACT http://127.0.0.1:{port}/api/availability/search {compact}");
    }
    // The cached server is measured once it listens for changes.
    for _ in 0..200 {
        if caches.iter().all(|c| !c.enabled() || c.is_live()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    println!("READY");
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        tokio::signal::ctrl_c(),
    )
    .await;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    for c in caches.iter().filter(|c| c.enabled()) {
        eprintln!("cache: {:?}", c.stats());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("plans") => plans().await,
        _ => serve().await,
    }
}
