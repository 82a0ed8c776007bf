//! The scheduler's poll claims, taken with `FOR NO KEY UPDATE SKIP LOCKED` so that replicas
//! never claim the same row (webhook renewals are claimed per calendar, in
//! `crate::calendars`).

use crate::DbError;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{BigInt, Interval, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Claims up to `limit` connections due for a poll, or with a sync asked for that no
/// worker picked up: one that no drive took within a minute (its notice is acked once
/// recorded, and the worker may have died since), or one asked for while a
/// holder that has since died (its lease lapsed unreleased) was syncing. The notice
/// that found the lease taken is gone, so without this the change would wait for the
/// next poll. Pushes each one's `next_poll_at` ahead by `interval` ± 10 % so
/// a fleet of connections spreads out. SKIP LOCKED: replicas never claim the same row.
pub async fn claim_due_polls(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    interval: Duration,
    limit: i64,
) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<IdRow> = diesel::sql_query(
        "WITH due AS (
             SELECT id FROM calendar_connections
             WHERE sync_enabled AND NOT needs_reauth
               AND (lease_owner IS NULL OR lease_expires_at < $1)
               AND (next_poll_at <= $1
                    OR (sync_pending AND (sync_requested_at < $1 - interval '1 minute'
                                          OR lease_expires_at < $1)))
             ORDER BY next_poll_at
             LIMIT $3
             FOR NO KEY UPDATE SKIP LOCKED
         )
         UPDATE calendar_connections c
         SET next_poll_at = $1 + $2 * (0.9 + random() * 0.2),
             -- A lapsed lease is cleared and the request re-dated, so the claim is
             -- not repeated on every tick while no consumer takes the notice.
             sync_requested_at = CASE WHEN c.sync_pending THEN $1 ELSE c.sync_requested_at END,
             lease_owner = CASE WHEN c.lease_expires_at < $1 THEN NULL ELSE c.lease_owner END,
             lease_expires_at = CASE WHEN c.lease_expires_at < $1 THEN NULL ELSE c.lease_expires_at END
         FROM due WHERE c.id = due.id
         RETURNING c.id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(interval)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
