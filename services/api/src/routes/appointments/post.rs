//! `POST /api/appointments`: books a time, or answers 409 `slot_taken`.
//!
//! Who may book: anyone who can reach the endpoint, like the public availability it
//! follows from: the marketplace books on its customers' behalf and the contract gives
//! the endpoint no credential. Deployments put it behind the marketplace's gateway.
//!
//! Race-freedom (invariant 5) is the database's: one transaction takes a row lock on the
//! specialist (so bookings of one specialist serialise), checks blocking external events
//! under it, and inserts; the exclusion constraint `appointments_no_overlap` refuses any
//! overlap with a confirmed appointment even if this code had a bug.

use crate::error::{ApiError, OrNotFound};
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::to_local_rfc3339;
use calsync_db::appointments::{self, NewAppointment, STATUS_CONFIRMED};
use calsync_db::{events, specialists, DbError};
use chrono::Duration;
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use uuid::Uuid;

const MAX_LENGTH: Duration = Duration::hours(24);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    specialist_id: String,
    start: String,
    end: String,
    #[serde(default)]
    customer: Option<serde_json::Value>,
}

pub async fn handle(
    state: web::Data<AppState>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let specialist_id = params::uuid(&body.specialist_id, "specialistId")?;
    let start = params::time(&body.start, "start")?;
    let end = params::time(&body.end, "end")?;
    if start >= end || end - start > MAX_LENGTH {
        return Err(ApiError::bad_request(
            "invalid_time",
            "start must be before end, and an appointment lasts at most 24 hours",
        ));
    }
    let customer = match body.customer {
        None => serde_json::json!({}),
        Some(c @ serde_json::Value::Object(_)) => c,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "customer must be a JSON object",
            ))
        }
    };
    let a = &state.availability;
    // A booking keeps the same distance from busy time that offered slots keep.
    let before = Duration::minutes(a.buffer_before_minutes);
    let after = Duration::minutes(a.buffer_after_minutes);
    let new = NewAppointment {
        id: Uuid::new_v4(),
        specialist_id,
        starts_at: start,
        ends_at: end,
        status: STATUS_CONFIRMED.to_owned(),
        customer,
    };
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let (booked, tz) = conn
        .transaction::<_, ApiError, _>(|c| {
            async move {
                specialists::lock(c, specialist_id)
                    .await
                    .or_not_found("specialist")?;
                let s = specialists::get(c, specialist_id)
                    .await
                    .or_not_found("specialist")?;
                let (from, to) = (start - after, end + before);
                if !events::blocking_between(c, &[specialist_id], from, to)
                    .await?
                    .is_empty()
                {
                    return Err(ApiError::SlotTaken);
                }
                if before > Duration::zero() || after > Duration::zero() {
                    let near =
                        appointments::confirmed_between(c, &[specialist_id], from, to).await?;
                    if !near.is_empty() {
                        return Err(ApiError::SlotTaken);
                    }
                }
                let booked = appointments::insert(c, &new).await?;
                Ok((booked, s.time_zone))
            }
            .scope_boxed()
        })
        .await?;
    let tz: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    tracing::info!(appointment.id = %booked.id, specialist.id = %specialist_id, "appointment booked");
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": booked.id,
        "specialistId": booked.specialist_id,
        "start": to_local_rfc3339(booked.starts_at, tz),
        "end": to_local_rfc3339(booked.ends_at, tz),
        "status": booked.status,
    })))
}
