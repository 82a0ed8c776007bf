//! The write-back outbox: rows commit (or roll back) with their booking, a cancellation
//! skips what never reached the provider and queues deletes for the rest, claims are
//! exclusive and wait out re-authorisation, and synced copies are recognised as ours.

use crate::support::{conn, connection, specialist, test_db, within};
use calsync_core::{AppointmentId, EventStatus, ExternalEvent};
use calsync_db::appointments::{self, NewAppointment, STATUS_CONFIRMED};
use calsync_db::calendar_writes::{self as cw, OP_CREATE, OP_DELETE};
use calsync_db::connections::{self, FailureKind};
use calsync_db::{AsyncPgConnection, DbConn, DbError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use uuid::Uuid;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 4, hour, 0, 0)
        .single()
        .expect("valid time")
}

async fn book(c: &mut AsyncPgConnection, specialist_id: Uuid, hour: u32) -> Result<Uuid, DbError> {
    let a = appointments::insert(
        c,
        &NewAppointment {
            id: Uuid::new_v4(),
            specialist_id,
            starts_at: at(hour),
            ends_at: at(hour + 1),
            status: STATUS_CONFIRMED.to_owned(),
            customer: serde_json::json!({"name": "Ada"}),
        },
    )
    .await?;
    // Due a second ago, so a claim at any `now` the test took before finds it.
    cw::enqueue_creates(c, a.id, specialist_id, Utc::now() - Duration::seconds(1)).await?;
    Ok(a.id)
}

async fn writes(c: &mut DbConn, appointment: Uuid) -> Vec<cw::CalendarWrite> {
    within("listing writes", cw::for_appointments(c, &[appointment]))
        .await
        .expect("writes")
}

#[tokio::test]
async fn a_booking_queues_one_create_per_google_or_microsoft_connection_in_its_transaction() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-wb-1").await;
    let g = connection(&mut c, s, "google", "primary").await;
    let m = connection(&mut c, s, "microsoft", "primary").await;
    connection(&mut c, s, "ics", "https://example.com/feed.ics").await;

    let id = within(
        "booking",
        c.transaction::<_, DbError, _>(|tx| async move { book(tx, s, 10).await }.scope_boxed()),
    )
    .await
    .expect("booked");
    let mut rows = writes(&mut c, id).await;
    rows.sort_by_key(|w| w.connection_id == m.id);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows
        .iter()
        .all(|w| w.op == OP_CREATE && w.state == "pending"));
    assert_eq!(rows[0].connection_id, g.id);
    assert_eq!(rows[0].calendar_id.as_deref(), Some("primary"));
    assert_eq!(
        rows[1].calendar_id, None,
        "Graph writes to the default calendar"
    );

    // A booking whose transaction rolls back leaves no write behind.
    let failed = within(
        "a booking that rolls back",
        c.transaction::<Uuid, DbError, _>(|tx| {
            async move {
                book(tx, s, 12).await?;
                Err(DbError::NotFound)
            }
            .scope_boxed()
        }),
    )
    .await;
    assert!(failed.is_err());
    let total: i64 = within("counting", async {
        use calsync_db::schema::calendar_writes::dsl::*;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        calendar_writes.count().get_result(&mut c).await
    })
    .await
    .expect("count");
    assert_eq!(total, 2);
}

#[tokio::test]
async fn cancelling_skips_untried_creates_and_deletes_the_rest_once() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-wb-2").await;
    connection(&mut c, s, "google", "primary").await;
    let now = Utc::now();

    // Never tried: skipped, nothing to delete.
    let untried = book(&mut c, s, 9).await.expect("booked");
    within("cancelling", cw::enqueue_deletes(&mut c, untried, now))
        .await
        .expect("cancel");
    let rows = writes(&mut c, untried).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "skipped");

    // Written: a delete is queued, once however often the booking is cancelled.
    let written = book(&mut c, s, 11).await.expect("booked");
    let claimed = within(
        "claiming",
        cw::claim_due(&mut c, "w1", now, Duration::minutes(1), 10),
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(within(
        "finishing",
        cw::finish_done(&mut c, claimed[0].id, "w1", Some("ev-1"), false, now)
    )
    .await
    .expect("done"));
    for _ in 0..2 {
        within("cancelling", cw::enqueue_deletes(&mut c, written, now))
            .await
            .expect("cancel");
    }
    let rows = writes(&mut c, written).await;
    let deletes: Vec<_> = rows.iter().filter(|w| w.op == OP_DELETE).collect();
    assert_eq!(deletes.len(), 1, "{rows:?}");
    assert_eq!(deletes[0].provider_event_id.as_deref(), Some("ev-1"));
    assert_eq!(deletes[0].state, "pending");
}

