//! `GET|POST /api/integrations/sync[?specialistId=]` (operator): asks for a sync of every
//! enabled connection, and marks webhooks that are missing or expire within 24 hours
//! for renewal by the sync-worker.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Only this specialist's connections.
    #[param(value_type = Option<String>, format = Uuid)]
    specialist_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncAnswer {
    /// Connections whose sync was asked for.
    enqueued: u64,
    /// Webhooks marked for renewal (missing, or expiring within 24 hours).
    webhooks_to_renew: u64,
    /// Requests recorded but not confirmed by the broker: the scheduler picks them up.
    not_published: u64,
}

/// Asks for a sync of every enabled connection and renewal of expiring webhooks.
#[utoipa::path(
    method(get, post),
    path = "/api/integrations/sync",
    tag = "integrations",
    params(Query),
    security(("operator" = [])),
    responses(
        (status = 200, description = "What was asked for", body = SyncAnswer),
        (status = 400, description = "specialistId is not a UUID", body = ErrorBody),
        (status = 401, description = "The operator token is missing or wrong", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = params::optional_uuid(&q.specialist_id, "specialistId")?;
    let report = state.conns.sync_all(filter).await?;
    Ok(HttpResponse::Ok().json(SyncAnswer {
        enqueued: report.enqueued,
        webhooks_to_renew: report.webhooks_to_renew,
        not_published: report.not_published,
    }))
}
