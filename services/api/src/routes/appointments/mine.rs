//! `GET /api/appointments/mine?from=&to=` (agent JWT): the agent's marketplace
//! appointments and calendar events, merged and sorted.

use crate::auth::AgentClaims;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::portal;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::availability::MAX_WINDOW;
use calsync_core::to_local_rfc3339;
use calsync_db::{specialists, DbError};
use chrono::{Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Without `to`, this much after `from` is listed.
const DEFAULT_SPAN: Duration = Duration::days(30);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Default: now.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// Default: 30 days after `from`; at most 93 days after it.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MineAnswer {
    items: Vec<Item>,
}

/// A booking or a calendar event of the agent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// `marketplace`, `google`, `microsoft` or `ics`.
    source: String,
    id: Uuid,
    /// The event's title or the booking's customer; the agent's own portal only.
    title: Option<String>,
    #[schema(format = DateTime)]
    start: String,
    #[schema(format = DateTime)]
    end: String,
    all_day: bool,
    status: String,
    blocks_availability: bool,
    /// Bookings only: whether the booking is also in the agent's own calendar (the
    /// event calsync wrote there, as last read back).
    #[serde(skip_serializing_if = "Option::is_none")]
    in_agent_calendar: Option<bool>,
    /// Bookings only: where that event stands: `pending`, `written`, `synced`,
    /// `moved` or `deleted` (the agent moved or deleted it; the booking stands), or
    /// `failed`. Absent when nothing is written for the booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "synced")]
    calendar_event: Option<String>,
}

/// The agent's bookings and calendar events, merged and sorted.
#[utoipa::path(
    get,
    path = "/api/appointments/mine",
    tag = "portal",
    params(Query),
    security(("agent" = [])),
    responses(
        (status = 200, description = "Everything of the agent in the window, by start", body = MineAnswer),
        (status = 400, description = "A malformed time or window", body = ErrorBody),
        (status = 401, description = "No valid agent token", body = ErrorBody),
        (status = 403, description = "No specialist belongs to this login", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    agent: AgentClaims,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let from = match q.from.as_deref() {
        Some(v) => params::time(v, "from")?,
        None => Utc::now(),
    };
    let to = match q.to.as_deref() {
        Some(v) => params::time(v, "to")?,
        None => from + DEFAULT_SPAN,
    };
    if from >= to || to - from > MAX_WINDOW {
        return Err(ApiError::bad_request(
            "invalid_window",
            format!(
                "from must be before to, at most {} days apart",
                MAX_WINDOW.num_days()
            ),
        ));
    }
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let me = specialists::find_by_user_id(&mut conn, &agent.sub)
        .await
        .or_forbidden("no specialist belongs to this login")?;
    let tz: Tz = me.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let items = portal::items(&mut conn, me.id, from, to).await?;
    let items: Vec<Item> = items
        .into_iter()
        .map(|i| Item {
            start: to_local_rfc3339(i.start, tz),
            end: to_local_rfc3339(i.end, tz),
            source: i.source,
            id: i.id,
            title: i.title,
            all_day: i.all_day,
            status: i.status,
            blocks_availability: i.blocks_availability,
            in_agent_calendar: i.calendar_event.map(|c| c.in_calendar()),
            calendar_event: i.calendar_event.map(|c| c.as_str().to_owned()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(MineAnswer { items }))
}
