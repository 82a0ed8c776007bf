//! Google Calendar end to end (issue 3): connect, push, incremental sync, busy blocking,
//! coalescing, replay dedup, forged tokens, token refresh, re-authorisation and 410.

use crate::provider::{google_event, Google};
use crate::shared;
use crate::support::{at, eventually, stays, test_day, Options, TestSystem, GOOGLE_USER};
use calsync_core::{EventStatus, ExternalEvent};
use calsync_providers::security::WebhookSigner;
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::scheduler::Scheduler;
use chrono::Utc;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How many `events.list` calls a burst of notices may cost (invariant 2).
const BURST_FETCH_BUDGET: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coworkers_google_event_blocks_its_slot_until_it_is_moved_and_then_deleted(
) -> anyhow::Result<()> {
    shared::coworker_event_blocks_its_slot_until_moved_and_then_deleted::<Google>("agent-google-1")
        .await
}

async fn burst_costs_a_handful_of_fetches(workers: usize) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options {
        workers,
        ..Options::default()
    })
    .await?;
    let specialist = sys.create_specialist("agent-burst").await?;
    let connection = sys.connect_and_sync("google", specialist).await?;
    sys.wait_idle(connection).await?;
    let before = sys.google.list_calls(GOOGLE_USER);

    let day = test_day();
    let id = sys
        .google
        .insert_event(GOOGLE_USER, google_event("Burst", at(day, 11, 0), 30))?;
    let started = std::time::Instant::now();
    sys.burst(connection, 200, 20).await?;
    let published = started.elapsed();
    sys.wait_idle(connection).await?;
    let drained = started.elapsed();
    let fetches = sys.google.list_calls(GOOGLE_USER) - before;
    assert!(fetches >= 1, "the burst caused a sync");
    assert!(
        fetches <= BURST_FETCH_BUDGET,
        "201 notices cost {fetches} events.list calls with {workers} worker(s)"
    );
    let stored: Vec<String> = sys
        .events(connection)
        .await?
        .into_iter()
        .map(|e| e.provider_event_id)
        .collect();
    assert_eq!(stored, vec![id]);
    let c = sys.connection(connection).await?;
    assert!(
        c.lease_owner.is_none() && !c.sync_pending,
        "nothing left pending: {c:?}"
    );
    println!("burst of 201 notices with {workers} worker(s): {fetches} events.list calls (published in {published:?}, drained in {drained:?})");
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_notices_for_one_connection_costs_a_handful_of_fetches() -> anyhow::Result<()>
{
    burst_costs_a_handful_of_fetches(1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_replicas_coalesce_a_burst_as_well_as_one() -> anyhow::Result<()> {
    burst_costs_a_handful_of_fetches(2).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_google_push_costs_no_extra_fetch() -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-replay").await?;
    let connection = sys.connect_and_sync("google", specialist).await?;
    sys.wait_idle(connection).await?;
    let channel = sys
        .google
        .channels()
        .into_iter()
        .find(|c| !c.stopped)
        .ok_or_else(|| anyhow::anyhow!("no open channel"))?;
    let token = channel.token.clone().unwrap_or_default();
    let number = channel.messages_sent + 1;
    let before = sys.google.list_calls(GOOGLE_USER);

    assert_eq!(
        sys.google_push(&channel.id, &token, 1, "sync").await?,
        200,
        "the sync handshake is acknowledged"
    );
    assert_eq!(
        sys.google_push(&channel.id, &token, number, "exists")
            .await?,
        200
    );
    eventually("the first push's fetch", || async {
        Ok(sys.google.list_calls(GOOGLE_USER) == before + 1)
    })
    .await?;
    sys.wait_idle(connection).await?;
    assert_eq!(
        sys.google_push(&channel.id, &token, number, "exists")
            .await?,
        200,
        "a replay is still acknowledged"
    );
    sys.wait_idle(connection).await?;
    let google = sys.google.clone();
    assert!(
        stays(Duration::from_millis(500), || google
            .list_calls(GOOGLE_USER)
            == before + 1)
        .await,
        "the replay cost a fetch: {} calls",
        sys.google.list_calls(GOOGLE_USER) - before
    );
    assert_eq!(
        sys.primary_calendar(connection).await?.webhook_last_message,
        i64::try_from(number)?
    );
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_a_forged_channel_token_is_refused_and_queues_nothing() -> anyhow::Result<()> {
    // No worker consumes, so the queue depth shows exactly what ingest published.
    let sys = TestSystem::start(Options {
        workers: 0,
        ..Options::default()
    })
    .await?;
    let connection = Uuid::new_v4();
    let genuine =
        WebhookSigner::new(sys.settings().security.webhook_secret.clone()).sign(connection);
    let forged = WebhookSigner::new(SecretString::from("not-our-secret")).sign(connection);

    assert_eq!(sys.google_push("ch-1", &genuine, 2, "exists").await?, 200);
    eventually("the genuine push to be queued", || async {
        Ok(sys.queue_depth().await? == 1)
    })
    .await?;
    assert_eq!(sys.google_push("ch-1", &forged, 3, "exists").await?, 401);
    assert_eq!(
        sys.google_push("ch-1", "v1.garbage", 4, "exists").await?,
        401
    );
    let status = sys
        .http
        .post(format!("{}/webhooks/google", sys.ingest_url))
        .header("X-Goog-Channel-ID", "ch-1")
        .header("X-Goog-Resource-State", "exists")
        .send()
        .await?
        .status();
    assert_eq!(status.as_u16(), 401, "a push without a token is refused");
    assert_eq!(sys.queue_depth().await?, 1, "nothing forged was queued");
    let queued = sys.env.drain_work_queue().await?;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].connection_id,
        connection.to_string(),
        "the genuine one"
    );
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_and_a_revoked_grant_pauses_the_connection(
) -> anyhow::Result<()> {
    shared::an_expired_token_is_refreshed_and_a_revoked_grant_pauses_the_connection::<Google>(
        "agent-tokens",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_backend_errors_are_retried_and_the_change_still_lands(
) -> anyhow::Result<()> {
    shared::throttled_reads_are_retried_and_the_change_still_lands::<Google>("agent-faults").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidated_sync_token_leads_to_a_full_resync_that_replaces_the_stored_set(
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-410").await?;
    let connection = sys.connect_and_sync("google", specialist).await?;
    let day = test_day();
    let keep = sys
        .google
        .insert_event(GOOGLE_USER, google_event("Keep", at(day, 9, 0), 60))?;
    let gone = sys
        .google
        .insert_event(GOOGLE_USER, google_event("Gone", at(day, 12, 0), 60))?;
    eventually("both events stored", || async {
        Ok(sys.events(connection).await?.len() == 2)
    })
    .await?;
    sys.wait_idle(connection).await?;
    // A row the provider never reports as changed: only a full resync that replaces the
    // stored set (rather than merging into it) removes it.
    let ghost = ExternalEvent {
        provider_event_id: "ghost".into(),
        ical_uid: None,
        starts_at: at(day, 15, 0),
        ends_at: at(day, 16, 0),
        all_day: false,
        status: EventStatus::Confirmed,
        blocks: true,
        is_soradin_created: false,
        appointment_id: None,
        title: None,
        provider_updated_at: None,
    };
    {
        let mut db = sys.env.pool().get().await?;
        calsync_db::events::upsert_in(
            &mut db,
            connection,
            calsync_core::PRIMARY_CALENDAR,
            specialist,
            &[ghost],
        )
        .await?;
    }
    let cursor_before = sys.primary_calendar(connection).await?.sync_cursor;

    sys.google.invalidate_sync_tokens();
    sys.google.delete_event(GOOGLE_USER, &gone)?;
    eventually("the stored set to be replaced", || async {
        let ids: Vec<String> = sys
            .events(connection)
            .await?
            .into_iter()
            .map(|e| e.provider_event_id)
            .collect();
        Ok(ids == vec![keep.clone()])
    })
    .await?;
    let c = sys.connection(connection).await?;
    let k = sys.primary_calendar(connection).await?;
    assert_ne!(k.sync_cursor, cursor_before, "a new sync token was stored");
    assert!(c.last_error.is_none(), "{c:?}");
    sys.wait_slot(specialist, at(day, 15, 0), true).await?;
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_channel_is_replaced_before_it_expires_and_the_old_one_stopped(
) -> anyhow::Result<()> {
    shared::the_webhook_is_renewed_before_it_expires::<Google>("agent-google-renew").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_a_dead_workers_lease_is_synced_once_the_lease_runs_out(
) -> anyhow::Result<()> {
    let clock = ManualClock::new(Utc::now());
    let sys = TestSystem::start(Options {
        clock: Some(clock.clone()),
        scheduler: false,
        ..Options::default()
    })
    .await?;
    let specialist = sys.create_specialist("agent-dead-lease").await?;
    let connection = sys.connect_and_sync("google", specialist).await?;
    let ctx = Arc::clone(&sys.workers[0]);
    // A replica claimed the connection and died mid-sync: its lease stays behind.
    let lease = ctx.lease();
    {
        let mut db = sys.env.pool().get().await?;
        let claim = calsync_db::connections::try_claim(
            &mut db,
            connection,
            "dead-replica",
            ctx.clock.now(),
            lease,
        )
        .await?;
        assert!(claim.is_some(), "the dead replica held the lease");
    }
    let day = test_day();
    let ten = at(day, 10, 0);
    let before = sys.google.list_calls(GOOGLE_USER);
    sys.google
        .insert_event(GOOGLE_USER, google_event("During the dead lease", ten, 60))?;
    eventually("the push to be recorded as pending", || async {
        Ok(sys.connection(connection).await?.sync_pending)
    })
    .await?;
    assert_eq!(
        sys.google.list_calls(GOOGLE_USER),
        before,
        "no sync while the lease is held"
    );

    clock.advance(lease + chrono::Duration::seconds(1));
    // SKIP LOCKED passes over the row while the push's handler still has it locked,
    // so a tick may come too early; a later one must claim it.
    let scheduler = tokio::sync::Mutex::new(Scheduler::new(Arc::clone(&ctx)));
    // A late duplicate of the push (the sandbox redelivers when ingest answers slowly
    // under load) may reach the worker after the lease lapsed and sync first; then the
    // request is no longer orphaned, and that is as good.
    eventually("the scheduler to pick the orphaned request up", || async {
        let polled = scheduler.lock().await.run_once().await?.polled;
        let synced = !sys.connection(connection).await?.sync_pending
            && sys.google.list_calls(GOOGLE_USER) > before;
        Ok(polled == vec![connection] || synced)
    })
    .await?;
    sys.wait_slot(specialist, ten, false).await?;
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_google_calendar_blocks_only_while_chosen() -> anyhow::Result<()> {
    shared::a_second_calendar_blocks_only_while_chosen::<Google>("agent-google-two-cals").await
}
