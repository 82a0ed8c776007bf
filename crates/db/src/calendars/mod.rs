//! `connection_calendars`: the calendars of a Google or Microsoft account that calsync
//! knows about, and everything that is per calendar: whether it blocks availability,
//! whether bookings are written to it, its sync cursor and its push webhook. The
//! connection keeps what is per account (tokens, lease, poll schedule).
//!
//! Every OAuth connection has its primary calendar's row from the start (blocking and
//! receiving bookings); other calendars get a row when the agent chooses them.

mod webhooks;

pub use webhooks::{
    claim_webhook_renewals, clear_webhook, record_webhook_error, request_webhook_renewal,
    store_webhook, webhook_state_counts, Webhook, WebhookStateCount,
};

use crate::schema::{connection_calendars as cal, external_events};
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The primary row's id, unless the connection was made for another calendar.
pub use calsync_core::PRIMARY_CALENDAR as PRIMARY;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cal, check_for_backend(diesel::pg::Pg))]
pub struct Calendar {
    pub connection_id: Uuid,
    pub calendar_id: String,
    pub name: String,
    pub is_primary: bool,
    pub blocking: bool,
    pub write_to: bool,
    pub sync_cursor: Option<String>,
    pub sync_window_start: Option<DateTime<Utc>>,
    pub webhook_channel_id: Option<String>,
    pub webhook_resource_id: Option<String>,
    pub webhook_subscription_id: Option<String>,
    pub webhook_expires_at: Option<DateTime<Utc>>,
    pub webhook_last_error: Option<String>,
    pub webhook_renew_after: DateTime<Utc>,
    pub webhook_renew_requested: bool,
    pub webhook_last_message: i64,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Calendar {
    /// Whether a webhook id is stored (Google channel or Graph subscription); whether it
    /// is still alive is `calsync_core::webhook::WebhookState`'s business.
    pub fn has_webhook(&self) -> bool {
        self.webhook_channel_id.is_some() || self.webhook_subscription_id.is_some()
    }
}

/// Creates the primary calendar's row of an OAuth connection (blocking, receiving
/// bookings) unless the connection has it already; the agent's choices stay.
pub async fn ensure_primary(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
) -> Result<(), DbError> {
    diesel::insert_into(cal::table)
        .values((
            cal::connection_id.eq(connection_id),
            cal::calendar_id.eq(calendar_id),
            cal::is_primary.eq(true),
            cal::blocking.eq(true),
            cal::write_to.eq(true),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The connection's known calendars, primary first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
) -> Result<Vec<Calendar>, DbError> {
    Ok(cal::table
        .filter(cal::connection_id.eq(connection_id))
        .order((cal::is_primary.desc(), cal::calendar_id))
        .select(Calendar::as_select())
        .load(conn)
        .await?)
}

/// The connection's primary calendar: its cursor and webhook.
pub async fn primary(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
) -> Result<Option<Calendar>, DbError> {
    Ok(cal::table
        .filter(cal::connection_id.eq(connection_id))
        .filter(cal::is_primary)
        .select(Calendar::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The known calendars of several connections (status pages), primary first.
pub async fn for_connections(
    conn: &mut AsyncPgConnection,
    connection_ids: &[Uuid],
) -> Result<Vec<Calendar>, DbError> {
    Ok(cal::table
        .filter(cal::connection_id.eq_any(connection_ids))
        .order((cal::connection_id, cal::is_primary.desc(), cal::calendar_id))
        .select(Calendar::as_select())
        .load(conn)
        .await?)
}

/// The calendars a sync reads: those whose events block availability.
pub async fn blocking(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
) -> Result<Vec<Calendar>, DbError> {
    Ok(cal::table
        .filter(cal::connection_id.eq(connection_id))
        .filter(cal::blocking)
        .order((cal::is_primary.desc(), cal::calendar_id))
        .select(Calendar::as_select())
        .load(conn)
        .await?)
}

/// The calendar that receives the connection's bookings (write-back), if any.
pub async fn write_target(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
) -> Result<Option<String>, DbError> {
    Ok(cal::table
        .filter(cal::connection_id.eq(connection_id))
        .filter(cal::write_to)
        .select(cal::calendar_id)
        .first(conn)
        .await
        .optional()?)
}

/// A calendar the provider lists, as a choice is stored for it.
#[derive(Debug, Clone)]
pub struct Known<'a> {
    pub calendar_id: &'a str,
    pub name: &'a str,
    pub is_primary: bool,
}

/// Stores the agent's choice: exactly `blocking` block availability and `write_to`
/// receives bookings. Ids must be among `known` (the caller validated them against the
/// provider). Calendars that stop blocking lose their events and cursor at once (the
/// worker stops their webhooks); ones that start blocking are synced in full next.
/// Returns the ids that stopped blocking. Run it in a transaction.
pub async fn choose(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    known: &[Known<'_>],
    blocking: &[&str],
    write_to: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbError> {
    for k in known {
        let chosen = blocking.contains(&k.calendar_id) || k.calendar_id == write_to;
        if chosen {
            diesel::insert_into(cal::table)
                .values((
                    cal::connection_id.eq(connection_id),
                    cal::calendar_id.eq(k.calendar_id),
                    cal::name.eq(k.name),
                    cal::is_primary.eq(k.is_primary),
                ))
                .on_conflict((cal::connection_id, cal::calendar_id))
                .do_update()
                .set(cal::name.eq(k.name))
                .execute(conn)
                .await?;
        } else {
            diesel::update(
                cal::table
                    .filter(cal::connection_id.eq(connection_id))
                    .filter(cal::calendar_id.eq(k.calendar_id)),
            )
            .set(cal::name.eq(k.name))
            .execute(conn)
            .await?;
        }
    }
    let released: Vec<String> = diesel::update(
        cal::table
            .filter(cal::connection_id.eq(connection_id))
            .filter(cal::blocking)
            .filter(diesel::dsl::not(cal::calendar_id.eq_any(blocking))),
    )
    .set((
        cal::blocking.eq(false),
        cal::sync_cursor.eq(None::<String>),
        cal::sync_window_start.eq(None::<DateTime<Utc>>),
        cal::last_sync_at.eq(None::<DateTime<Utc>>),
        cal::last_error.eq(None::<String>),
        cal::updated_at.eq(now),
    ))
    .returning(cal::calendar_id)
    .get_results(conn)
    .await?;
    if !released.is_empty() {
        diesel::delete(
            external_events::table
                .filter(external_events::connection_id.eq(connection_id))
                .filter(external_events::calendar_id.eq_any(&released)),
        )
        .execute(conn)
        .await?;
    }
    diesel::update(
        cal::table
            .filter(cal::connection_id.eq(connection_id))
            .filter(cal::calendar_id.eq_any(blocking))
            .filter(diesel::dsl::not(cal::blocking)),
    )
    // Its webhook is opened by the sync this choice asks for.
    .set((
        cal::blocking.eq(true),
        cal::webhook_renew_requested.eq(true),
        cal::webhook_renew_after.eq(DateTime::<Utc>::UNIX_EPOCH),
        cal::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    // Two statements: the partial unique index on write_to is checked row by row.
    diesel::update(
        cal::table
            .filter(cal::connection_id.eq(connection_id))
            .filter(cal::write_to)
            .filter(cal::calendar_id.ne(write_to)),
    )
    .set((cal::write_to.eq(false), cal::updated_at.eq(now)))
    .execute(conn)
    .await?;
    diesel::update(
        cal::table
            .filter(cal::connection_id.eq(connection_id))
            .filter(cal::calendar_id.eq(write_to)),
    )
    .set((cal::write_to.eq(true), cal::updated_at.eq(now)))
    .execute(conn)
    .await?;
    Ok(released)
}

/// A calendar the provider no longer has (deleted, unshared): it stops blocking and its
/// events go, in one transaction; `error` says why on the row. The worker forgets its
/// webhook by the usual stop.
pub async fn release_gone(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.transaction::<_, DbError, _>(|tx| {
        async move {
            diesel::update(
                cal::table
                    .filter(cal::connection_id.eq(connection_id))
                    .filter(cal::calendar_id.eq(calendar_id)),
            )
            .set((
                cal::blocking.eq(false),
                cal::sync_cursor.eq(None::<String>),
                cal::sync_window_start.eq(None::<DateTime<Utc>>),
                cal::last_error.eq(error),
                cal::updated_at.eq(now),
            ))
            .execute(tx)
            .await?;
            diesel::delete(
                external_events::table
                    .filter(external_events::connection_id.eq(connection_id))
                    .filter(external_events::calendar_id.eq(calendar_id)),
            )
            .execute(tx)
            .await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

/// What a successful sync of one calendar stores with its events (same transaction).
pub async fn record_synced(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    cursor: &str,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    // Prepared once per connection (diesel never caches an UPDATE's plan): every sync
    // runs this.
    crate::prepared::prepared(
        "UPDATE connection_calendars SET
             sync_cursor = $3, sync_window_start = $4, last_sync_at = $5,
             last_error = NULL, updated_at = $5
         WHERE connection_id = $1 AND calendar_id = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(connection_id)
    .bind::<diesel::sql_types::Text, _>(calendar_id)
    .bind::<diesel::sql_types::Text, _>(cursor)
    .bind::<diesel::sql_types::Timestamptz, _>(window_start)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records on the calendar why its part of a sync failed (the connection records the
/// failure of the sync as a whole).
pub async fn record_sync_error(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    error: &str,
) -> Result<(), DbError> {
    diesel::update(
        cal::table
            .filter(cal::connection_id.eq(connection_id))
            .filter(cal::calendar_id.eq(calendar_id)),
    )
    .set(cal::last_error.eq(error))
    .execute(conn)
    .await?;
    Ok(())
}
