//! `POST /api/availability/search` (public): the marketplace grid, up to 500 specialists
//! in one call, answered with a fixed number of queries however many are asked for.

use crate::error::ApiError;
use crate::params;
use crate::slots::{slots_for, Request, SpecialistSlots};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub const MAX_SPECIALISTS: usize = 500;

#[derive(Serialize)]
struct Response<'a> {
    results: &'a [SpecialistSlots],
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    specialist_ids: Vec<String>,
    from: String,
    to: String,
    duration: i64,
}

/// Specialists that do not exist are left out of `results` rather than failing the grid.
pub async fn handle(
    state: web::Data<AppState>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    if body.specialist_ids.len() > MAX_SPECIALISTS {
        return Err(ApiError::bad_request(
            "too_many_specialists",
            format!("at most {MAX_SPECIALISTS} specialistIds per search"),
        ));
    }
    let ids = body
        .specialist_ids
        .iter()
        .map(|s| params::uuid(s, "specialistIds[]"))
        .collect::<Result<Vec<_>, _>>()?;
    let req = Request {
        from: params::time(&body.from, "from")?,
        to: params::time(&body.to, "to")?,
        duration_minutes: body.duration,
    };
    let results = slots_for(&state, &ids, req, Utc::now()).await?;
    // Serialised straight from the typed results: a 500-specialist answer runs to
    // megabytes, and an intermediate `serde_json::Value` would double the work.
    Ok(HttpResponse::Ok().json(Response { results: &results }))
}
