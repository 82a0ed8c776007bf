//! `calendar_connections`: the sync lease and pending flag (invariant 2) and push
//! replay detection.

use crate::support::{conn, connection, specialist, test_db, within};
use calsync_db::calendars::{self, Webhook};
use calsync_db::connections::{self, SyncRequest};
use calsync_db::{AsyncPgConnection, DbError};
use chrono::{Duration, Utc};
use diesel::sql_types::Text;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

const LEASE: Duration = Duration::seconds(60);

pub(crate) fn webhook(channel: &str) -> Webhook {
    Webhook {
        channel_id: Some(channel.to_owned()),
        resource_id: Some("res".to_owned()),
        subscription_id: None,
        expires_at: Some(Utc::now() + Duration::days(7)),
    }
}

#[tokio::test]
async fn a_notice_while_the_lease_is_held_makes_release_ask_for_another_sync() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let now = Utc::now();

    let first = within(
        "request",
        connections::request_sync(&mut c, id, now, false, None),
    )
    .await;
    assert_eq!(first.expect("request"), SyncRequest::Pending);
    let claim = within(
        "claim",
        connections::try_claim(&mut c, id, "worker-a", now, LEASE),
    )
    .await
    .expect("claim")
    .expect("a free lease is granted");
    assert!(
        !claim.connection.sync_pending,
        "claiming consumes the pending flag"
    );
    assert_eq!(claim.connection.lease_owner.as_deref(), Some("worker-a"));

    let busy = within(
        "second claim",
        connections::try_claim(&mut c, id, "worker-b", now, LEASE),
    )
    .await
    .expect("claim");
    assert!(busy.is_none(), "one sync at a time");
    let during = within(
        "notice during sync",
        connections::request_sync(&mut c, id, now, true, None),
    )
    .await
    .expect("request");
    assert_eq!(during, SyncRequest::Pending);

    let again = within("release", connections::release(&mut c, id, "worker-a"))
        .await
        .expect("release");
    assert!(
        again,
        "a notice arrived during the sync: the holder must sync once more"
    );

    let reclaim = within(
        "reclaim",
        connections::try_claim(&mut c, id, "worker-a", now, LEASE),
    )
    .await
    .expect("claim")
    .expect("the lease is free again");
    assert!(
        reclaim.full_resync,
        "the full-resync request survives until claimed"
    );
    let quiet = within("release", connections::release(&mut c, id, "worker-a"))
        .await
        .expect("release");
    assert!(!quiet, "no notice since the last claim: nothing more to do");
}

#[tokio::test]
async fn release_by_someone_who_does_not_hold_the_lease_changes_nothing() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let now = Utc::now();
    within(
        "claim",
        connections::try_claim(&mut c, id, "worker-a", now, LEASE),
    )
    .await
    .expect("claim")
    .expect("granted");
    within(
        "notice",
        connections::request_sync(&mut c, id, now, false, None),
    )
    .await
    .expect("request");

    let stranger = within("release", connections::release(&mut c, id, "worker-b"))
        .await
        .expect("release");
    assert!(!stranger, "a non-holder learns nothing");
    let row = within("get", connections::get(&mut c, id))
        .await
        .expect("get");
    assert_eq!(
        row.lease_owner.as_deref(),
        Some("worker-a"),
        "the holder keeps the lease"
    );
    assert!(row.sync_pending, "the pending flag is left for the holder");
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn synchronous_commit(c: &mut AsyncPgConnection) -> Result<String, DbError> {
    let rows: Vec<Setting> =
        diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
            .load(c)
            .await?;
    Ok(rows.into_iter().next().map(|r| r.value).unwrap_or_default())
}

/// Each lease statement's transaction commits without waiting for its WAL flush (a
/// lost lease commit loses no change; see the lease module), and only that
/// transaction: the request behind an acked notice, and whatever the session runs
/// next, still wait for theirs.
#[tokio::test]
async fn lease_statements_relax_their_own_commit_and_nothing_else() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let now = Utc::now();

    // Run inside a transaction, a statement's LOCAL setting can still be read after it.
    let seen = within(
        "claim, renew, release and a request, each in a transaction",
        async {
            let mut seen = Vec::new();
            for step in ["claim", "renew", "release", "request"] {
                let value = c
                    .transaction::<_, DbError, _>(|tx| {
                        async move {
                            match step {
                                "claim" => {
                                    connections::try_claim(tx, id, "worker-a", now, LEASE)
                                        .await?
                                        .expect("the lease is free");
                                }
                                "renew" => {
                                    let held =
                                        connections::extend_lease(tx, id, "worker-a", now, LEASE)
                                            .await?;
                                    assert!(held, "the holder renews its lease");
                                }
                                "release" => {
                                    connections::release(tx, id, "worker-a").await?;
                                }
                                _ => {
                                    connections::request_sync(tx, id, now, false, None).await?;
                                }
                            }
                            synchronous_commit(tx).await
                        }
                        .scope_boxed()
                    })
                    .await?;
                seen.push((step, value));
            }
            Ok::<_, DbError>(seen)
        },
    )
    .await
    .expect("statements");
    assert_eq!(
        seen,
        [
            ("claim", "off".to_owned()),
            ("renew", "off".to_owned()),
            ("release", "off".to_owned()),
            ("request", "on".to_owned()),
        ],
        "only the lease bookkeeping is relaxed"
    );
    let after = within("setting after", synchronous_commit(&mut c))
        .await
        .expect("setting");
    assert_eq!(after, "on", "the relaxed setting ends with its transaction");
    let row = within("get", connections::get(&mut c, id))
        .await
        .expect("get");
    assert!(row.lease_owner.is_none(), "released");
    assert!(row.sync_pending, "the request is recorded");
}

