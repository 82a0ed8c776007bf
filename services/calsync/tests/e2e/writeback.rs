//! Write-back, for both providers: a booking is written into the agent's calendar as a
//! busy event tagged with the appointment id, read back as ours and counted once;
//! cancelling deletes it; the agent moving or deleting it leaves the booking standing
//! and flagged; a provider outage or a lost grant delays the event, never the booking.

use crate::provider::{Google, Graph, SandboxProvider};
use crate::support::{at, eventually, test_day, Options, TestSystem};
use calsync_api::portal::{self, CalendarEvent};
use calsync_db::calendar_writes::{self, CalendarWrite};
use chrono::Duration;
use uuid::Uuid;

/// Longer than `SETTLE`: a write-back through an outage first exhausts the client's
/// in-call retries (seconds) before its row backs off.
const OUTAGE_SETTLE: std::time::Duration = std::time::Duration::from_secs(45);

async fn creates(sys: &TestSystem, appointment: Uuid) -> anyhow::Result<Vec<CalendarWrite>> {
    let mut db = sys.env.pool().get().await?;
    Ok(calendar_writes::for_appointments(&mut db, &[appointment])
        .await?
        .into_iter()
        .filter(|w| w.is_create())
        .collect())
}

/// The written event's id, once the create is done.
async fn written_id(sys: &TestSystem, appointment: Uuid) -> anyhow::Result<String> {
    eventually("the booking's event to be written", || async {
        Ok(done_id(sys, appointment).await?.is_some())
    })
    .await?;
    done_id(sys, appointment)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no event id"))
}

async fn done_id(sys: &TestSystem, appointment: Uuid) -> anyhow::Result<Option<String>> {
    Ok(creates(sys, appointment)
        .await?
        .into_iter()
        .find(|w| w.state == "done")
        .and_then(|w| w.provider_event_id))
}

/// Waits until the sync read the written event back and stored it as ours (the drain
/// asks for that sync after each write, so a test ends only once it ran).
async fn read_back(
    sys: &TestSystem,
    connection: Uuid,
    event: &str,
    appointment: Uuid,
) -> anyhow::Result<()> {
    eventually("the copy to be stored as ours", || async {
        Ok(sys.events(connection).await?.iter().any(|e| {
            e.provider_event_id == event
                && e.is_soradin_created
                && e.appointment_id == Some(appointment)
                && !e.blocks_availability
        }))
    })
    .await
}

/// The portal's item of a booking, and how many items the agent sees at its start.
async fn portal_item(
    sys: &TestSystem,
    specialist: Uuid,
    appointment: Uuid,
) -> anyhow::Result<(Option<CalendarEvent>, usize)> {
    let day = test_day();
    let mut db = sys.env.pool().get().await?;
    let items = portal::items(&mut db, specialist, at(day, 0, 0), at(day, 23, 0)).await?;
    let item = items
        .iter()
        .find(|i| i.id == appointment)
        .ok_or_else(|| anyhow::anyhow!("the booking is not in the portal: {items:?}"))?;
    let at_its_start = items.iter().filter(|i| i.start == item.start).count();
    Ok((item.calendar_event, at_its_start))
}

async fn book(sys: &TestSystem, specialist: Uuid, hour: u32) -> anyhow::Result<Uuid> {
    let (status, body) = sys
        .book(specialist, at(test_day(), hour, 0), 60, "Ada")
        .await?;
    anyhow::ensure!(status == 201, "booking → {status}: {body}");
    Ok(body["id"].as_str().unwrap_or_default().parse()?)
}

async fn a_booking_is_written_read_back_once_and_deleted_on_cancel<P: SandboxProvider>(
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-wb").await?;
    let conn = sys.connect_and_sync(P::NAME, specialist).await?;
    let ten = at(test_day(), 10, 0);
    let booked = book(&sys, specialist, 10).await?;

    let id = written_id(&sys, booked).await?;
    let event = P::app_event(&sys, &id).ok_or_else(|| anyhow::anyhow!("no event {id}"))?;
    assert_eq!(P::tag_of(&event), Some(booked.to_string()), "{event}");
    assert_eq!(P::title_of(&event).as_deref(), Some("Booking: Ada"));

    read_back(&sys, conn, &id, booked).await?;
    eventually(
        "the portal to list the booking once, in the calendar",
        || async {
            Ok(portal_item(&sys, specialist, booked).await? == (Some(CalendarEvent::Synced), 1))
        },
    )
    .await?;
    sys.wait_slot(specialist, ten, false).await?;
    assert!(sys
        .slot_starts(specialist, test_day())
        .await?
        .contains(&(ten + Duration::hours(1))));

    assert_eq!(sys.cancel(booked).await?, 200);
    eventually("the event to be deleted", || async {
        Ok(P::app_event(&sys, &id).is_none())
    })
    .await?;
    sys.wait_slot(specialist, ten, true).await?;
    eventually("the copy to go", || async {
        Ok(!sys
            .events(conn)
            .await?
            .iter()
            .any(|e| e.provider_event_id == id))
    })
    .await?;
    sys.shutdown().await
}

