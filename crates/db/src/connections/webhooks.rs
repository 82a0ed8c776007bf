//! The connection's push webhook: what the provider granted, the last failure and its
//! back-off, renewal requests, and the fleet-wide count by state.

use crate::schema::calendar_connections as cc;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
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
