//! `POST /api/availability/search` (public): the marketplace grid, up to 500 specialists
//! in one call, read in one round trip however many are asked for. `"format":
//! "compact"` answers slot starts as minutes after `from` instead of pairs of times.

use crate::error::ApiError;
use crate::openapi::{ErrorBody, SearchAnswer};
use crate::params;
use crate::slots::{minute_floor, slots_for, Compact, Request, SpecialistSlots};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_SPECIALISTS: usize = 500;

/// The answer's shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"results": [{"specialistId", "slots": [{"start", "end"}], "calendarsFresh"}]}`.
    #[default]
    Full,
    /// `{"format": "compact", "from", "duration", "results": [{"specialistId",
    /// "timeZone", "calendarsFresh", "starts": [minutes after from]}]}`.
    Compact,
}

#[derive(Serialize)]
struct Full<'a> {
    results: &'a [SpecialistSlots],
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    /// At most 500 ids; unknown ones are left out of the answer.
    #[schema(value_type = Vec<String>, max_items = 500)]
    specialist_ids: Vec<String>,
    /// Start of the window, RFC 3339 with an offset.
    #[schema(value_type = String, format = DateTime, example = "2026-03-02T00:00:00Z")]
    from: String,
    /// End of the window (exclusive), at most 93 days after `from`.
    #[schema(value_type = String, format = DateTime, example = "2026-03-16T00:00:00Z")]
    to: String,
    /// Slot length in minutes (1 to 1440).
    #[schema(minimum = 1, maximum = 1440, example = 60)]
    duration: i64,
    /// `full` (the default) or `compact`.
    #[serde(default)]
    format: Format,
}

/// Free slots of many specialists at once (the marketplace grid).
#[utoipa::path(
    post,
    path = "/api/availability/search",
    tag = "availability",
    request_body = Body,
    responses(
        (status = 200, description = "One result per known specialist, in the order asked", body = SearchAnswer),
        (status = 400, description = "More than 500 ids, a malformed id or time, or a bad window", body = ErrorBody),
        (status = 413, description = "The body is larger than the configured limit", body = ErrorBody),
        (status = 429, description = "This client address asked too often", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a request passes again"))),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
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
    let results = slots_for(
        &state.pool,
        &state.cache,
        &state.availability,
        &ids,
        req,
        Utc::now(),
    )
    .await?;
    // Serialised straight from the typed results into the response buffer.
    Ok(match body.format {
        Format::Full => HttpResponse::Ok().json(Full { results: &results }),
        Format::Compact => HttpResponse::Ok().json(Compact {
            results: &results,
            from: minute_floor(req.from),
            duration_minutes: req.duration_minutes,
        }),
    })
}
