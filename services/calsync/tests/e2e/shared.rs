//! The scenarios Google and Microsoft share, written once over `SandboxProvider` and
//! run for each provider by a named test in `google.rs` and `graph.rs`.

use crate::provider::SandboxProvider;
use crate::support::{at, eventually, stays, test_day, Options, TestSystem};
use calsync_sync_worker::clock::{Clock, ManualClock};
use calsync_sync_worker::scheduler::Scheduler;
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A coworker's event withdraws its slot, moving it frees the old slot and withdraws
/// the new one, deleting it frees that too and empties the store; the public
/// availability never shows the title and says the calendars are fresh.
pub async fn coworker_event_blocks_its_slot_until_moved_and_then_deleted<P: SandboxProvider>(
    user_id: &str,
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist(user_id).await?;
    let connection = sys.connect_and_sync(P::NAME, specialist).await?;
    assert_eq!(
        P::open_webhooks(&sys).len(),
        1,
        "one webhook after connecting"
    );
    let day = test_day();
    let (ten, two) = (at(day, 10, 0), at(day, 14, 0));
    assert!(
        sys.slot_starts(specialist, day).await?.contains(&ten),
        "10:00 is free before the meeting"
    );

    let id = P::coworker_inserts(&sys, "Coworker sync", ten, 60)?;
    sys.wait_slot(specialist, ten, false).await?;
    let stored = sys.event_spans(connection).await?;
    assert_eq!(
        stored,
        vec![(id.clone(), ten, ten + chrono::Duration::hours(1))]
    );
    assert!(sys.slot_starts(specialist, day).await?.contains(&two));

    P::coworker_moves(&sys, &id, "Coworker sync", two, 60)?;
    sys.wait_slot(specialist, two, false).await?;
    sys.wait_slot(specialist, ten, true).await?;

    P::coworker_deletes(&sys, &id)?;
    sys.wait_slot(specialist, two, true).await?;
    assert!(
        sys.events(connection).await?.is_empty(),
        "the deleted event is gone from the store"
    );
    let (_, body) = sys.availability(specialist, day).await?;
    assert_eq!(body["calendarsFresh"], true);
    assert!(
        !body.to_string().contains("Coworker"),
        "no title ever reaches the public api"
    );
    sys.shutdown().await
}

/// Throttled (and failing) event reads are retried after `Retry-After`, the change
/// still lands, and the connection records no error.
pub async fn throttled_reads_are_retried_and_the_change_still_lands<P: SandboxProvider>(
    user_id: &str,
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist(user_id).await?;
    let connection = sys.connect_and_sync(P::NAME, specialist).await?;
    let day = test_day();
    let ten = at(day, 10, 0);

    P::throttle_event_reads(&sys);
    let started = std::time::Instant::now();
    P::coworker_inserts(&sys, "Throttled", ten, 60)?;
    sys.wait_slot(specialist, ten, false).await?;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    let c = sys.connection(connection).await?;
    assert!(
        c.last_error.is_none() && c.consecutive_failures == 0,
        "{c:?}"
    );
    sys.shutdown().await
}

