//! Seeds a throw-away database for the availability benchmark and serves the api on it:
//! one specialist with 500 external events and 100 appointments over 30 days, and 500
//! specialists for the 14-day search. Prints the query plans of the availability
//! queries, then the request lines `scripts/bench-availability.sh` feeds to wrk, and
//! serves until Ctrl-C or `BENCH_SECONDS` (600).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_api::ApiServer;
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment};
use calsync_db::connections::{self, NewConnection};
use calsync_db::{events, specialists, AsyncPgConnection};
use calsync_mq::Publisher;
use calsync_runtime::Settings;
use calsync_testkit::{TestBroker, TestDatabase};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
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

async fn explain(conn: &mut AsyncPgConnection, title: &str, sql: &str) -> anyhow::Result<()> {
    println!("PLAN {title}");
    let lines: Vec<PlanLine> =
        diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"))
            .load(conn)
            .await?;
    for l in lines {
        println!("PLAN   {}", l.line);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDatabase::new().await?;
    let broker = TestBroker::new();
    let mut s = Settings::defaults()?;
    s.database.url = db.url().to_owned();
    s.amqp.prefix = broker.prefix().to_owned();
    s.api.operator_token = SecretString::from("bench-operator");
    s.api.jwt_secret = SecretString::from("bench-jwt");
    s.api.max_body_bytes = 1 << 20;
    s.security.encryption_key = SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    s.security.webhook_secret = SecretString::from("bench-webhook-secret");

    let today = Utc::now().date_naive() + Duration::days(7);
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let start = Utc.from_utc_datetime(&monday.and_time(NaiveTime::MIN));
    let mut conn = db.pool().get().await?;
    let one = seed_specialist(&mut conn, "busy-agent", start, 30, 500, 100).await?;
    let mut many = Vec::with_capacity(500);
    for i in 0..500 {
        many.push(seed_specialist(&mut conn, &format!("agent-{i}"), start, 14, 20, 5).await?);
    }
    diesel::sql_query("ANALYZE").execute(&mut conn).await?;
    let (from, to30, to14) = (
        start,
        start + Duration::days(30),
        start + Duration::days(14),
    );
    let ids = many
        .iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(",");
    explain(&mut conn, "blocking external events, one specialist, 30 days", &format!(
        "SELECT specialist_id, starts_at, ends_at FROM external_events WHERE specialist_id = ANY(ARRAY['{one}']::uuid[]) \
         AND blocks_availability = true AND is_soradin_created = false AND starts_at < '{to30}' AND ends_at > '{from}'")).await?;
    explain(&mut conn, "confirmed appointments, one specialist, 30 days", &format!(
        "SELECT * FROM appointments WHERE specialist_id = ANY(ARRAY['{one}']::uuid[]) AND status = 'confirmed' \
         AND starts_at < '{to30}' AND ends_at > '{from}' ORDER BY starts_at")).await?;
    explain(&mut conn, "blocking external events, 500 specialists, 14 days", &format!(
        "SELECT specialist_id, starts_at, ends_at FROM external_events WHERE specialist_id = ANY(ARRAY[{ids}]::uuid[]) \
         AND blocks_availability = true AND is_soradin_created = false AND starts_at < '{to14}' AND ends_at > '{from}'")).await?;
    explain(&mut conn, "confirmed appointments, 500 specialists, 14 days", &format!(
        "SELECT * FROM appointments WHERE specialist_id = ANY(ARRAY[{ids}]::uuid[]) AND status = 'confirmed' \
         AND starts_at < '{to14}' AND ends_at > '{from}' ORDER BY starts_at")).await?;
    explain(&mut conn, "working hours, 500 specialists", &format!(
        "SELECT * FROM availability_rules WHERE specialist_id = ANY(ARRAY[{ids}]::uuid[]) ORDER BY weekday, start_time")).await?;
    explain(
        &mut conn,
        "connections, 500 specialists",
        &format!(
            "SELECT * FROM calendar_connections WHERE specialist_id = ANY(ARRAY[{ids}]::uuid[])"
        ),
    )
    .await?;
    drop(conn);

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let publisher = Publisher::new(&broker.url, broker.topology.clone());
    let server = ApiServer::build_with(&s, listener, db.pool().clone(), publisher)?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone()));
    let q = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    println!(
        "GET http://127.0.0.1:{port}/api/availability?specialistId={one}&from={}&to={}&duration=60",
        q(from),
        q(to30)
    );
    let body =
        serde_json::json!({"specialistIds": many, "from": q(from), "to": q(to14), "duration": 60});
    println!("SEARCH http://127.0.0.1:{port}/api/availability/search {body}");
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
    let _ = task.await;
    Ok(())
}
