//! `/api/integrations/setup-webhooks` (operator). `GET`: the webhook state of every
//! connection. `POST [?specialistId=&force=true]`: sets up missing, expired or expiring
//! webhooks (every one with `force`) and reports per connection.

use super::webhook::{self, rfc3339};
use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::webhook::WebhookState;
use calsync_core::Provider;
use calsync_db::connections::{self, Connection};
use calsync_db::DbError;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Provider calls in flight at once: a fleet-wide setup must not trip rate limits.
const CONCURRENCY: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    specialist_id: Option<String>,
    #[serde(default)]
    force: Option<String>,
}

fn specialist_filter(q: &Query) -> Result<Option<Uuid>, ApiError> {
    q.specialist_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| params::uuid(s, "specialistId"))
        .transpose()
}

pub fn classify(c: &Connection, now: DateTime<Utc>) -> WebhookState {
    let supports = c
        .provider
        .parse::<Provider>()
        .is_ok_and(Provider::has_webhooks);
    let has = c.webhook_channel_id.is_some() || c.webhook_subscription_id.is_some();
    WebhookState::classify(supports, has, c.webhook_expires_at, now)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    connection_id: Uuid,
    specialist_id: Uuid,
    provider: String,
    channel_id: Option<String>,
    resource_id: Option<String>,
    subscription_id: Option<String>,
    expires_at: Option<String>,
    state: &'static str,
    sync_enabled: bool,
    needs_reauth: bool,
    last_sync_at: Option<String>,
    last_error: Option<String>,
    webhook_error: Option<String>,
}

pub async fn status(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = specialist_filter(&q)?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let now = Utc::now();
    let list: Vec<Status> = connections::list(&mut conn, filter)
        .await?
        .into_iter()
        .map(|c| Status {
            state: classify(&c, now).as_str(),
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "connections": list })))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    connection_id: Uuid,
    specialist_id: Uuid,
    provider: String,
    /// `created`, `renewed`, `skipped` or `failed`.
    result: &'static str,
    expires_at: Option<String>,
    error: Option<String>,
}

pub async fn setup(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = specialist_filter(&q)?;
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "results": results })))
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
        provider: c.provider.clone(),
        result: "skipped",
        expires_at: c.webhook_expires_at.map(rfc3339),
        error: None,
    };
    let webhook_state = classify(&c, now);
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
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    match webhook::setup(state, &mut conn, &c, None, now).await? {
        Ok(w) => {
            out.result = if w.renewed { "renewed" } else { "created" };
            out.expires_at = Some(rfc3339(w.expires_at));
        }
        Err(message) => {
            out.result = "failed";
            out.error = Some(message);
        }
    }
    Ok(out)
}
