//! `GET /agent/schedule[?week=YYYY-MM-DD]`: the agent's week as an HTML page. The agent's
//! JWT comes as `Authorization: Bearer` or, so a plain link works, as `?token=`; links on
//! the page then carry it on.

use super::render::{local_midnight, monday_of, render, Banner, SchedulePage};
use crate::auth::AgentClaims;
use crate::error::{ApiError, OrNotFound};
use crate::freshness;
use crate::portal;
use crate::state::AppState;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use calsync_core::{working_intervals, TimeRange, WorkingHours};
use calsync_db::{connections, specialists, DbError};
use chrono::{Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Query {
    week: Option<String>,
    token: Option<String>,
}

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let agent = AgentClaims::from_header_or_query(&req)?;
    let link_suffix = match (&q.token, req.headers().contains_key(AUTHORIZATION)) {
        (Some(t), false) => format!(
            "&token={}",
            url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
        ),
        _ => String::new(),
    };
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let me = specialists::find_by_user_id(&mut conn, &agent.sub)
        .await
        .or_forbidden("no specialist belongs to this login")?;
    let tz: Tz = me.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let now = Utc::now();
    let day = match q.week.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => NaiveDate::parse_from_str(w, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request("invalid_parameter", "week must be a date as YYYY-MM-DD")
        })?,
        None => now.with_timezone(&tz).date_naive(),
    };
    let monday = monday_of(day);
    let window = TimeRange {
        start: local_midnight(tz, monday),
        end: local_midnight(tz, monday + Duration::days(7)),
    };
    let items = portal::items(&mut conn, me.id, window.start, window.end).await?;
    let hours: Vec<WorkingHours> = specialists::working_hours_for(&mut conn, &[me.id])
        .await?
        .into_iter()
        .map(|r| WorkingHours {
            weekday: u8::try_from(r.weekday).unwrap_or(0),
            start: r.start_time,
            end: r.end_time,
        })
        .collect();
    let working = working_intervals(tz, &hours, window).unwrap_or_default();
    let stale_after = Duration::minutes(state.availability.stale_after_minutes);
    let banners: Vec<Banner> = connections::list(&mut conn, Some(me.id))
        .await?
        .iter()
        .filter_map(|c| {
            let f = freshness::assess([c], now, stale_after);
            let reason = f.reason?;
            let reconnect = matches!(c.provider.as_str(), "google" | "microsoft").then(|| {
                format!(
                    "/api/integrations/{}/connect?specialistId={}{link_suffix}",
                    c.provider, me.id
                )
            });
            let hint = if reconnect.is_some() {
                "Your availability may be wrong until it is reconnected."
            } else {
                "Check that the feed URL still works."
            };
            Some(Banner {
                message: format!("Your {reason}. {hint}"),
                reconnect,
            })
        })
        .collect();
    let html = render(&SchedulePage {
        display_name: &me.display_name,
        tz,
        week_start: monday,
        items: &items,
        working: &working,
        banners: &banners,
        link_suffix: &link_suffix,
    });
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        // The page has no script; titles are escaped, and this makes sure nothing runs.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        // A token may be in the URL: never send it on to other sites.
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(html))
}
