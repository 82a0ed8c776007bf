//! The sync lease (invariant 2: one sync at a time per connection, and a notice during a
//! sync causes one more). A notice sets `sync_pending`; `try_claim` takes the lease only
//! when it is free and clears `sync_pending`; `release` hands back whether
//! `sync_pending` was set again meanwhile, and then the holder claims once more. Leases
//! are short and renewed by their holder while it works, so a dead holder's connections
//! are picked up within seconds.
//!
//! Lease bookkeeping commits without waiting for its WAL flush (`RELAXED`): see there
//! why a crash can lose nothing by it.

use super::{get, Connection};
use crate::prepared::prepared;
use crate::DbError;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{BigInt, Bool, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Prepended to the lease statements (claim, renew, release): their commit does not wait
/// for its WAL flush (`synchronous_commit = off`, for this transaction only). A sync
/// waited on three such flushes besides its events' one, and on a disk shared with
/// other work they were most of its time. Losing one of these commits (only a crash of
/// the PostgreSQL server can: the commit is visible at once and flushed within
/// `wal_writer_delay`) loses no change:
/// - a claim lost: the lease is free again and `sync_pending` (and a full-resync
///   request) set again, so the scheduler's claim of pending requests syncs once more;
///   and a claim whose sync committed events cannot be lost, since that commit flushes
///   the WAL up to itself, the claim's record included;
/// - a renewal lost: the lease ends earlier; a holder that finds it taken stops writing;
/// - a release lost: the lease stays taken until it expires (`lease_secs`), then the
///   scheduler's claim takes the connection over; `sync_pending` itself is never
///   written here.
///
/// `request_sync` (the record behind an acked notice), the events and the cursor are
/// never relaxed. The setting is `LOCAL` to the transaction: never run these statements
/// inside a caller's transaction that writes anything else, which it would relax too.
const RELAXED: &str = "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))";

/// What became of a sync request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRequest {
    /// Recorded: the connection has `sync_pending` set.
    Pending,
    /// A replayed push (same channel, message number already seen): nothing to do.
    Duplicate,
    /// No such connection, or its sync is paused (re-authorisation needed, disabled).
    Inactive,
}

#[derive(QueryableByName)]
struct RequestRow {
    #[diesel(sql_type = Bool)]
    duplicate: bool,
    #[diesel(sql_type = Bool)]
    active: bool,
}

/// How far below the highest message number seen a push still counts as a replay. A
/// push with a far-future number (replayed with a forged header, or a provider glitch)
/// raises the mark, but the real pushes that follow sit far below it and are not
/// mistaken for replays: the guard saves fetches, it never blinds a channel.
const REPLAY_WINDOW: i64 = 1_000;

/// Records that a connection should be synced. A Google push carries its channel id and
/// message number: one already seen for the current channel is a replay.
pub async fn request_sync(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    full: bool,
    channel: Option<(&str, i64)>,
) -> Result<SyncRequest, DbError> {
    let (channel_id, message) = match channel {
        Some((c, m)) => (Some(c), m),
        None => (None, 0),
    };
    // One statement so two racing notices cannot both pass the replay check. Row locks
    // here and in the claims are `FOR NO KEY UPDATE` (no key is ever updated): `FOR
    // UPDATE` also blocks the foreign-key checks (`FOR KEY SHARE`) of every event
    // insert for the connection, and under load those waits were a sync's longest.
    let rows: Vec<RequestRow> = prepared(
        "WITH cur AS (
             SELECT id, sync_enabled AND NOT needs_reauth AS active
             FROM calendar_connections WHERE id = $1 FOR NO KEY UPDATE
         ), chan AS (
             -- The calendar whose channel pushed, if any (message numbers are per channel).
             SELECT k.calendar_id, ($4 <= k.webhook_last_message
                                    AND $4 > k.webhook_last_message - $6) AS duplicate
             FROM connection_calendars k
             WHERE $3::text IS NOT NULL AND $4 > 0
               AND k.connection_id = $1 AND k.webhook_channel_id = $3
             FOR NO KEY UPDATE
         ), upd AS (
             UPDATE calendar_connections c SET
                 sync_pending = true,
                 sync_requested_at = $2,
                 full_resync_requested = c.full_resync_requested OR $5
             FROM cur WHERE c.id = cur.id AND cur.active
               AND NOT EXISTS (SELECT 1 FROM chan WHERE chan.duplicate)
             RETURNING c.id
         ), mark AS (
             UPDATE connection_calendars k
             SET webhook_last_message = GREATEST(k.webhook_last_message, $4)
             FROM chan, cur
             WHERE k.connection_id = $1 AND k.calendar_id = chan.calendar_id
               AND cur.active AND NOT chan.duplicate
             RETURNING k.calendar_id
         )
         SELECT COALESCE((SELECT bool_or(duplicate) FROM chan), false) AS duplicate,
                cur.active FROM cur",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(now)
    .bind::<Nullable<Text>, _>(channel_id)
    .bind::<BigInt, _>(message)
    .bind::<Bool, _>(full)
    .bind::<BigInt, _>(REPLAY_WINDOW)
    .load(conn)
    .await?;
    Ok(match rows.into_iter().next().as_ref() {
        None => SyncRequest::Inactive,
        Some(r) if !r.active => SyncRequest::Inactive,
        Some(r) if r.duplicate => SyncRequest::Duplicate,
        Some(_) => SyncRequest::Pending,
    })
}