#[tokio::test]
async fn claims_are_exclusive_fenced_and_wait_while_the_connection_needs_reauthorisation() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-wb-3").await;
    let g = connection(&mut c, s, "google", "primary").await;
    let now = Utc::now();
    book(&mut c, s, 10).await.expect("booked");

    let mine = within(
        "claim",
        cw::claim_due(&mut c, "w1", now, Duration::minutes(1), 10),
    )
    .await
    .expect("claim");
    assert_eq!(mine.len(), 1);
    let theirs = within(
        "claim",
        cw::claim_due(&mut c, "w2", now, Duration::minutes(1), 10),
    )
    .await
    .expect("claim");
    assert!(theirs.is_empty(), "a held claim is not taken");
    let stolen = within(
        "finish by a stranger",
        cw::finish_done(&mut c, mine[0].id, "w2", Some("x"), false, now),
    )
    .await
    .expect("query");
    assert!(!stolen, "only the claim holder records an outcome");
    within(
        "retry",
        cw::finish_retry(&mut c, mine[0].id, "w1", "503", now, true, now),
    )
    .await
    .expect("retry");

    // Re-authorisation needed: nothing is claimed; after the reconnect it is.
    within(
        "needs reauth",
        connections::record_failure(&mut c, g.id, "revoked", FailureKind::NeedsReauth, now, now),
    )
    .await
    .expect("failure");
    let waiting = within(
        "claim",
        cw::claim_due(&mut c, "w1", now, Duration::minutes(1), 10),
    )
    .await
    .expect("claim");
    assert!(waiting.is_empty(), "{waiting:?}");
    connection(&mut c, s, "google", "primary").await;
    let after = within(
        "claim",
        cw::claim_due(&mut c, "w1", now, Duration::minutes(1), 10),
    )
    .await
    .expect("claim");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].attempts, 1);
}

fn fetched(id: &str, appointment: Option<Uuid>) -> ExternalEvent {
    ExternalEvent {
        provider_event_id: id.to_owned(),
        ical_uid: None,
        starts_at: at(10),
        ends_at: at(11),
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: appointment.is_none(),
        is_soradin_created: appointment.is_some(),
        appointment_id: appointment.map(AppointmentId),
        title: Some("Booking: Ada".into()),
        provider_updated_at: None,
    }
}

#[tokio::test]
async fn a_synced_copy_is_ours_by_recorded_id_or_tag_and_a_foreign_tag_blocks() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-wb-4").await;
    let m = connection(&mut c, s, "microsoft", "primary").await;
    let g = connection(&mut c, s, "google", "primary").await;
    let now = Utc::now();
    let booked = book(&mut c, s, 10).await.expect("booked");
    let claimed = within(
        "claim",
        cw::claim_due(&mut c, "w1", now, Duration::minutes(1), 10),
    )
    .await
    .expect("claim");
    let graph_write = claimed
        .iter()
        .find(|w| w.connection_id == m.id)
        .expect("graph write");
    within(
        "done",
        cw::finish_done(&mut c, graph_write.id, "w1", Some("AAMk-1"), false, now),
    )
    .await
    .expect("done");

    // Graph delta pages carry no extended property: recognised by the recorded id.
    let mut graph = vec![fetched("AAMk-1", None), fetched("AAMk-2", None)];
    let n = within("marking", cw::mark_copies(&mut c, m.id, &mut graph))
        .await
        .expect("mark");
    assert_eq!(n, 1);
    assert!(graph[0].is_soradin_created && !graph[0].blocks);
    assert_eq!(graph[0].appointment_id, Some(AppointmentId(booked)));
    assert!(!graph[1].is_soradin_created && graph[1].blocks);

    // Google, before the id is recorded: the tag of a booking written here counts; a tag
    // naming a booking unknown here is a foreign event that blocks.
    let mut google = vec![
        fetched("cs-ours", Some(booked)),
        fetched("copy", Some(Uuid::new_v4())),
    ];
    let n = within("marking", cw::mark_copies(&mut c, g.id, &mut google))
        .await
        .expect("mark");
    assert_eq!(n, 1);
    assert!(google[0].is_soradin_created && !google[0].blocks);
    assert!(!google[1].is_soradin_created && google[1].blocks);
    assert_eq!(google[1].appointment_id, None);
}