async fn drift_is_flagged_and_the_booking_stands<P: SandboxProvider>() -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-drift").await?;
    sys.connect_and_sync(P::NAME, specialist).await?;
    let day = test_day();
    let booked = book(&sys, specialist, 10).await?;
    let id = written_id(&sys, booked).await?;
    eventually("the copy to be read back", || async {
        Ok(portal_item(&sys, specialist, booked).await?.0 == Some(CalendarEvent::Synced))
    })
    .await?;

    P::coworker_moves(&sys, &id, "Booking: Ada", at(day, 14, 0), 60)?;
    eventually("the portal to flag the move", || async {
        Ok(portal_item(&sys, specialist, booked).await?.0 == Some(CalendarEvent::Moved))
    })
    .await?;
    let slots = sys.slot_starts(specialist, day).await?;
    assert!(
        !slots.contains(&at(day, 10, 0)),
        "the booking still holds 10:00"
    );
    assert!(
        slots.contains(&at(day, 14, 0)),
        "our moved copy blocks nothing"
    );

    P::coworker_deletes(&sys, &id)?;
    eventually("the portal to flag the deletion", || async {
        Ok(portal_item(&sys, specialist, booked).await?.0 == Some(CalendarEvent::Deleted))
    })
    .await?;
    assert!(!sys
        .slot_starts(specialist, day)
        .await?
        .contains(&at(day, 10, 0)));
    sys.shutdown().await
}

async fn an_outage_delays_the_event_not_the_booking<P: SandboxProvider>() -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-outage").await?;
    let conn = sys.connect_and_sync(P::NAME, specialist).await?;
    P::outage(&sys);
    let started = std::time::Instant::now();
    let booked = book(&sys, specialist, 11).await?;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the booking waited {:?} on the provider",
        started.elapsed()
    );
    // The write fails (after the client's own retries) and is put back with back-off.
    let deadline = tokio::time::Instant::now() + OUTAGE_SETTLE;
    loop {
        let w = creates(&sys, booked).await?;
        if w.first()
            .is_some_and(|w| w.attempts >= 1 && w.last_error.is_some())
        {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no failed try: {w:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(creates(&sys, booked).await?[0].state, "pending");
    P::recover(&sys);
    let deadline = tokio::time::Instant::now() + OUTAGE_SETTLE;
    let id = loop {
        let w = creates(&sys, booked).await?;
        if let Some(id) = w
            .first()
            .filter(|w| w.state == "done")
            .and_then(|w| w.provider_event_id.clone())
        {
            break id;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not written after recovery: {w:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        P::app_event(&sys, &id).and_then(|e| P::tag_of(&e)),
        Some(booked.to_string())
    );
    read_back(&sys, conn, &id, booked).await?;
    sys.shutdown().await
}

async fn a_booking_made_while_reauthorisation_is_needed_is_written_after_reconnecting<
    P: SandboxProvider,
>() -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-reauth").await?;
    let conn = sys.connect_and_sync(P::NAME, specialist).await?;
    P::revoke_grant(&sys);
    P::expire_access_tokens(&sys);
    let booked = book(&sys, specialist, 13).await?;
    eventually("the connection to need re-authorisation", || async {
        Ok(sys.connection(conn).await?.needs_reauth)
    })
    .await?;
    let w = creates(&sys, booked).await?;
    assert_eq!(w[0].state, "pending", "it waits, it does not fail: {w:?}");
    assert_eq!(w[0].attempts, 0, "waiting is not an attempt");

    sys.connect(P::NAME, specialist).await?;
    let id = written_id(&sys, booked).await?;
    assert!(P::app_event(&sys, &id).is_some());
    read_back(&sys, conn, &id, booked).await?;
    sys.shutdown().await
}

#[tokio::test]
async fn google_a_booking_is_written_read_back_once_and_deleted_on_cancel() {
    a_booking_is_written_read_back_once_and_deleted_on_cancel::<Google>()
        .await
        .unwrap();
}

#[tokio::test]
async fn graph_a_booking_is_written_read_back_once_and_deleted_on_cancel() {
    a_booking_is_written_read_back_once_and_deleted_on_cancel::<Graph>()
        .await
        .unwrap();
}

#[tokio::test]
async fn google_drift_is_flagged_and_the_booking_stands() {
    drift_is_flagged_and_the_booking_stands::<Google>()
        .await
        .unwrap();
}

#[tokio::test]
async fn graph_drift_is_flagged_and_the_booking_stands() {
    drift_is_flagged_and_the_booking_stands::<Graph>()
        .await
        .unwrap();
}

#[tokio::test]
async fn google_an_outage_delays_the_event_not_the_booking() {
    an_outage_delays_the_event_not_the_booking::<Google>()
        .await
        .unwrap();
}

#[tokio::test]
async fn graph_an_outage_delays_the_event_not_the_booking() {
    an_outage_delays_the_event_not_the_booking::<Graph>()
        .await
        .unwrap();
}

#[tokio::test]
async fn google_a_booking_made_while_reauthorisation_is_needed_is_written_after_reconnecting() {
    a_booking_made_while_reauthorisation_is_needed_is_written_after_reconnecting::<Google>()
        .await
        .unwrap();
}

#[tokio::test]
async fn graph_a_booking_made_while_reauthorisation_is_needed_is_written_after_reconnecting() {
    a_booking_made_while_reauthorisation_is_needed_is_written_after_reconnecting::<Graph>()
        .await
        .unwrap();
}
