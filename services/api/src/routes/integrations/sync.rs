//! `GET|POST /api/integrations/sync[?specialistId=]` (operator): asks for a sync of every
//! enabled connection, and marks webhooks that are missing or expire within 24 hours
//! for renewal by the sync-worker.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    specialist_id: Option<String>,
}

pub async fn handle(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = params::optional_uuid(&q.specialist_id, "specialistId")?;
    let report = state.conns.sync_all(filter).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "enqueued": report.enqueued,
        "webhooksToRenew": report.webhooks_to_renew,
        "notPublished": report.not_published,
    })))
}
