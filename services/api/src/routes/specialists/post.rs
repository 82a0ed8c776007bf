//! `POST /api/specialists` (operator): create or update a specialist and its weekly
//! working hours; the same `userId` again updates.

use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_db::{specialists, DbError};
use chrono::NaiveTime;
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

fn clock(value: &str, name: &str) -> Result<NaiveTime, ApiError> {
    let v = value.trim();
    let well_formed = v.len() == 5 && v.as_bytes().get(2) == Some(&b':');
    well_formed
        .then(|| NaiveTime::parse_from_str(v, "%H:%M").ok())
        .flatten()
        .ok_or_else(|| invalid(format!("{name} must be a time as \"HH:MM\" (got {v:?})")))
}

/// The validated hours as the db layer takes them.
pub fn validate_hours(hours: &[Hours]) -> Result<Vec<(i16, NaiveTime, NaiveTime)>, ApiError> {
    if hours.len() > MAX_HOURS {
        return Err(invalid(format!("at most {MAX_HOURS} workingHours entries")));
    }
    hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let weekday = i16::try_from(h.weekday)
                .ok()
                .filter(|d| (1..=7).contains(d))
                .ok_or_else(|| {
                    invalid(format!(
                        "workingHours[{i}].weekday must be 1 (Monday) to 7 (Sunday)"
                    ))
                })?;
            let start = clock(&h.start, &format!("workingHours[{i}].start"))?;
            let end = clock(&h.end, &format!("workingHours[{i}].end"))?;
            if start >= end {
                return Err(invalid(format!(
                    "workingHours[{i}] must start before it ends and may not span midnight"
                )));
            }
            Ok((weekday, start, end))
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
    let hours = validate_hours(&body.working_hours)?;
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
    fn valid_hours_pass_and_keep_their_order() {
        let v = validate_hours(&[h(1, "09:00", "12:00"), h(7, "13:30", "17:00")]);
        assert_eq!(v.map(|v| v.len()).ok(), Some(2));
    }

    #[test]
    fn weekdays_outside_one_to_seven_and_reversed_or_malformed_times_are_refused() {
        assert!(validate_hours(&[h(0, "09:00", "12:00")]).is_err());
        assert!(validate_hours(&[h(8, "09:00", "12:00")]).is_err());
        assert!(validate_hours(&[h(1, "12:00", "09:00")]).is_err());
        assert!(validate_hours(&[h(1, "09:00", "09:00")]).is_err());
        assert!(validate_hours(&[h(1, "9am", "12:00")]).is_err());
        assert!(validate_hours(&[h(1, "09:00", "24:00")]).is_err());
    }
}
