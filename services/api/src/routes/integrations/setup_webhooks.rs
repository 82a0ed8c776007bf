//! `/api/integrations/setup-webhooks` (operator). `GET`: the webhook state of every
//! connection and of each of its calendars. `POST [?specialistId=&force=true]`: sets up
//! missing, expired or expiring webhooks (every one with `force`) and reports per
//! connection, with an entry per calendar.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_connections::webhook::{self, Which};
use calsync_connections::{error_chain, ConnectionError};
use calsync_core::time::rfc3339_utc as rfc3339;
use calsync_core::Provider;
use calsync_db::calendars::{self, Calendar};
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
    /// The primary calendar's webhook (the fields of every calendar are in `calendars`).
    channel_id: Option<String>,
    resource_id: Option<String>,
    subscription_id: Option<String>,
    expires_at: Option<String>,
    /// The worst state among the blocking calendars' webhooks.
    #[schema(value_type = String)]
    state: &'static str,
    sync_enabled: bool,
    needs_reauth: bool,
    last_sync_at: Option<String>,
    last_error: Option<String>,
    webhook_error: Option<String>,
    /// One entry per known calendar (none for ICS feeds).
    calendars: Vec<CalendarStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CalendarStatus {
    calendar_id: String,
    primary: bool,
    blocking: bool,
    write_to: bool,
    channel_id: Option<String>,
    resource_id: Option<String>,
    subscription_id: Option<String>,
    expires_at: Option<String>,
    /// `active`, `expiring`, `expired`, `missing`, or `not_applicable` (not blocking).
    #[schema(value_type = String)]
    state: &'static str,
    last_sync_at: Option<String>,
    last_error: Option<String>,
    webhook_error: Option<String>,
}

