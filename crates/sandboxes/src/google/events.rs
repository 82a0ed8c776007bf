//! Calendar API handlers for single events: insert, get, patch, update, delete. Every
//! write notifies the calendar's watch channels.

use super::auth::{prelude, Access};
use super::error::{json_object, ApiError};
use super::render::render;
use super::state::GoogleState;
use super::store::Writer;
use actix_web::{web, HttpRequest, HttpResponse};

/// POST /calendar/v3/calendars/{calendarId}/events
pub(crate) async fn insert(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Write).await?;
    let cal = caller.calendar(&path)?;
    let input = json_object(&body)?;
    let writer = Writer {
        client: &caller.client_id,
        coworker: false,
    };
    let shown = st.lock().insert_event(&cal, input, writer)?;
    st.notify_change(&cal);
    Ok(HttpResponse::Ok().json(shown))
}

/// GET /calendar/v3/calendars/{calendarId}/events/{eventId}
pub(crate) async fn get(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Read).await?;
    let (cal_path, event_id) = path.into_inner();
    let cal = caller.calendar(&cal_path)?;
    let mut inner = st.lock();
    let ev = inner
        .calendar_mut(&cal)
        .events
        .get(&event_id)
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(render(ev, &caller.client_id)))
}

async fn modify(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    replace: bool,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Write).await?;
    let (cal_path, event_id) = path.into_inner();
    let cal = caller.calendar(&cal_path)?;
    let input = json_object(&body)?;
    let writer = Writer {
        client: &caller.client_id,
        coworker: false,
    };
    let shown = st
        .lock()
        .modify_event(&cal, &event_id, input, writer, replace)?;
    st.notify_change(&cal);
    Ok(HttpResponse::Ok().json(shown))
}

/// PATCH /calendar/v3/calendars/{calendarId}/events/{eventId}
pub(crate) async fn patch(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    modify(st, req, path, body, false).await
}

/// PUT /calendar/v3/calendars/{calendarId}/events/{eventId}
pub(crate) async fn update(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    modify(st, req, path, body, true).await
}

/// DELETE /calendar/v3/calendars/{calendarId}/events/{eventId}
pub(crate) async fn delete(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Write).await?;
    let (cal_path, event_id) = path.into_inner();
    let cal = caller.calendar(&cal_path)?;
    st.lock().delete_event(&cal, &event_id)?;
    st.notify_change(&cal);
    Ok(HttpResponse::NoContent().finish())
}
