//! `/api/integrations/setup-webhooks` (operator). `GET`: the webhook state of every
//! connection. `POST [?specialistId=&force=true]`: sets up missing, expired or expiring
//! webhooks (every one with `force`) and reports per connection.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_connections::{error_chain, webhook};
use calsync_core::time::rfc3339_utc as rfc3339;
use calsync_core::webhook::WebhookState;
use calsync_core::Provider;
use calsync_db::connections::{self, Connection};
use calsync_db::DbError;
use calsync_proto::v1::NoticeReason;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Provider calls in flight at once: a fleet-wide setup must not trip rate limits.
const CONCURRENCY: usize = 4;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only this specialist's connections.
    #[param(value_type = Option<String>, format = Uuid)]
    specialist_id: Option<String>,
    /// `true`: set up every webhook again, healthy ones too (POST only).
    #[serde(default)]
    force: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct StatusList {
    connections: Vec<Status>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Status {
    connection_id: Uuid,
    specialist_id: Uuid,
    /// `google`, `microsoft` or `ics`.
    #[schema(value_type = String)]
    provider: Provider,
    channel_id: Option<String>,
    resource_id: Option<String>,
    subscription_id: Option<String>,
    expires_at: Option<String>,
    #[schema(value_type = String)]
    state: &'static str,
    sync_enabled: bool,
    needs_reauth: bool,
    last_sync_at: Option<String>,
    last_error: Option<String>,
    webhook_error: Option<String>,
}

/// The webhook state of every connection.
#[utoipa::path(
    get,
    path = "/api/integrations/setup-webhooks",
    tag = "integrations",
    params(Query),
    security(("operator" = [])),
    responses(
        (status = 200, description = "One entry per connection", body = StatusList),
        (status = 400, description = "specialistId is not a UUID", body = ErrorBody),
        (status = 401, description = "The operator token is missing or wrong", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn status(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = params::optional_uuid(&q.specialist_id, "specialistId")?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let now = Utc::now();
    let list: Vec<Status> = connections::list(&mut conn, filter)
        .await?
        .into_iter()
        .map(|c| Status {
            state: webhook::state_of(&c, now).as_str(),
            connection_id: c.id,
            specialist_id: c.specialist_id,
            provider: c.provider,
            channel_id: c.webhook_channel_id,
            resource_id: c.webhook_resource_id,
            subscription_id: c.webhook_subscription_id,
            expires_at: c.webhook_expires_at.map(rfc3339),
            sync_enabled: c.sync_enabled,
            needs_reauth: c.needs_reauth,
            last_sync_at: c.last_sync_at.map(rfc3339),
            last_error: c.last_error,
            webhook_error: c.webhook_last_error,
        })
        .collect();
    Ok(HttpResponse::Ok().json(StatusList { connections: list }))
}

#[derive(Debug, Serialize, ToSchema)]
struct OutcomeList {
    results: Vec<Outcome>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    connection_id: Uuid,
    specialist_id: Uuid,
    #[schema(value_type = String)]
    provider: Provider,
    /// `created`, `renewed`, `skipped`, `failed`, or `queued` (a worker holds the
    /// connection; its sync renews the webhook).
    #[schema(value_type = String)]
    result: &'static str,
    expires_at: Option<String>,
    error: Option<String>,
}

/// Sets up missing, expired or expiring webhooks (all of them with `force=true`).
#[utoipa::path(
    post,
    path = "/api/integrations/setup-webhooks",
    tag = "integrations",
    params(Query),
    security(("operator" = [])),
    responses(
        (status = 200, description = "One result per connection", body = OutcomeList),
        (status = 400, description = "specialistId is not a UUID", body = ErrorBody),
        (status = 401, description = "The operator token is missing or wrong", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn setup(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = params::optional_uuid(&q.specialist_id, "specialistId")?;
    let force = matches!(q.force.as_deref(), Some("true" | "1" | "yes"));
    let list = {
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        connections::list(&mut conn, filter).await?
    };
    let now = Utc::now();
    let state = state.into_inner();
    let results: Vec<Outcome> = stream::iter(list)
        .map(|c| {
            let state = state.clone();
            async move { setup_one(&state, c, force, now).await }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(HttpResponse::Ok().json(OutcomeList { results }))
}

async fn setup_one(
    state: &AppState,
    c: Connection,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, ApiError> {
    let mut out = Outcome {
        connection_id: c.id,
        specialist_id: c.specialist_id,
        provider: c.provider,
        result: "skipped",
        expires_at: c.webhook_expires_at.map(rfc3339),
        error: None,
    };
    let webhook_state = webhook::state_of(&c, now);
    if webhook_state == WebhookState::NotApplicable {
        out.error = Some("this provider has no webhooks; it is polled".into());
        return Ok(out);
    }
    if !c.sync_enabled {
        out.error = Some("sync is disabled for this connection".into());
        return Ok(out);
    }
    if c.needs_reauth {
        out.result = "failed";
        out.error = Some("the connection needs re-authorisation by the agent".into());
        return Ok(out);
    }
    if !force && !webhook_state.needs_renewal() {
        return Ok(out);
    }
    // Opening a webhook may refresh the tokens, which only the lease holder does. A
    // connection that a worker is syncing right now gets the renewal at the end of
    // that sync instead.
    let Some(lease) = state.conns.take_lease(c.id).await? else {
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        connections::request_webhook_renewal(&mut conn, c.id, false).await?;
        out.result = "queued";
        return Ok(out);
    };
    let opened = state.conns.setup_webhook(&lease, &c).await;
    let again = lease.release(&state.conns).await?;
    if again {
        // A notice arrived while we held the lease and only marked the connection.
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        state
            .conns
            .request_sync(&mut conn, c.id, c.provider, NoticeReason::Webhook, false)
            .await?;
    }
    match opened? {
        Ok(w) => {
            out.result = if w.renewed { "renewed" } else { "created" };
            out.expires_at = Some(rfc3339(w.expires_at));
        }
        Err(e) => {
            out.result = "failed";
            out.error = Some(error_chain(&e));
        }
    }
    Ok(out)
}