/// A Google push notice for `id` on `channel` with message number `n`.
async fn push(c: &mut calsync_db::DbConn, id: Uuid, channel: &str, n: i64) -> SyncRequest {
    let now = Utc::now();
    within(
        "push",
        connections::request_sync(c, id, now, false, Some((channel, n))),
    )
    .await
    .expect("request")
}

#[tokio::test]
async fn a_replayed_push_message_is_a_duplicate_and_a_new_channel_starts_over() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let now = Utc::now();
    within(
        "webhook",
        calendars::store_webhook(&mut c, id, "primary", &webhook("ch-1"), now),
    )
    .await
    .expect("store");

    assert_eq!(push(&mut c, id, "ch-1", 5).await, SyncRequest::Pending);
    assert_eq!(
        push(&mut c, id, "ch-1", 5).await,
        SyncRequest::Duplicate,
        "same number again"
    );
    assert_eq!(
        push(&mut c, id, "ch-1", 3).await,
        SyncRequest::Duplicate,
        "an older number"
    );
    assert_eq!(
        push(&mut c, id, "ch-1", 6).await,
        SyncRequest::Pending,
        "a newer number"
    );
    assert_eq!(
        push(&mut c, id, "ch-old", 1).await,
        SyncRequest::Pending,
        "another channel is not checked"
    );
    // A forged far-future number (issue 11.5) must not blind the channel: the provider's
    // next real pushes, far below it, still ask for a sync.
    assert_eq!(
        push(&mut c, id, "ch-1", 9_000_000_000).await,
        SyncRequest::Pending,
        "the forged push itself"
    );
    assert_eq!(
        push(&mut c, id, "ch-1", 7).await,
        SyncRequest::Pending,
        "the next real push after a far-future one"
    );
    assert_eq!(
        push(&mut c, id, "ch-1", 8).await,
        SyncRequest::Pending,
        "and the one after"
    );
    assert_eq!(
        push(&mut c, id, "ch-1", 9_000_000_000).await,
        SyncRequest::Duplicate,
        "the forged number itself is still a replay"
    );

    within(
        "new channel",
        calendars::store_webhook(&mut c, id, "primary", &webhook("ch-2"), now),
    )
    .await
    .expect("store");
    let row = within("calendars", calendars::list(&mut c, id))
        .await
        .expect("calendars")
        .remove(0);
    assert_eq!(
        row.webhook_last_message, 0,
        "a new channel restarts its numbering"
    );
    assert_eq!(
        push(&mut c, id, "ch-2", 1).await,
        SyncRequest::Pending,
        "message 1 of the new channel"
    );
    assert_eq!(push(&mut c, id, "ch-2", 1).await, SyncRequest::Duplicate);
}

#[tokio::test]
async fn a_sync_request_for_a_paused_or_unknown_connection_is_inactive() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let now = Utc::now();
    within("disable", connections::set_sync_enabled(&mut c, id, false))
        .await
        .expect("disable");

    let paused = within(
        "request",
        connections::request_sync(&mut c, id, now, false, None),
    )
    .await;
    assert_eq!(paused.expect("request"), SyncRequest::Inactive);
    let unknown = within(
        "request",
        connections::request_sync(&mut c, Uuid::new_v4(), now, false, None),
    )
    .await;
    assert_eq!(unknown.expect("request"), SyncRequest::Inactive);
    let claim = within("claim", connections::try_claim(&mut c, id, "w", now, LEASE))
        .await
        .expect("claim");
    assert!(claim.is_none(), "a disabled connection is never claimed");
}

#[tokio::test]
async fn an_expired_lease_can_be_claimed_by_another_worker() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let id = connection(&mut c, s, "google", "primary").await.id;
    let now = Utc::now();
    within(
        "claim",
        connections::try_claim(&mut c, id, "worker-a", now, LEASE),
    )
    .await
    .expect("claim")
    .expect("granted");

    let early = within(
        "claim",
        connections::try_claim(&mut c, id, "worker-b", now + Duration::seconds(59), LEASE),
    )
    .await
    .expect("claim");
    assert!(early.is_none(), "the lease still runs");
    let late = within(
        "claim",
        connections::try_claim(&mut c, id, "worker-b", now + Duration::seconds(61), LEASE),
    )
    .await
    .expect("claim")
    .expect("an expired lease is up for grabs");
    assert_eq!(late.connection.lease_owner.as_deref(), Some("worker-b"));

    let stale = within("release", connections::release(&mut c, id, "worker-a"))
        .await
        .expect("release");
    assert!(!stale);
    let row = within("get", connections::get(&mut c, id))
        .await
        .expect("get");
    assert_eq!(
        row.lease_owner.as_deref(),
        Some("worker-b"),
        "the old holder cannot free the new lease"
    );
}
