//! `DELETE /api/appointments/{id}` (marketplace token): cancels a booking. Idempotent:
//! cancelling a cancelled booking answers the same. Its time is offered again at once,
//! since availability and the overlap constraint count confirmed appointments only.

use super::answer::{self, AppointmentAnswer};
use crate::auth::MarketplaceAuth;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_db::{appointments, specialists, DbError};
use chrono_tz::Tz;

/// Cancels a booking.
#[utoipa::path(
    delete,
    path = "/api/appointments/{id}",
    tag = "booking",
    params(("id" = String, Path, format = Uuid, description = "The appointment's id")),
    security(("marketplace" = [])),
    responses(
        (status = 200, description = "Cancelled (also when it already was)", body = AppointmentAnswer),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "The marketplace token is missing or wrong; nothing was done", body = ErrorBody),
        (status = 404, description = "No such appointment", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    _marketplace: MarketplaceAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = params::uuid(&path, "id")?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let cancelled = appointments::cancel(&mut conn, id)
        .await
        .or_not_found("appointment")?;
    // Its own notification follows; this offers the time again at once here.
    state.cache.invalidate(cancelled.specialist_id);
    let specialist = specialists::get(&mut conn, cancelled.specialist_id)
        .await
        .or_not_found("specialist")?;
    let tz: Tz = specialist.time_zone.parse().unwrap_or(chrono_tz::UTC);
    tracing::info!(appointment.id = %id, "appointment cancelled");
    Ok(HttpResponse::Ok().json(answer::of(&cancelled, tz)))
}
