//! `DELETE /api/appointments/{id}` (marketplace token): cancels a booking. Idempotent:
//! cancelling a cancelled booking answers the same. Its time is offered again at once,
//! since availability and the overlap constraint count confirmed appointments only. The
//! events written for it are deleted by sync-worker through the outbox, queued in the
//! cancellation's transaction.

use super::answer::{self, AppointmentAnswer};
use crate::auth::MarketplaceAuth;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_db::{appointments, calendar_writes, specialists, DbError};
use chrono::Utc;
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;

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
    let now = Utc::now();
    // The cancellation and the deletes of its written events commit together.
    let cancelled = conn
        .transaction::<_, DbError, _>(|c| {
            async move {
                let cancelled = appointments::cancel(c, id).await?;
                calendar_writes::enqueue_deletes(c, id, now).await?;
                Ok(cancelled)
            }
            .scope_boxed()
        })
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