/// Near its expiry, the scheduler renews the webhook before it lapses: Graph
/// extends the subscription in place, Google opens a new channel and stops the old.
/// Either way exactly one is live, the stored one, and changes still arrive through it.
pub async fn the_webhook_is_renewed_before_it_expires<P: SandboxProvider>(
    user_id: &str,
) -> anyhow::Result<()> {
    let clock = ManualClock::new(Utc::now());
    let sys = TestSystem::start(Options {
        clock: Some(clock.clone()),
        scheduler: false,
        ..Options::default()
    })
    .await?;
    let specialist = sys.create_specialist(user_id).await?;
    let connection = sys.connect_and_sync(P::NAME, specialist).await?;
    sys.wait_idle(connection).await?;
    let before = P::open_webhooks(&sys)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no webhook"))?;
    let mut scheduler = Scheduler::new(Arc::clone(&sys.workers[0]));
    assert!(
        scheduler.run_once().await?.renewals.is_empty(),
        "a fresh webhook is left alone"
    );

    let step = P::RENEWAL_STEP;
    P::advance_clock(&sys, step);
    clock.advance(chrono::Duration::from_std(step)?);
    let scheduler = tokio::sync::Mutex::new(scheduler);
    eventually("the scheduler to claim the renewal", || async {
        Ok(scheduler.lock().await.run_once().await?.renewals == vec![connection])
    })
    .await?;
    let renewed_by = before.expiration + P::RENEWAL_GAIN;
    eventually("the renewed webhook stored", || async {
        let c = sys.primary_calendar(connection).await?;
        let same = P::stored_webhook(&c).as_deref() == Some(before.id.as_str());
        Ok(P::stored_webhook(&c).is_some()
            && same == P::RENEWS_IN_PLACE
            && c.webhook_expires_at.is_some_and(|e| e > renewed_by))
    })
    .await?;
    let open = P::open_webhooks(&sys);
    assert_eq!(
        open.len(),
        1,
        "renewed, not duplicated; a replaced webhook is stopped: {open:?}"
    );
    if P::RENEWS_IN_PLACE {
        assert_eq!(open[0].id, before.id, "PATCHed, not recreated");
    } else {
        assert_ne!(open[0].id, before.id, "a new webhook replaced the old one");
    }
    assert!(open[0].expiration > renewed_by);
    let k = sys.primary_calendar(connection).await?;
    assert_eq!(P::stored_webhook(&k).as_ref(), Some(&open[0].id));
    assert_eq!(k.webhook_expires_at, Some(open[0].expiration));
    let c = sys.connection(connection).await?;
    assert!(
        k.webhook_last_error.is_none() && !c.needs_reauth,
        "{k:?} {c:?}"
    );

    // Changes still arrive through the renewed webhook.
    let day = (clock.now() + chrono::Duration::days(2)).date_naive();
    let ten = at(day, 10, 0);
    P::coworker_inserts(&sys, "After renewal", ten, 60)?;
    eventually("the event after renewal", || async {
        Ok(sys
            .event_spans(connection)
            .await?
            .iter()
            .any(|(_, s, _)| *s == ten))
    })
    .await?;
    sys.shutdown().await
}

/// An expired access token is refreshed and the new one stored; a revoked grant marks
/// the connection for re-authorisation, keeps its events blocking, says availability
/// is unverified and pauses fetches; connecting again reuses the connection, catches
/// up and makes availability fresh again.
pub async fn an_expired_token_is_refreshed_and_a_revoked_grant_pauses_the_connection<
    P: SandboxProvider,
>(
    user_id: &str,
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist(user_id).await?;
    let connection = sys.connect_and_sync(P::NAME, specialist).await?;
    let day = test_day();
    let (ten, two) = (at(day, 10, 0), at(day, 14, 0));
    let tokens_before = sys.connection(connection).await?.access_token_enc;

    P::expire_access_tokens(&sys);
    P::coworker_inserts(&sys, "After expiry", ten, 60)?;
    sys.wait_slot(specialist, ten, false).await?;
    let c = sys.connection(connection).await?;
    assert_ne!(
        c.access_token_enc, tokens_before,
        "a new access token was stored"
    );
    assert!(!c.needs_reauth && c.last_error.is_none(), "{c:?}");

    P::revoke_grant(&sys);
    P::expire_access_tokens(&sys);
    P::coworker_inserts(&sys, "After revocation", two, 60)?;
    eventually("the connection to need re-authorisation", || async {
        Ok(sys.connection(connection).await?.needs_reauth)
    })
    .await?;
    sys.wait_idle(connection).await?;
    let (slots, body) = sys.availability(specialist, day).await?;
    assert_eq!(
        body["calendarsFresh"], false,
        "availability says the calendar is not verified: {body}"
    );
    assert!(
        !slots.contains(&ten),
        "the events stored before stay and keep blocking"
    );
    assert_eq!(sys.events(connection).await?.len(), 1);

    // Syncs pause: further pushes cost no fetch.
    let calls = P::fetch_calls(&sys);
    sys.publish_notice(connection, P::NOTICE_PROVIDER).await?;
    sys.wait_idle(connection).await?;
    assert!(stays(Duration::from_millis(300), || P::fetch_calls(&sys) == calls).await);

    // The agent connects again: syncing resumes with a full resync that catches up.
    let again = sys.connect(P::NAME, specialist).await?;
    assert_eq!(
        again["connectionId"],
        connection.to_string(),
        "the same connection is reused"
    );
    sys.wait_slot(specialist, two, false).await?;
    let c = sys.connection(connection).await?;
    assert!(!c.needs_reauth && c.sync_enabled, "{c:?}");
    let (_, body) = sys.availability(specialist, day).await?;
    assert_eq!(body["calendarsFresh"], true, "{body}");
    sys.shutdown().await
}

