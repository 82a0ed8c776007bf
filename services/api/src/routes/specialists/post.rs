//! `POST /api/specialists` (operator): create or update a specialist and its weekly
//! working hours; the same `userId` again updates.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::WorkingHours;
use calsync_db::{specialists, DbError};
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_TEXT: usize = 200;
const MAX_HOURS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    /// The portal login's subject (the agent JWT's `sub`); the same again updates.
    user_id: String,
    display_name: String,
    /// IANA time zone of the working hours.
    #[schema(example = "Europe/Berlin")]
    time_zone: String,
    #[serde(default)]
    working_hours: Vec<Hours>,
}

/// One weekly block of working hours, in the specialist's local time.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Hours {
    /// ISO weekday: Monday = 1 … Sunday = 7.
    #[schema(minimum = 1, maximum = 7)]
    weekday: i64,
    /// `HH:MM`.
    #[schema(example = "09:00")]
    start: String,
    /// `HH:MM`; `00:00` is the midnight ending the day.
    #[schema(example = "17:00")]
    end: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdAnswer {
    id: Uuid,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_body", message)
}

fn text<'a>(value: &'a str, name: &str) -> Result<&'a str, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > MAX_TEXT {
        return Err(invalid(format!(
            "{name} must be 1 to {MAX_TEXT} characters"
        )));
    }
    Ok(v)
}

/// The body's hours as `core` types; `core` decides what a valid block is.
fn working_hours(hours: &[Hours]) -> Result<Vec<WorkingHours>, ApiError> {
    if hours.len() > MAX_HOURS {
        return Err(invalid(format!("at most {MAX_HOURS} workingHours entries")));
    }
    hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            WorkingHours::parse(h.weekday, &h.start, &h.end)
                .map_err(|e| invalid(format!("workingHours[{i}]: {e}")))
        })
        .collect()
}

/// Creates or updates a specialist and replaces their working hours.
#[utoipa::path(
    post,
    path = "/api/specialists",
    tag = "specialists",
    request_body = Body,
    security(("operator" = [])),
    responses(
        (status = 200, description = "The specialist's id", body = IdAnswer),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody),
        (status = 401, description = "The operator token is missing or wrong", body = ErrorBody),
        (status = 413, description = "The body is larger than the configured limit", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let user_id = text(&body.user_id, "userId")?.to_owned();
    let display_name = text(&body.display_name, "displayName")?.to_owned();
    let time_zone = body.time_zone.trim().to_owned();
    if time_zone.parse::<Tz>().is_err() {
        return Err(invalid(format!(
            "timeZone must be an IANA time zone such as Europe/Berlin (got {time_zone:?})"
        )));
    }
    let hours = working_hours(&body.working_hours)?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let id = conn
        .transaction::<_, DbError, _>(|c| {
            async move { specialists::upsert(c, &user_id, &display_name, &time_zone, &hours).await }
                .scope_boxed()
        })
        .await?;
    state.cache.invalidate(id);
    Ok(HttpResponse::Ok().json(IdAnswer { id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(weekday: i64, start: &str, end: &str) -> Hours {
        Hours {
            weekday,
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn bad_blocks_are_refused_with_their_index_and_cores_reason() {
        let ok = working_hours(&[h(1, "09:00", "12:00"), h(7, "13:30", "17:00")]);
        assert_eq!(ok.map(|v| v.len()).ok(), Some(2));
        let e = working_hours(&[h(1, "09:00", "12:00"), h(8, "09:00", "12:00")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("workingHours[1]: weekday 8"), "{e}");
        let too_many: Vec<_> = (0..=MAX_HOURS).map(|_| h(1, "09:00", "10:00")).collect();
        assert!(working_hours(&too_many).is_err());
    }
}