/// A claimed connection: the lease is ours until `release` or expiry.
#[derive(Debug, Clone)]
pub struct Claim {
    pub connection: Connection,
    /// A full resync was asked for (Graph `missed`, operator force, reconnect).
    pub full_resync: bool,
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    full: bool,
}

/// Takes the connection's lease for work other than a sync (opening a webhook from the
/// api, which may refresh tokens): the sync flags stay as they are, so a notice that
/// arrives meanwhile is synced by whoever claims next.
pub async fn try_lease(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, DbError> {
    let n = prepared(
        "UPDATE calendar_connections SET lease_owner = $2, lease_expires_at = $3 + $4
         WHERE id = $1 AND (lease_owner IS NULL OR lease_expires_at < $3)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(lease)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Pushes the holder's lease to `now + lease`. False when the lease is no longer ours
/// (it lapsed and another worker took it): the holder must stop writing.
pub async fn extend_lease(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<bool, DbError> {
    let n = prepared(format!(
        "{RELAXED}
         UPDATE calendar_connections SET lease_expires_at = $3 + $4
         FROM relaxed WHERE id = $1 AND lease_owner = $2"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(lease)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Takes the connection's sync lease if it is free (or its holder's lease ran out).
pub async fn try_claim(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<Claim>, DbError> {
    let rows: Vec<ClaimRow> = prepared(format!(
        "{RELAXED}, prev AS (
             SELECT id, full_resync_requested FROM calendar_connections
             WHERE id = $1 AND sync_enabled AND NOT needs_reauth
               AND (lease_owner IS NULL OR lease_expires_at < $3)
             FOR NO KEY UPDATE
         )
         UPDATE calendar_connections c SET
             lease_owner = $2, lease_expires_at = $3 + $4,
             sync_pending = false, full_resync_requested = false,
             last_sync_attempt_at = $3
         FROM prev, relaxed WHERE c.id = prev.id
         RETURNING c.id, prev.full_resync_requested AS full"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(lease)
    .load(conn)
    .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let connection = get(conn, row.id).await?;
    Ok(Some(Claim {
        connection,
        full_resync: row.full,
    }))
}

#[derive(QueryableByName)]
struct PendingRow {
    #[diesel(sql_type = Bool)]
    sync_pending: bool,
}

/// Gives the lease back. Returns true when another sync was asked for meanwhile: the
/// caller then tries to claim again, so no notice is lost between fetch and release.
pub async fn release(conn: &mut AsyncPgConnection, id: Uuid, owner: &str) -> Result<bool, DbError> {
    let rows: Vec<PendingRow> = prepared(format!(
        "{RELAXED}
         UPDATE calendar_connections SET lease_owner = NULL, lease_expires_at = NULL
         FROM relaxed WHERE id = $1 AND lease_owner = $2 RETURNING sync_pending"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().is_some_and(|r| r.sync_pending))
}
