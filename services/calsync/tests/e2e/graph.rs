//! Microsoft Graph end to end (issue 4): connect, change notifications, delta sync,
//! subscription renewal before expiry, and a `missed` lifecycle notification repairing
//! a change whose notification was dropped.

use crate::provider::{graph_event, Graph};
use crate::shared;
use crate::support::{at, eventually, test_day, Options, TestSystem, GRAPH_USER};
use calsync_sandboxes::graph::DeltaExpiry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coworkers_outlook_event_blocks_its_slot_until_it_is_moved_and_then_deleted(
) -> anyhow::Result<()> {
    shared::coworker_event_blocks_its_slot_until_moved_and_then_deleted::<Graph>("agent-graph-1")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_graph_access_token_is_refreshed_and_a_revoked_grant_pauses_the_connection(
) -> anyhow::Result<()> {
    shared::an_expired_token_is_refreshed_and_a_revoked_grant_pauses_the_connection::<Graph>(
        "agent-graph-tokens",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_lifecycle_notification_resyncs_and_repairs_a_dropped_change() -> anyhow::Result<()>
{
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-graph-missed").await?;
    let connection = sys.connect_and_sync("microsoft", specialist).await?;
    sys.wait_idle(connection).await?;
    let day = test_day();
    let eleven = at(day, 11, 0);
    let syncs_before = sys.connection(connection).await?.sync_count;

    sys.graph.drop_next_notifications(1);
    sys.graph
        .create_event(GRAPH_USER, graph_event("Dropped", eleven, 60))?;
    eventually("the notification to be dropped", || async {
        Ok(sys.graph.dropped_notifications() == 1)
    })
    .await?;
    sys.wait_idle(connection).await?;
    assert_eq!(
        sys.connection(connection).await?.sync_count,
        syncs_before,
        "nothing told the worker"
    );
    assert!(
        sys.slot_starts(specialist, day).await?.contains(&eleven),
        "the change is not known yet"
    );

    let sub = sys
        .graph
        .subscriptions()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no subscription"))?;
    let status = sys.graph.send_lifecycle(&sub.id, "missed").await?;
    assert_eq!(
        status,
        Some(202),
        "ingest accepts the lifecycle notification"
    );
    sys.wait_slot(specialist, eleven, false).await?;
    assert_eq!(sys.events(connection).await?.len(), 1);
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_subscription_is_renewed_before_it_expires() -> anyhow::Result<()> {
    shared::the_webhook_is_renewed_before_it_expires::<Graph>("agent-graph-renew").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_graph_subscription_is_recreated_and_notifications_flow_again(
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-graph-removed").await?;
    let connection = sys.connect_and_sync("microsoft", specialist).await?;
    sys.wait_idle(connection).await?;
    let old = sys
        .graph
        .subscriptions()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no subscription"))?;

    let status = sys
        .graph
        .send_lifecycle(&old.id, "subscriptionRemoved")
        .await?;
    assert_eq!(status, Some(202));
    eventually("a new subscription", || async {
        let subs = sys.graph.subscriptions();
        let stored = sys
            .primary_calendar(connection)
            .await?
            .webhook_subscription_id;
        Ok(subs.len() == 1
            && subs[0].id != old.id
            && stored.as_deref() == Some(subs[0].id.as_str()))
    })
    .await?;

    let day = test_day();
    let ten = at(day, 10, 0);
    sys.graph
        .create_event(GRAPH_USER, graph_event("After recreation", ten, 60))?;
    sys.wait_slot(specialist, ten, false).await?;
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_delta_token_leads_to_a_new_initial_round_that_replaces_the_stored_set(
) -> anyhow::Result<()> {
    expired_delta_token_resyncs(DeltaExpiry::Gone, "agent-graph-410").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_delta_token_answered_with_400_sync_state_not_found_resyncs_too(
) -> anyhow::Result<()> {
    expired_delta_token_resyncs(DeltaExpiry::BadRequest, "agent-graph-400").await
}

/// Graph answers an expired delta token with 410 or with a 400 `SyncStateNotFound`:
/// either way the worker starts a new initial round and the stored set converges.
async fn expired_delta_token_resyncs(shape: DeltaExpiry, user: &str) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    sys.graph.set_delta_expiry(shape);
    let specialist = sys.create_specialist(user).await?;
    let connection = sys.connect_and_sync("microsoft", specialist).await?;
    let day = test_day();
    let gone = sys
        .graph
        .create_event(GRAPH_USER, graph_event("Gone", at(day, 9, 0), 60))?;
    eventually("the first event stored", || async {
        Ok(sys.events(connection).await?.len() == 1)
    })
    .await?;
    sys.wait_idle(connection).await?;
    let cursor_before = sys.primary_calendar(connection).await?.sync_cursor;

    sys.graph.invalidate_delta_tokens();
    // The deletion's notification is lost too: only the new initial round can notice it.
    sys.graph.drop_next_notifications(1);
    sys.graph.delete_event(GRAPH_USER, &gone)?;
    let keep = sys
        .graph
        .create_event(GRAPH_USER, graph_event("Keep", at(day, 13, 0), 60))?;
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
    assert_ne!(k.sync_cursor, cursor_before);
    assert!(c.last_error.is_none(), "{c:?}");
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_throttling_is_retried_after_retry_after_and_the_change_still_lands(
) -> anyhow::Result<()> {
    shared::throttled_reads_are_retried_and_the_change_still_lands::<Graph>("agent-graph-429").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reauthorization_required_lifecycle_event_renews_the_subscription_in_place(
) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-graph-reauth").await?;
    let connection = sys.connect_and_sync("microsoft", specialist).await?;
    sys.wait_idle(connection).await?;
    let sub = sys
        .graph
        .subscriptions()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no subscription"))?;
    // Let a little time pass so that a renewal grants a visibly later expiry.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let status = sys
        .graph
        .send_lifecycle(&sub.id, "reauthorizationRequired")
        .await?;
    assert_eq!(status, Some(202));
    eventually("the subscription to be renewed", || async {
        let subs = sys.graph.subscriptions();
        Ok(subs.len() == 1 && subs[0].id == sub.id && subs[0].expiration > sub.expiration)
    })
    .await?;
    eventually("the connection to store the renewed expiry", || async {
        let c = sys.primary_calendar(connection).await?;
        Ok(!c.webhook_renew_requested
            && c.webhook_subscription_id.as_deref() == Some(sub.id.as_str())
            && c.webhook_expires_at.is_some_and(|t| t > sub.expiration))
    })
    .await?;
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_outlook_calendar_blocks_only_while_chosen() -> anyhow::Result<()> {
    shared::a_second_calendar_blocks_only_while_chosen::<Graph>("agent-graph-two-cals").await
}
