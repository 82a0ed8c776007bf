//! Serves the api against a throw-away test database seeded with one agent's week
//! (bookings, Google/Microsoft/ICS events, an all-day event, a calendar needing
//! re-authorisation) and prints the schedule page's URL. `scripts/screenshot-schedule.sh`
//! drives it with headless Chromium. Stops on Ctrl-C or after `DEMO_SECONDS` (120).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_api::ApiServer;
use calsync_core::{EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment};
use calsync_db::connections::{self, NewConnection};
use calsync_db::{events, specialists};
use calsync_mq::Publisher;
use calsync_runtime::Settings;
use calsync_testkit::{TestBroker, TestDatabase};
use chrono::{Datelike, Duration, NaiveTime, TimeZone, Utc};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const JWT_SECRET: &str = "demo-jwt-secret";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDatabase::new().await?;
    let broker = TestBroker::new();
    let mut s = Settings::defaults()?;
    s.database.url = db.url().to_owned();
    s.amqp.prefix = broker.prefix().to_owned();
    s.api.operator_token = SecretString::from("demo-operator");
    s.api.jwt_secret = SecretString::from(JWT_SECRET);
    s.security.encryption_key = SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    s.security.webhook_secret = SecretString::from("demo-webhook-secret");

    let mut conn = db.pool().get().await?;
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    let five = NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default();
    let hours: Vec<_> = (1..=5)
        .map(|weekday| calsync_core::WorkingHours {
            weekday,
            start: nine,
            end: five,
        })
        .collect();
    let id = specialists::upsert(
        &mut conn,
        "agent-demo",
        "Dr. Ada <Demo>",
        "Europe/Berlin",
        &hours,
    )
    .await?;
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let at = |day: i64, h: u32, m: u32| {
        chrono_tz::Europe::Berlin
            .from_local_datetime(
                &(monday + Duration::days(day))
                    .and_hms_opt(h, m, 0)
                    .unwrap_or_default(),
            )
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    for (day, h, name) in [
        (0, 10, "Grace Hopper"),
        (2, 14, "Alan Turing"),
        (3, 9, "Edsger Dijkstra"),
    ] {
        appointments::insert(
            &mut conn,
            &NewAppointment {
                id: uuid::Uuid::new_v4(),
                specialist_id: id,
                starts_at: at(day, h, 0),
                ends_at: at(day, h + 1, 0),
                status: "confirmed".into(),
                customer: serde_json::json!({"name": name}),
            },
        )
        .await?;
    }
    let add = |provider: calsync_core::Provider| NewConnection {
        specialist_id: id,
        provider,
        external_calendar_id: format!("{provider}-demo"),
        account_email: None,
        access_token_enc: None,
        refresh_token_enc: None,
        token_expires_at: None,
    };
    let google = connections::upsert(&mut conn, &add(calsync_core::Provider::Google))
        .await?
        .id;
    let microsoft = connections::upsert(&mut conn, &add(calsync_core::Provider::Microsoft))
        .await?
        .id;
    let ics = connections::upsert(&mut conn, &add(calsync_core::Provider::Ics))
        .await?
        .id;
    let event = |pid: &str, title: &str, start, end, all_day| ExternalEvent {
        provider_event_id: pid.into(),
        ical_uid: None,
        starts_at: start,
        ends_at: end,
        all_day,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: false,
        appointment_id: None,
        title: Some(title.into()),
        provider_updated_at: None,
    };
    events::upsert(
        &mut conn,
        google,
        id,
        &[
            event("g1", "Team stand-up", at(0, 9, 0), at(0, 9, 30), false),
            event(
                "g2",
                "<script>alert('x')</script> Budget review",
                at(0, 10, 30),
                at(0, 11, 30),
                false,
            ),
            event("g3", "Dentist", at(2, 14, 30), at(2, 15, 30), false),
        ],
    )
    .await?;
    events::upsert(
        &mut conn,
        microsoft,
        id,
        &[
            event(
                "m1",
                "Client call (Outlook)",
                at(1, 11, 0),
                at(1, 12, 0),
                false,
            ),
            event(
                "m2",
                "Quarterly planning",
                at(3, 13, 0),
                at(3, 16, 0),
                false,
            ),
        ],
    )
    .await?;
    events::upsert(
        &mut conn,
        ics,
        id,
        &[event(
            "i1",
            "Public holiday",
            at(4, 0, 0),
            at(5, 0, 0),
            true,
        )],
    )
    .await?;
    connections::record_failure(
        &mut conn,
        microsoft,
        "invalid_grant",
        connections::FailureKind::NeedsReauth,
        Utc::now(),
        Utc::now(),
    )
    .await?;
    drop(conn);

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let publisher = Publisher::new(&broker.url, broker.topology.clone());
    let server = ApiServer::build_with(&s, listener, db.pool().clone(), publisher)?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone()));
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "agent-demo", "exp": (Utc::now() + Duration::hours(1)).timestamp()}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )?;
    println!("URL http://127.0.0.1:{port}/agent/schedule?week={monday}&token={token}");
    let secs = std::env::var("DEMO_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        tokio::signal::ctrl_c(),
    )
    .await;
    stop.cancel();
    let _ = task.await;
    Ok(())
}
