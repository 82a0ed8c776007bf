//! The drain's side of the outbox: claiming due writes (`FOR NO KEY UPDATE SKIP LOCKED`, so
//! replicas never take the same row) and recording each outcome. Every outcome is fenced
//! by the claim: a worker whose claim lapsed and was taken over writes nothing.

use super::CalendarWrite;
use crate::DbError;
use chrono::{DateTime, Duration, Utc};
use diesel::sql_types::{BigInt, Bool, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Claims up to `limit` due pending writes of connections that can be written to now
/// (enabled, not waiting for re-authorisation), oldest due first, for `ttl`.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    owner: &str,
    now: DateTime<Utc>,
    ttl: Duration,
    limit: i64,
) -> Result<Vec<CalendarWrite>, DbError> {
    Ok(diesel::sql_query(
        "WITH due AS (
             SELECT w.id FROM calendar_writes w
             JOIN calendar_connections c ON c.id = w.connection_id
             WHERE w.state = 'pending' AND w.next_attempt_at <= $2
               AND (w.claimed_until IS NULL OR w.claimed_until < $2)
               AND c.sync_enabled AND NOT c.needs_reauth
             ORDER BY w.next_attempt_at
             LIMIT $4
             FOR NO KEY UPDATE OF w SKIP LOCKED
         )
         UPDATE calendar_writes w SET claimed_by = $1, claimed_until = $2 + $3
         FROM due WHERE w.id = due.id
         RETURNING w.id, w.appointment_id, w.connection_id, w.op, w.calendar_id,
                   w.provider_event_id, w.state, w.attempts, w.next_attempt_at,
                   w.last_error, w.claimed_by, w.claimed_until, w.created_at, w.done_at",
    )
    .bind::<Text, _>(owner)
    .bind::<Timestamptz, _>(now)
    .bind::<Interval, _>(ttl)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

/// Gives a claimed write back untouched (its connection was busy): tried again at
/// `next_attempt_at`, not counted as an attempt.
pub async fn release(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    next_attempt_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = diesel::sql_query(
        "UPDATE calendar_writes SET claimed_by = NULL, claimed_until = NULL,
             next_attempt_at = $3
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Timestamptz, _>(next_attempt_at)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Records a write as performed (`done`) or as not needed (`skipped`). A create's event
/// id is stored, and an already synced copy of it is marked as ours in the same
/// statement, so that the copy never blocks a second time whichever came first.
pub async fn finish_done(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    provider_event_id: Option<&str>,
    skipped: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<Count> = diesel::sql_query(
        "WITH w AS (
             UPDATE calendar_writes SET
                 state = CASE WHEN $5 THEN 'skipped' ELSE 'done' END,
                 provider_event_id = COALESCE($3, provider_event_id),
                 attempts = attempts + CASE WHEN $5 THEN 0 ELSE 1 END,
                 done_at = $4, updated_at = $4, last_error = NULL,
                 claimed_by = NULL, claimed_until = NULL
             WHERE id = $1 AND claimed_by = $2
             RETURNING appointment_id, connection_id, provider_event_id, op, state
         ), copy AS (
             UPDATE external_events e SET
                 is_soradin_created = true, appointment_id = w.appointment_id,
                 blocks_availability = false, updated_at = $4
             FROM w
             WHERE w.op = 'create' AND w.state = 'done'
               AND e.connection_id = w.connection_id
               AND e.provider_event_id = w.provider_event_id
             RETURNING e.id
         )
         SELECT count(*) AS n FROM w",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Nullable<Text>, _>(provider_event_id)
    .bind::<Timestamptz, _>(now)
    .bind::<Bool, _>(skipped)
    .load(conn)
    .await?;
    Ok(rows.as_slice().first().is_some_and(|r| r.n == 1))
}

/// Records a failed try: back to pending, tried again at `next_attempt_at`. `counted`
/// false for waits that are not the write's fault (re-authorisation needed).
pub async fn finish_retry(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    error: &str,
    next_attempt_at: DateTime<Utc>,
    counted: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = diesel::sql_query(
        "UPDATE calendar_writes SET
             attempts = attempts + CASE WHEN $5 THEN 1 ELSE 0 END,
             last_error = $3, next_attempt_at = $4, updated_at = $6,
             claimed_by = NULL, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Text, _>(error)
    .bind::<Timestamptz, _>(next_attempt_at)
    .bind::<Bool, _>(counted)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Records a write the provider refused for good.
pub async fn finish_failed(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = diesel::sql_query(
        "UPDATE calendar_writes SET state = 'failed', attempts = attempts + 1,
             last_error = $3, updated_at = $4, claimed_by = NULL, claimed_until = NULL
         WHERE id = $1 AND claimed_by = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<Text, _>(error)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// A delete takes over its create when that one is still pending and nobody holds it:
/// the create is skipped (it must never run after the cancellation). True when skipped
/// now or already; false while another worker holds it.
pub async fn skip_unclaimed_create(
    conn: &mut AsyncPgConnection,
    create_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    #[derive(diesel::QueryableByName)]
    struct State {
        #[diesel(sql_type = Text)]
        state: String,
    }
    let rows: Vec<State> = diesel::sql_query(
        "UPDATE calendar_writes SET
             state = CASE WHEN state = 'pending'
                           AND (claimed_until IS NULL OR claimed_until < $2)
                          THEN 'skipped' ELSE state END,
             updated_at = $2
         WHERE id = $1
         RETURNING state",
    )
    .bind::<SqlUuid, _>(create_id)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    Ok(rows
        .as_slice()
        .first()
        .is_some_and(|r| r.state != "pending"))
}
