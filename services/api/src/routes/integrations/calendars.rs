//! `GET|PUT /api/integrations/connections/{id}/calendars` (operator token or the agent's
//! own JWT): the account's calendars as the provider lists them, with which ones block
//! availability and which one receives bookings; `PUT` chooses. Default: the primary
//! calendar blocks and receives bookings. ICS feeds have no calendars to choose (422).

use crate::auth::Caller;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_connections::CalendarChoice;
use calsync_db::connections::{self, Connection};
use calsync_db::{specialists, DbError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One calendar of the account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarItem {
    /// calsync's id of the calendar: `primary` for the account's main one, else the
    /// provider's id.
    id: String,
    name: String,
    primary: bool,
    /// Its events block availability.
    blocking: bool,
    /// Marketplace bookings are written to it.
    write_to: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarList {
    calendars: Vec<CalendarItem>,
}

/// The choice: which calendars block availability, which one receives bookings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Choice {
    /// Ids from the list; an empty list blocks nothing.
    blocking: Vec<String>,
    /// One id from the list, of a calendar the account may write to.
    write_to: String,
}

fn answer(list: Vec<CalendarChoice>) -> HttpResponse {
    HttpResponse::Ok().json(CalendarList {
        calendars: list
            .into_iter()
            .map(|c| CalendarItem {
                id: c.id,
                name: c.name,
                primary: c.primary,
                blocking: c.blocking,
                write_to: c.write_to,
            })
            .collect(),
    })
}

/// The connection, if the caller may manage it.
async fn authorised(caller: &Caller, state: &AppState, id: &str) -> Result<Connection, ApiError> {
    let id = params::uuid(id, "id")?;
    let mut db = state.pool.get().await.map_err(DbError::from)?;
    let c = connections::get(&mut db, id)
        .await
        .or_not_found("connection")?;
    let s = specialists::get(&mut db, c.specialist_id)
        .await
        .or_not_found("specialist")?;
    caller.ensure_acts_for(&s.user_id)?;
    Ok(c)
}

/// The account's calendars, listed by the provider, with calsync's choices.
#[utoipa::path(
    get,
    path = "/api/integrations/connections/{id}/calendars",
    tag = "integrations",
    params(("id" = String, Path, format = Uuid, description = "The connection")),
    security(("operator" = []), ("agent" = [])),
    responses(
        (status = 200, description = "Every calendar of the account", body = CalendarList),
        (status = 400, description = "id is not a UUID", body = ErrorBody),
        (status = 401, description = "Neither the operator token nor an agent token", body = ErrorBody),
        (status = 403, description = "An agent asking for another specialist's connection", body = ErrorBody),
        (status = 404, description = "Unknown connection", body = ErrorBody),
        (status = 409, description = "`needs_reauth`, or `connection_busy` (a sync holds it; retry)", body = ErrorBody),
        (status = 422, description = "`calendars_not_supported`: an ICS feed", body = ErrorBody),
        (status = 502, description = "The provider failed", body = ErrorBody),
        (status = 503, description = "The provider is not configured, or the database is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = authorised(&caller, &state, &path).await?;
    Ok(answer(state.conns.list_calendars(&c).await?))
}

/// Chooses the blocking calendars and the one that receives bookings. A calendar that
/// stops blocking releases its events at once; one that starts blocking is synced.
#[utoipa::path(
    put,
    path = "/api/integrations/connections/{id}/calendars",
    tag = "integrations",
    params(("id" = String, Path, format = Uuid, description = "The connection")),
    request_body = Choice,
    security(("operator" = []), ("agent" = [])),
    responses(
        (status = 200, description = "The list after the choice", body = CalendarList),
        (status = 400, description = "id is not a UUID, or the body is malformed", body = ErrorBody),
        (status = 401, description = "Neither the operator token nor an agent token", body = ErrorBody),
        (status = 403, description = "An agent choosing for another specialist's connection", body = ErrorBody),
        (status = 404, description = "Unknown connection", body = ErrorBody),
        (status = 409, description = "`needs_reauth`, or `connection_busy` (a sync holds it; retry)", body = ErrorBody),
        (status = 422, description = "`unknown_calendar`, `write_to_required`, `calendar_not_writable`, or `calendars_not_supported` (an ICS feed)", body = ErrorBody),
        (status = 502, description = "The provider failed", body = ErrorBody),
        (status = 503, description = "The provider is not configured, or the database is unavailable", body = ErrorBody),
    )
)]
pub async fn choose(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Choice>,
) -> Result<HttpResponse, ApiError> {
    let c = authorised(&caller, &state, &path).await?;
    let choice = body.into_inner();
    let chosen = state
        .conns
        .choose_calendars(&c, &choice.blocking, &choice.write_to)
        .await?;
    // A calendar released here frees its time in this api's very next answer, without
    // waiting for the change notification.
    state.cache.invalidate(c.specialist_id);
    Ok(answer(chosen))
}
