//! `calendar_connections`: one connected account (or ICS feed), its encrypted tokens,
//! poll schedule, errors and the lease that keeps syncs of one connection one at a time.
//! The row and its lifecycle live here; the other concerns have a module each. What is
//! per calendar of an account (cursor, webhook, choices) is in `crate::calendars`.
//!
//! Every time is passed in (`now`) so that tests can drive a simulated clock.

mod claims;
mod lease;
mod outcome;
mod tokens;

pub use claims::claim_due_polls;
pub use lease::{extend_lease, release, request_sync, try_claim, try_lease, Claim, SyncRequest};
pub use outcome::{record_failure, record_success, FailureKind, SyncSuccess};
pub use tokens::store_tokens;

use crate::schema::calendar_connections as cc;
use crate::DbError;
use calsync_core::Provider;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cc, check_for_backend(diesel::pg::Pg))]
pub struct Connection {
    pub id: Uuid,
    pub specialist_id: Uuid,
    /// A value the enum does not know fails the load: a row no code can sync is a bug
    /// to surface, not a connection to skip quietly.
    #[diesel(deserialize_as = String)]
    pub provider: Provider,
    pub external_calendar_id: String,
    pub account_email: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
    pub sync_enabled: bool,
    pub needs_reauth: bool,
    /// ICS feeds: start of the window the last expansion covered.
    pub sync_window_start: Option<DateTime<Utc>>,
    pub ics_etag: Option<String>,
    pub ics_last_modified: Option<String>,
    /// SHA-256 (hex) of the last feed body expanded.
    pub ics_body_sha256: Option<String>,
    /// How often the feed asks to be fetched (REFRESH-INTERVAL / X-PUBLISHED-TTL), as of
    /// its last expansion. Shown, never obeyed: polling keeps the configured interval.
    pub ics_refresh_interval_secs: Option<i32>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Whether `last_error` is a failure that waiting will not fix (see `FailureKind`).
    pub last_error_permanent: bool,
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
    pub provider: Provider,
    pub external_calendar_id: String,
    pub account_email: Option<String>,
    pub access_token_enc: Option<Vec<u8>>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

/// Creates the connection, or reconnects an existing one for the same calendar: new
/// tokens, re-authorisation cleared, sync enabled, and a full sync asked for. An OAuth
/// connection gets its primary calendar's row (blocking, receiving bookings) if it has
/// none yet.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    new: &NewConnection,
) -> Result<Connection, DbError> {
    let row = insert_or_reconnect(conn, new).await?;
    if row.provider.has_webhooks() {
        crate::calendars::ensure_primary(conn, row.id, &row.external_calendar_id).await?;
    }
    Ok(row)
}

async fn insert_or_reconnect(
    conn: &mut AsyncPgConnection,
    new: &NewConnection,
) -> Result<Connection, DbError> {
    Ok(diesel::insert_into(cc::table)
        .values((
            cc::id.eq(Uuid::new_v4()),
            cc::specialist_id.eq(new.specialist_id),
            cc::provider.eq(new.provider.as_str()),
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
            cc::last_error_permanent.eq(false),
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