/// An account with two calendars: by default only the primary one blocks and receives
/// bookings; choosing the second as blocking syncs it (its own cursor) and opens its own
/// webhook, through which a coworker's later meeting there withdraws its slot; choosing
/// it non-blocking again frees its slots at once and stops its webhook. Bad choices are
/// refused with a clear code.
pub async fn a_second_calendar_blocks_only_while_chosen<P: SandboxProvider>(
    user_id: &str,
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist(user_id).await?;
    let connection = sys.connect_and_sync(P::NAME, specialist).await?;
    let second = P::add_calendar(&sys, "Team")?;
    let day = test_day();
    let (ten, two) = (at(day, 10, 0), at(day, 14, 0));

    let (status, listed) = sys.calendars_api(connection, None).await?;
    assert_eq!(status, 200, "{listed}");
    let cals = listed["calendars"].as_array().cloned().unwrap_or_default();
    assert_eq!(cals.len(), 2, "both calendars listed: {listed}");
    assert_eq!(cals[0]["id"], "primary", "{listed}");
    assert_eq!(cals[0]["primary"], true);
    assert_eq!(cals[0]["blocking"], true, "the primary blocks by default");
    assert_eq!(
        cals[0]["writeTo"], true,
        "the primary receives bookings by default"
    );
    assert_eq!(cals[1]["id"], second.as_str());
    assert_eq!(cals[1]["name"], "Team");
    assert_eq!(cals[1]["blocking"], false);
    assert_eq!(cals[1]["writeTo"], false);

    // Not chosen yet: a meeting there blocks nothing.
    P::coworker_inserts_in(&sys, &second, "Team standup", ten, 60)?;
    sys.wait_idle(connection).await?;
    assert!(
        sys.slot_starts(specialist, day).await?.contains(&ten),
        "a non-blocking calendar's meeting leaves the slot free"
    );

    for (body, code) in [
        (
            json!({"blocking": ["nope"], "writeTo": "primary"}),
            "unknown_calendar",
        ),
        (
            json!({"blocking": ["primary"], "writeTo": ""}),
            "write_to_required",
        ),
        (
            json!({"blocking": ["primary"], "writeTo": "nope"}),
            "unknown_calendar",
        ),
    ] {
        let (status, answer) = sys.calendars_api(connection, Some(body)).await?;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }

    let (status, chosen) = sys
        .calendars_api(
            connection,
            Some(json!({"blocking": ["primary", second], "writeTo": "primary"})),
        )
        .await?;
    assert_eq!(status, 200, "{chosen}");
    assert_eq!(chosen["calendars"][1]["blocking"], true, "{chosen}");
    sys.wait_slot(specialist, ten, false).await?;
    eventually("the second calendar's own webhook", || async {
        let k = sys
            .calendars(connection)
            .await?
            .into_iter()
            .find(|k| k.calendar_id == second);
        Ok(k.as_ref().and_then(P::stored_webhook).is_some()
            && sys.open_webhooks(P::NAME).len() == 2)
    })
    .await?;
    let webhook = sys
        .calendars(connection)
        .await?
        .iter()
        .find(|k| k.calendar_id == second)
        .and_then(P::stored_webhook)
        .ok_or_else(|| anyhow::anyhow!("no webhook stored"))?;
    sys.wait_idle(connection).await?;

    let before = P::deliveries_through(&sys, &webhook);
    P::coworker_inserts_in(&sys, &second, "Team review", two, 60)?;
    sys.wait_slot(specialist, two, false).await?;
    assert!(
        P::deliveries_through(&sys, &webhook) > before,
        "the change came through the second calendar's webhook"
    );
    let stored = sys.events(connection).await?;
    assert_eq!(
        stored.iter().filter(|e| e.calendar_id == second).count(),
        2,
        "both meetings stored under their calendar: {stored:?}"
    );

    let (status, released) = sys
        .calendars_api(
            connection,
            Some(json!({"blocking": ["primary"], "writeTo": "primary"})),
        )
        .await?;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["calendars"][1]["blocking"], false, "{released}");
    let slots = sys.slot_starts(specialist, day).await?;
    assert!(
        slots.contains(&ten) && slots.contains(&two),
        "releasing the calendar frees its slots at once: {slots:?}"
    );
    eventually("the second calendar's webhook stopped", || async {
        let k = sys
            .calendars(connection)
            .await?
            .into_iter()
            .find(|k| k.calendar_id == second);
        Ok(k.is_some_and(|k| !k.has_webhook()) && sys.open_webhooks(P::NAME).len() == 1)
    })
    .await?;
    sys.wait_idle(connection).await?;
    assert!(sys
        .events(connection)
        .await?
        .iter()
        .all(|e| e.calendar_id != second));
    sys.shutdown().await
}