impl CalendarStatus {
    fn of(provider: Provider, k: &Calendar, now: DateTime<Utc>) -> Self {
        Self {
            calendar_id: k.calendar_id.clone(),
            primary: k.is_primary,
            blocking: k.blocking,
            write_to: k.write_to,
            channel_id: k.webhook_channel_id.clone(),
            resource_id: k.webhook_resource_id.clone(),
            subscription_id: k.webhook_subscription_id.clone(),
            expires_at: k.webhook_expires_at.map(rfc3339),
            state: webhook::state_of(provider, k, now).as_str(),
            last_sync_at: k.last_sync_at.map(rfc3339),
            last_error: k.last_error.clone(),
            webhook_error: k.webhook_last_error.clone(),
        }
    }
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
    let all = connections::list(&mut conn, filter).await?;
    let ids: Vec<Uuid> = all.iter().map(|c| c.id).collect();
    let cals = calendars::for_connections(&mut conn, &ids).await?;
    let list: Vec<Status> = all
        .into_iter()
        .map(|c| {
            let mine: Vec<&Calendar> = cals.iter().filter(|k| k.connection_id == c.id).collect();
            let primary = mine.iter().find(|k| k.is_primary);
            Status {
                state: webhook::connection_state(&c, &cals, now).as_str(),
                connection_id: c.id,
                specialist_id: c.specialist_id,
                provider: c.provider,
                channel_id: primary.and_then(|k| k.webhook_channel_id.clone()),
                resource_id: primary.and_then(|k| k.webhook_resource_id.clone()),
                subscription_id: primary.and_then(|k| k.webhook_subscription_id.clone()),
                expires_at: primary.and_then(|k| k.webhook_expires_at).map(rfc3339),
                sync_enabled: c.sync_enabled,
                needs_reauth: c.needs_reauth,
                last_sync_at: c.last_sync_at.map(rfc3339),
                last_error: c.last_error,
                webhook_error: mine.iter().find_map(|k| k.webhook_last_error.clone()),
                calendars: mine
                    .iter()
                    .map(|k| CalendarStatus::of(c.provider, k, now))
                    .collect(),
            }
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
    /// connection; its sync renews the webhook). Over the calendars: `failed` when one
    /// failed, else `created` when one was created, else `renewed`.
    #[schema(value_type = String)]
    result: &'static str,
    /// The earliest expiry among the connection's webhooks.
    expires_at: Option<String>,
    error: Option<String>,
    /// One entry per calendar set up now.
    calendars: Vec<CalendarOutcome>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CalendarOutcome {
    calendar_id: String,
    /// `created`, `renewed` or `failed`.
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
    let (list, mut cals) = {
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        let list = connections::list(&mut conn, filter).await?;
        let ids: Vec<Uuid> = list.iter().map(|c| c.id).collect();
        let cals = calendars::for_connections(&mut conn, &ids).await?;
        (list, cals)
    };
    let now = Utc::now();
    let state = state.into_inner();
    let work: Vec<(Connection, Vec<Calendar>)> = list
        .into_iter()
        .map(|c| {
            let mine = cals.extract_if(.., |k| k.connection_id == c.id).collect();
            (c, mine)
        })
        .collect();
    let results: Vec<Outcome> = stream::iter(work)
        .map(|(c, mine)| {
            let state = state.clone();
            async move { setup_one(&state, c, mine, force, now).await }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(HttpResponse::Ok().json(OutcomeList { results }))
}

async fn setup_one(
    state: &AppState,
    c: Connection,
    cals: Vec<Calendar>,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, ApiError> {
    let mut out = Outcome {
        connection_id: c.id,
        specialist_id: c.specialist_id,
        provider: c.provider,
        result: "skipped",
        expires_at: cals
            .iter()
            .filter(|k| k.blocking)
            .filter_map(|k| k.webhook_expires_at)
            .min()
            .map(rfc3339),
        error: None,
        calendars: Vec::new(),
    };
    if !c.provider.has_webhooks() {
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
    let webhook_state = webhook::connection_state(&c, &cals, now);
    if !force && !webhook_state.needs_renewal() {
        return Ok(out);
    }
    // Opening a webhook may refresh the tokens, which only the lease holder does. A
    // connection that a worker is syncing right now gets the renewal at the end of
    // that sync instead.
    let Some(lease) = state.conns.take_lease(c.id).await? else {
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        calendars::request_webhook_renewal(&mut conn, c.id, None, false).await?;
        out.result = "queued";
        return Ok(out);
    };
    let which = if force { Which::All } else { Which::Due };
    let opened = state.conns.setup_webhooks(&lease, &c, which).await;
    let again = lease.release(&state.conns).await?;
    if again {
        // A notice arrived while we held the lease and only marked the connection.
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        state
            .conns
            .request_sync(&mut conn, c.id, c.provider, NoticeReason::Webhook, false)
            .await?;
    }
    let list = match opened {
        Ok(list) => list,
        Err(ConnectionError::Db(e)) => return Err(e.into()),
        Err(e) => {
            out.result = "failed";
            out.error = Some(error_chain(&e));
            return Ok(out);
        }
    };
    for w in list {
        out.calendars.push(match w.outcome {
            Ok(o) => CalendarOutcome {
                calendar_id: w.calendar_id,
                result: if o.renewed { "renewed" } else { "created" },
                expires_at: Some(rfc3339(o.expires_at)),
                error: None,
            },
            Err(e) => CalendarOutcome {
                calendar_id: w.calendar_id,
                result: "failed",
                expires_at: None,
                error: Some(error_chain(&e)),
            },
        });
    }
    let any = |r: &str| out.calendars.iter().any(|k| k.result == r);
    out.result = if any("failed") {
        "failed"
    } else if any("created") {
        "created"
    } else if any("renewed") {
        "renewed"
    } else {
        "skipped"
    };
    out.error = out.calendars.iter().find_map(|k| k.error.clone());
    out.expires_at = out
        .calendars
        .iter()
        .filter_map(|k| k.expires_at.clone())
        .min()
        .or(out.expires_at);
    Ok(out)
}
