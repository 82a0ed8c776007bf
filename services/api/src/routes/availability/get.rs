//! `GET /api/availability?specialistId=&from=&to=&duration=` (public).

use crate::error::ApiError;
use crate::params;
use crate::slots::{slots_for, Request};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    specialist_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    duration: Option<String>,
}

pub async fn handle(
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let id = params::uuid(
        params::required(&q.specialist_id, "specialistId")?,
        "specialistId",
    )?;
    let req = Request {
        from: params::time(params::required(&q.from, "from")?, "from")?,
        to: params::time(params::required(&q.to, "to")?, "to")?,
        duration_minutes: params::minutes(params::required(&q.duration, "duration")?, "duration")?,
    };
    let mut found = slots_for(&state, &[id], req, Utc::now()).await?;
    match found.pop() {
        Some(one) => Ok(HttpResponse::Ok().json(one)),
        None => Err(ApiError::NotFound { what: "specialist" }),
    }
}
