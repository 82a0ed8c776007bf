//! `GET /api/appointments/mine?from=&to=` (agent JWT): the agent's marketplace
//! appointments and calendar events, merged and sorted.

use crate::auth::AgentClaims;
use crate::error::{ApiError, OrNotFound};
use crate::params;
use crate::portal;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::availability::MAX_WINDOW;
use calsync_core::to_local_rfc3339;
use calsync_db::{specialists, DbError};
use chrono::{Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// Without `to`, this much after `from` is listed.
const DEFAULT_SPAN: Duration = Duration::days(30);

#[derive(Debug, Deserialize)]
pub struct Query {
    from: Option<String>,
    to: Option<String>,
}

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
    let items: Vec<_> = items
        .into_iter()
        .map(|i| {
            serde_json::json!({
                "source": i.source,
                "id": i.id,
                "title": i.title,
                "start": to_local_rfc3339(i.start, tz),
                "end": to_local_rfc3339(i.end, tz),
                "allDay": i.all_day,
                "status": i.status,
                "blocksAvailability": i.blocks_availability,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}
