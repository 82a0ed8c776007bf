//! `calendar_connections`: one connected calendar, its encrypted tokens, sync cursor,
//! webhook and the lease that keeps syncs of one connection one at a time.
//!
//! Invariant 2 (one sync at a time, a notice during a sync causes one more sync): a
//! notice sets `sync_pending`; `try_claim` takes the lease only when it is free and
//! clears `sync_pending`; `release` hands back whether `sync_pending` was set again in
//! the meantime, and then the holder claims once more. Every time is passed in (`now`)
//! so that tests can drive a simulated clock.

use crate::schema::calendar_connections as cc;
use crate::DbError;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = cc, check_for_backend(diesel::pg::Pg))]
pub struct Connection {
    pub id: Uuid,
    pub specialist_id: Uuid,
    pub provider: String,
    pub external_calendar_id: String,
    pub account_email: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub sync_enabled: bool,
    pub needs_reauth: bool,
    pub sync_cursor: Option<String>,
    pub sync_window_start: Option<DateTime<Utc>>,
    pub ics_etag: Option<String>,
    pub ics_last_modified: Option<String>,
    pub webhook_channel_id: Option<String>,
    pub webhook_resource_id: Option<String>,
    pub webhook_subscription_id: Option<String>,
    pub webhook_expires_at: Option<DateTime<Utc>>,
    pub webhook_last_error: Option<String>,
    pub webhook_renew_after: DateTime<Utc>,
    pub webhook_renew_requested: bool,
    pub webhook_last_message: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    pub next_poll_at: DateTime<Utc>,
    pub sync_pending: bool,
    pub full_resync_requested: bool,
    pub sync_requested_at: Option<DateTime<Utc>>,
    pub sync_count: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewConnection {
    pub specialist_id: Uuid,
    pub provider: String,
    pub external_calendar_id: String,
    pub account_email: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

/// Creates the connection, or reconnects an existing one for the same calendar: new
/// tokens, re-authorisation cleared, sync enabled, and a full sync asked for.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    new: &NewConnection,
) -> Result<Connection, DbError> {
    Ok(diesel::insert_into(cc::table)
        .values((
            cc::id.eq(Uuid::new_v4()),
            cc::specialist_id.eq(new.specialist_id),
            cc::provider.eq(&new.provider),
            cc::external_calendar_id.eq(&new.external_calendar_id),
            cc::account_email.eq(&new.account_email),
            cc::access_token_enc.eq(&new.access_token_enc),
            cc::refresh_token_enc.eq(&new.refresh_token_enc),
            cc::token_expires_at.eq(new.token_expires_at),
        ))
        .on_conflict((cc::specialist_id, cc::provider, cc::external_calendar_id))
        .do_update()
        .set((
            cc::account_email.eq(&new.account_email),
            cc::access_token_enc.eq(&new.access_token_enc),
            cc::refresh_token_enc.eq(&new.refresh_token_enc),
            cc::token_expires_at.eq(new.token_expires_at),
            cc::needs_reauth.eq(false),
            cc::sync_enabled.eq(true),
            cc::full_resync_requested.eq(true),
            cc::last_error.eq(None::<String>),
            cc::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Connection::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Connection, DbError> {
    Ok(cc::table
        .find(id)
        .select(Connection::as_select())
        .first(conn)
        .await?)
}

/// All connections, or those of one specialist, oldest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    specialist_id: Option<Uuid>,
) -> Result<Vec<Connection>, DbError> {
    let mut q = cc::table
        .select(Connection::as_select())
        .order(cc::created_at)
        .into_boxed();
    if let Some(s) = specialist_id {
        q = q.filter(cc::specialist_id.eq(s));
    }
    Ok(q.load(conn).await?)
}

pub async fn for_specialists(
    conn: &mut AsyncPgConnection,
    specialist_ids: &[Uuid],
) -> Result<Vec<Connection>, DbError> {
    Ok(cc::table
        .filter(cc::specialist_id.eq_any(specialist_ids))
        .select(Connection::as_select())
        .load(conn)
        .await?)
}

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
    // One statement so two racing notices cannot both pass the replay check.
    let rows: Vec<RequestRow> = diesel::sql_query(
        "WITH cur AS (
             SELECT id, sync_enabled AND NOT needs_reauth AS active,
                    ($3::text IS NOT NULL AND $4 > 0 AND webhook_channel_id = $3
                     AND $4 <= webhook_last_message) AS duplicate
             FROM calendar_connections WHERE id = $1 FOR UPDATE
         ), upd AS (
             UPDATE calendar_connections c SET
                 sync_pending = true,
                 sync_requested_at = $2,
                 full_resync_requested = c.full_resync_requested OR $5,
                 webhook_last_message = CASE WHEN $3::text IS NOT NULL AND c.webhook_channel_id = $3
                     THEN GREATEST(c.webhook_last_message, $4) ELSE c.webhook_last_message END
             FROM cur WHERE c.id = cur.id AND cur.active AND NOT cur.duplicate
             RETURNING c.id
         )
         SELECT cur.duplicate, cur.active FROM cur",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(now)
    .bind::<Nullable<Text>, _>(channel_id)
    .bind::<BigInt, _>(message)
    .bind::<Bool, _>(full)
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

/// Takes the connection's sync lease if it is free (or its holder's lease ran out).
pub async fn try_claim(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<Claim>, DbError> {
    let rows: Vec<ClaimRow> = diesel::sql_query(
        "WITH prev AS (
             SELECT id, full_resync_requested FROM calendar_connections
             WHERE id = $1 AND sync_enabled AND NOT needs_reauth
               AND (lease_owner IS NULL OR lease_expires_at < $3)
             FOR UPDATE
         )
         UPDATE calendar_connections c SET
             lease_owner = $2, lease_expires_at = $3 + $4,
             sync_pending = false, full_resync_requested = false,
             last_sync_attempt_at = $3
         FROM prev WHERE c.id = prev.id
         RETURNING c.id, prev.full_resync_requested AS full",
    )
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
    let rows: Vec<PendingRow> = diesel::sql_query(
        "UPDATE calendar_connections SET lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $1 AND lease_owner = $2 RETURNING sync_pending",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(owner)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().is_some_and(|r| r.sync_pending))
}

/// What a successful sync stores together with its events (invariant 3: same transaction).
#[derive(Debug, Clone, Default)]
pub struct SyncSuccess {
    pub cursor: Option<String>,
    pub window_start: Option<DateTime<Utc>>,
    pub ics_etag: Option<String>,
    pub ics_last_modified: Option<String>,
}

pub async fn record_success(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    result: &SyncSuccess,
    now: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(cc::table.find(id))
        .set((
            cc::sync_cursor.eq(&result.cursor),
            cc::sync_window_start.eq(result.window_start),
            cc::ics_etag.eq(&result.ics_etag),
            cc::ics_last_modified.eq(&result.ics_last_modified),
            cc::last_sync_at.eq(now),
            cc::last_error.eq(None::<String>),
            cc::last_error_at.eq(None::<DateTime<Utc>>),
            cc::consecutive_failures.eq(0),
            cc::sync_count.eq(cc::sync_count + 1),
            cc::next_poll_at.eq(next_poll_at),
            cc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a failed sync. The stored events stay as they were: a broken provider never
/// empties a calendar. `needs_reauth` pauses syncing until the agent reconnects.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    needs_reauth: bool,
    now: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(cc::table.find(id))
        .set((
            cc::last_error.eq(error),
            cc::last_error_at.eq(now),
            cc::consecutive_failures.eq(cc::consecutive_failures + 1),
            cc::needs_reauth.eq(cc::needs_reauth.or::<bool, Bool>(needs_reauth)),
            cc::next_poll_at.eq(next_poll_at),
            cc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores refreshed tokens. `refresh_token_enc = None` keeps the old refresh token
/// (Google does not send a new one on refresh; Microsoft rotates it).
pub async fn store_tokens(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    access_token_enc: &[u8],
    refresh_token_enc: Option<&[u8]>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    match refresh_token_enc {
        Some(r) => {
            diesel::update(cc::table.find(id))
                .set((
                    cc::access_token_enc.eq(access_token_enc),
                    cc::refresh_token_enc.eq(r),
                    cc::token_expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(cc::table.find(id))
                .set((
                    cc::access_token_enc.eq(access_token_enc),
                    cc::token_expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// The webhook as the provider granted it.
#[derive(Debug, Clone, Default)]
pub struct Webhook {
    pub channel_id: Option<String>,
    pub resource_id: Option<String>,
    pub subscription_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a new webhook. A new Google channel restarts its message numbers at 1.
pub async fn store_webhook(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    webhook: &Webhook,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(cc::table.find(id))
        .set((
            cc::webhook_channel_id.eq(&webhook.channel_id),
            cc::webhook_resource_id.eq(&webhook.resource_id),
            cc::webhook_subscription_id.eq(&webhook.subscription_id),
            cc::webhook_expires_at.eq(webhook.expires_at),
            cc::webhook_last_error.eq(None::<String>),
            cc::webhook_last_message.eq(0),
            cc::webhook_renew_requested.eq(false),
            cc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a failed webhook setup or renewal; the next attempt waits until `retry_at`.
pub async fn record_webhook_error(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    retry_at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(cc::table.find(id))
        .set((
            cc::webhook_last_error.eq(error),
            cc::webhook_renew_after.eq(retry_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Asks for a webhook renewal at the next sync, whatever the expiry says
/// (Graph `reauthorizationRequired`), or drops a webhook the provider removed.
pub async fn request_webhook_renewal(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    webhook_gone: bool,
) -> Result<(), DbError> {
    if webhook_gone {
        diesel::update(cc::table.find(id))
            .set((
                cc::webhook_subscription_id.eq(None::<String>),
                cc::webhook_channel_id.eq(None::<String>),
                cc::webhook_resource_id.eq(None::<String>),
                cc::webhook_expires_at.eq(None::<DateTime<Utc>>),
                cc::webhook_renew_requested.eq(true),
                cc::webhook_renew_after.eq(DateTime::<Utc>::UNIX_EPOCH),
            ))
            .execute(conn)
            .await?;
    } else {
        diesel::update(cc::table.find(id))
            .set((
                cc::webhook_renew_requested.eq(true),
                cc::webhook_renew_after.eq(DateTime::<Utc>::UNIX_EPOCH),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Claims up to `limit` connections due for a poll (or with a sync asked for that no
/// worker picked up), pushing each one's `next_poll_at` ahead by `interval` ± 10 % so
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
               AND (next_poll_at <= $1 OR (sync_pending AND sync_requested_at < $1 - interval '1 minute'))
             ORDER BY next_poll_at
             LIMIT $3
             FOR UPDATE SKIP LOCKED
         )
         UPDATE calendar_connections c
         SET next_poll_at = $1 + $2 * (0.9 + random() * 0.2)
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

/// Claims up to `limit` push connections whose webhook is missing or expires before
/// `renew_before`, and pushes each one's next renewal attempt to `retry_after`, so a
/// renewal that keeps failing is retried at a pace rather than in a tight loop.
pub async fn claim_webhook_renewals(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    renew_before: DateTime<Utc>,
    retry_after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<IdRow> = diesel::sql_query(
        "WITH due AS (
             SELECT id FROM calendar_connections
             WHERE sync_enabled AND NOT needs_reauth AND provider <> 'ics'
               AND (webhook_expires_at IS NULL OR webhook_expires_at < $2)
               AND webhook_renew_after <= $1
             ORDER BY webhook_expires_at NULLS FIRST
             LIMIT $4
             FOR UPDATE SKIP LOCKED
         )
         UPDATE calendar_connections c SET webhook_renew_after = $3
         FROM due WHERE c.id = due.id
         RETURNING c.id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(renew_before)
    .bind::<Timestamptz, _>(retry_after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

pub async fn set_sync_enabled(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    enabled: bool,
) -> Result<(), DbError> {
    diesel::update(cc::table.find(id))
        .set(cc::sync_enabled.eq(enabled))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct WebhookStateCount {
    #[diesel(sql_type = Text)]
    pub provider: String,
    /// `active`, `expiring`, `expired`, `missing` or `not_applicable` (ICS), as
    /// `calsync_core::webhook::WebhookState` names them.
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Enabled connections counted by provider and webhook state, in one grouped query (the
/// scheduler refreshes a gauge from it every tick). A webhook expiring before
/// `renew_before` counts as `expiring`, as `WebhookState::classify` has it.
pub async fn webhook_state_counts(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    renew_before: DateTime<Utc>,
) -> Result<Vec<WebhookStateCount>, DbError> {
    Ok(diesel::sql_query(
        "SELECT provider, state, count(*) AS count FROM (
             SELECT provider, CASE
                 WHEN provider = 'ics' THEN 'not_applicable'
                 WHEN (webhook_channel_id IS NULL AND webhook_subscription_id IS NULL)
                      OR webhook_expires_at IS NULL THEN 'missing'
                 WHEN webhook_expires_at <= $1 THEN 'expired'
                 WHEN webhook_expires_at <= $2 THEN 'expiring'
                 ELSE 'active' END AS state
             FROM calendar_connections WHERE sync_enabled
         ) s GROUP BY provider, state",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(renew_before)
    .load(conn)
    .await?)
}
