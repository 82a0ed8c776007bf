//! `POST /api/specialists` (operator): create or update a specialist and its weekly
//! working hours; the same `userId` again updates.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::WorkingHours;
use calsync_db::{specialists, DbError};
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use serde::Deserialize;

const MAX_TEXT: usize = 200;
const MAX_HOURS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    user_id: String,
    display_name: String,
    time_zone: String,
    #[serde(default)]
    working_hours: Vec<Hours>,
}

#[derive(Debug, Deserialize)]
pub struct Hours {
    weekday: i64,
    start: String,
    end: String,
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id })))
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
