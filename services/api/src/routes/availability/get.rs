//! `GET /api/availability?specialistId=&from=&to=&duration=` (public).

use crate::error::ApiError;
use crate::openapi::{AvailabilityAnswer, ErrorBody};
use crate::params;
use crate::slots::{slots_for, Request};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// The specialist's id.
    #[param(required = true, value_type = String, format = Uuid)]
    specialist_id: Option<String>,
    /// Start of the window, RFC 3339 with an offset.
    #[param(required = true, value_type = String, format = DateTime, example = "2026-03-02T00:00:00Z")]
    from: Option<String>,
    /// End of the window (exclusive), at most 93 days after `from`.
    #[param(required = true, value_type = String, format = DateTime, example = "2026-04-01T00:00:00Z")]
    to: Option<String>,
    /// Slot length in minutes (1 to 1440).
    #[param(required = true, value_type = i64, minimum = 1, maximum = 1440, example = 60)]
    duration: Option<String>,
}

/// Free slots of one specialist: working hours minus appointments and blocking calendar
/// events (busy intervals only: nothing else about an event is ever shown).
#[utoipa::path(
    get,
    path = "/api/availability",
    tag = "availability",
    params(Query),
    responses(
        (status = 200, description = "The specialist's free slots", body = AvailabilityAnswer),
        (status = 400, description = "A parameter is missing or malformed, or the window is too long", body = ErrorBody),
        (status = 404, description = "No such specialist", body = ErrorBody),
        (status = 429, description = "This client address asked too often", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a request passes again"))),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
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
    let mut found = slots_for(
        &state.pool,
        &state.cache,
        &state.availability,
        &[id],
        req,
        Utc::now(),
    )
    .await?;
    match found.pop() {
        Some(one) => Ok(HttpResponse::Ok().json(one)),
        None => Err(ApiError::NotFound { what: "specialist" }),
    }
}
