//! What a sync leaves on its connection: feed validators with its events
//! (invariant 3: same transaction), or the failure and the back-off.

use crate::prepared::prepared;
use crate::schema::calendar_connections as cc;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What a successful sync stores together with its events (invariant 3: same transaction).
#[derive(Debug, Clone, Default)]
pub struct SyncSuccess {
    /// ICS only (OAuth calendars keep theirs per calendar, in `crate::calendars`).
    pub window_start: Option<DateTime<Utc>>,
    pub ics_etag: Option<String>,
    pub ics_last_modified: Option<String>,
    pub ics_body_sha256: Option<String>,
    /// The feed's own refresh hint in seconds, kept as the last expansion found it.
    pub ics_refresh_interval_secs: Option<i32>,
}

pub async fn record_success(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    result: &SyncSuccess,
    now: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
) -> Result<(), DbError> {
    // Prepared once per connection (diesel never caches an UPDATE's plan): every sync
    // runs this.
    prepared(
        "UPDATE calendar_connections SET
             sync_window_start = $2, ics_etag = $3, ics_last_modified = $4,
             ics_body_sha256 = $5, ics_refresh_interval_secs = $6, last_sync_at = $7,
             last_error = NULL, last_error_at = NULL, last_error_permanent = false,
             consecutive_failures = 0, sync_count = sync_count + 1, next_poll_at = $8,
             updated_at = $7
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<Timestamptz>, _>(result.window_start)
    .bind::<Nullable<Text>, _>(&result.ics_etag)
    .bind::<Nullable<Text>, _>(&result.ics_last_modified)
    .bind::<Nullable<Text>, _>(&result.ics_body_sha256)
    .bind::<Nullable<Integer>, _>(result.ics_refresh_interval_secs)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(next_poll_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How a sync failed, as far as anyone relying on the calendar is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Waiting cures it (throttling, provider 5xx, network trouble): availability keeps
    /// vouching for the calendar for the configured grace after its last good sync.
    Transient,
    /// Waiting will not cure it (a refused address, a missing or unparsable feed): the
    /// calendar is not vouched for from this failure on.
    Permanent,
    /// The grant was revoked or expired: like `Permanent`, and syncing pauses until the
    /// agent reconnects (`needs_reauth`).
    NeedsReauth,
}

/// Records a failed sync. The stored events stay as they were: a broken provider never
/// empties a calendar. `NeedsReauth` pauses syncing until the agent reconnects.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    kind: FailureKind,
    now: DateTime<Utc>,
    next_poll_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let needs_reauth = kind == FailureKind::NeedsReauth;
    diesel::update(cc::table.find(id))
        .set((
            cc::last_error.eq(error),
            cc::last_error_at.eq(now),
            cc::last_error_permanent.eq(kind != FailureKind::Transient),
            cc::consecutive_failures.eq(cc::consecutive_failures + 1),
            cc::needs_reauth.eq(cc::needs_reauth.or::<bool, Bool>(needs_reauth)),
            cc::next_poll_at.eq(next_poll_at),
            cc::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
