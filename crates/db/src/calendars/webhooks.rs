//! A calendar's push webhook: what the provider granted, the last failure and its
//! back-off, renewal requests, the scheduler's renewal claims, and the fleet-wide count
//! by state. Only blocking calendars keep a webhook; the worker stops the others'.

use crate::schema::connection_calendars as cal;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The webhook as the provider granted it.
#[derive(Debug, Clone, Default)]
pub struct Webhook {
    pub channel_id: Option<String>,
    pub resource_id: Option<String>,
    pub subscription_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn one(
    connection_id: Uuid,
    calendar_id: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<cal::table, diesel::dsl::Eq<cal::connection_id, Uuid>>,
    diesel::dsl::Eq<cal::calendar_id, String>,
> {
    cal::table
        .filter(cal::connection_id.eq(connection_id))
        .filter(cal::calendar_id.eq(calendar_id.to_owned()))
}

/// Stores a new webhook. A new Google channel restarts its message numbers at 1.
pub async fn store_webhook(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    webhook: &Webhook,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(one(connection_id, calendar_id))
        .set((
            cal::webhook_channel_id.eq(&webhook.channel_id),
            cal::webhook_resource_id.eq(&webhook.resource_id),
            cal::webhook_subscription_id.eq(&webhook.subscription_id),
            cal::webhook_expires_at.eq(webhook.expires_at),
            cal::webhook_last_error.eq(None::<String>),
            cal::webhook_last_message.eq(0),
            cal::webhook_renew_requested.eq(false),
            cal::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets a stopped webhook (a calendar that no longer blocks).
pub async fn clear_webhook(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    store_webhook(conn, connection_id, calendar_id, &Webhook::default(), now).await
}

/// Records a failed webhook setup, renewal or stop; the next attempt waits until `retry_at`.
pub async fn record_webhook_error(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    calendar_id: &str,
    error: &str,
    retry_at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(one(connection_id, calendar_id))
        .set((
            cal::webhook_last_error.eq(error),
            cal::webhook_renew_after.eq(retry_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Asks for a renewal at the next sync, whatever the expiry says (Graph
/// `reauthorizationRequired`, an operator), of the calendar whose webhook is
/// `webhook_id` (a channel or subscription id), or of every blocking calendar of the
/// connection when `webhook_id` is `None` or names none of them. With `gone`, the
/// webhook the provider removed is forgotten first so a new one is opened.
pub async fn request_webhook_renewal(
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    webhook_id: Option<&str>,
    gone: bool,
) -> Result<(), DbError> {
    let named = match webhook_id.filter(|w| !w.is_empty()) {
        Some(w) => {
            diesel::update(
                cal::table
                    .filter(cal::connection_id.eq(connection_id))
                    .filter(
                        cal::webhook_subscription_id
                            .eq(w)
                            .or(cal::webhook_channel_id.eq(w)),
                    ),
            )
            .set((
                cal::webhook_renew_requested.eq(true),
                cal::webhook_renew_after.eq(DateTime::<Utc>::UNIX_EPOCH),
            ))
            .returning(cal::calendar_id)
            .get_results::<String>(conn)
            .await?
        }
        None => Vec::new(),
    };
    if named.is_empty() {
        diesel::update(
            cal::table
                .filter(cal::connection_id.eq(connection_id))
                .filter(cal::blocking),
        )
        .set((
            cal::webhook_renew_requested.eq(true),
            cal::webhook_renew_after.eq(DateTime::<Utc>::UNIX_EPOCH),
        ))
        .execute(conn)
        .await?;
    } else if gone {
        diesel::update(
            cal::table
                .filter(cal::connection_id.eq(connection_id))
                .filter(cal::calendar_id.eq_any(&named)),
        )
        .set((
            cal::webhook_subscription_id.eq(None::<String>),
            cal::webhook_channel_id.eq(None::<String>),
            cal::webhook_resource_id.eq(None::<String>),
            cal::webhook_expires_at.eq(None::<DateTime<Utc>>),
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

/// Claims up to `limit` calendars of active push connections whose webhook is missing
/// or expires before `renew_before` (blocking ones), or that still hold one although
/// they no longer block, and pushes each one's next renewal attempt to `retry_after`, so
/// a renewal that keeps failing is retried at a pace rather than in a tight loop.
/// Returns the connections concerned, once each: their next sync does the work.
pub async fn claim_webhook_renewals(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    renew_before: DateTime<Utc>,
    retry_after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, DbError> {
    let rows: Vec<IdRow> = diesel::sql_query(
        "WITH due AS (
             SELECT k.connection_id, k.calendar_id FROM connection_calendars k
             JOIN calendar_connections c ON c.id = k.connection_id
             WHERE c.sync_enabled AND NOT c.needs_reauth AND c.provider <> 'ics'
               AND ((k.blocking AND (k.webhook_expires_at IS NULL OR k.webhook_expires_at < $2))
                    OR (NOT k.blocking AND (k.webhook_channel_id IS NOT NULL
                                            OR k.webhook_subscription_id IS NOT NULL)))
               AND k.webhook_renew_after <= $1
             ORDER BY k.webhook_expires_at NULLS FIRST
             LIMIT $4
             FOR NO KEY UPDATE OF k SKIP LOCKED
         )
         UPDATE connection_calendars k SET webhook_renew_after = $3
         FROM due WHERE k.connection_id = due.connection_id AND k.calendar_id = due.calendar_id
         RETURNING k.connection_id AS id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(renew_before)
    .bind::<Timestamptz, _>(retry_after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    let mut ids: Vec<Uuid> = Vec::with_capacity(rows.len());
    for r in rows {
        if !ids.contains(&r.id) {
            ids.push(r.id);
        }
    }
    Ok(ids)
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

/// Webhooks of enabled connections counted by provider and state, in one grouped query
/// (the scheduler refreshes a gauge from it every tick): one per blocking calendar, and
/// one `not_applicable` per ICS feed. A webhook expiring before `renew_before` counts as
/// `expiring`, as `WebhookState::classify` has it.
pub async fn webhook_state_counts(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    renew_before: DateTime<Utc>,
) -> Result<Vec<WebhookStateCount>, DbError> {
    Ok(diesel::sql_query(
        "SELECT provider, state, count(*) AS count FROM (
             SELECT c.provider, CASE
                 WHEN (k.webhook_channel_id IS NULL AND k.webhook_subscription_id IS NULL)
                      OR k.webhook_expires_at IS NULL THEN 'missing'
                 WHEN k.webhook_expires_at <= $1 THEN 'expired'
                 WHEN k.webhook_expires_at <= $2 THEN 'expiring'
                 ELSE 'active' END AS state
             FROM connection_calendars k JOIN calendar_connections c ON c.id = k.connection_id
             WHERE c.sync_enabled AND c.provider <> 'ics' AND k.blocking
             UNION ALL
             SELECT provider, 'not_applicable' FROM calendar_connections
             WHERE sync_enabled AND provider = 'ics'
         ) s GROUP BY provider, state",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(renew_before)
    .load(conn)
    .await?)
}
