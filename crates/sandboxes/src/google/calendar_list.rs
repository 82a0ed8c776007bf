//! `GET /calendar/v3/users/me/calendarList`: the caller's calendars, their primary one
//! first (`primary: true`, id = their email) and then the secondary calendars they own,
//! all with `accessRole: owner`. Paged like Google: `maxResults` 1..=250 (default 100;
//! 0 or garbage → 400), `pageToken` bound to the user (unknown or another's → 400).
//! No `syncToken` support: the last page carries none, so a client cannot rely on one.

use super::auth::{prelude, Access};
use super::error::ApiError;
use super::state::{random_token, GoogleState};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

const DEFAULT_MAX: usize = 100;
const MAX: usize = 250;

pub(crate) async fn list(
    st: web::Data<GoogleState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Read).await?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let max = match param("maxResults") {
        None => DEFAULT_MAX,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX),
            _ => {
                return Err(ApiError::invalid_param(
                    "maxResults",
                    format!("Invalid value '{v}'. Values must match the following regular expression: '[0-9]+' and be at least 1"),
                ))
            }
        },
    };
    let mut inner = st.lock();
    let offset = match param("pageToken") {
        None => 0,
        Some(token) => match inner.calendar_list_pages.get(&token) {
            Some((user, offset)) if user.eq_ignore_ascii_case(&caller.user) => *offset,
            _ => {
                return Err(ApiError::invalid_param(
                    "pageToken",
                    "Invalid page token value.",
                ))
            }
        },
    };
    // The primary calendar exists from the user's first request on.
    inner.calendar_mut(&caller.user);
    let mut items: Vec<Value> = Vec::new();
    for id in std::iter::once(caller.user.clone()).chain(inner.owned_calendars(&caller.user)) {
        let Some(cal) = inner.calendars.get(&id) else {
            continue;
        };
        let primary = cal.owner.is_none();
        let mut item = json!({
            "kind": "calendar#calendarListEntry",
            "etag": format!("\"{}\"", cal.seq),
            "id": cal.id,
            "summary": cal.summary.clone().unwrap_or_else(|| cal.id.clone()),
            "timeZone": cal.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
        });
        if primary {
            item["primary"] = json!(true);
        }
        items.push(item);
    }
    let page: Vec<Value> = items.iter().skip(offset).take(max).cloned().collect();
    let mut body = json!({
        "kind": "calendar#calendarList",
        "etag": format!("\"{}\"", items.len()),
        "items": page,
    });
    if offset + max < items.len() {
        let token = random_token(24);
        inner
            .calendar_list_pages
            .insert(token.clone(), (caller.user.clone(), offset + max));
        body["nextPageToken"] = json!(token);
    }
    Ok(HttpResponse::Ok().json(body))
}
