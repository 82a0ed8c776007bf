//! `calendarView/delta`: the initial round over a fixed window, `$skiptoken` pages,
//! `$deltatoken` rounds of changes since (with `@removed`), and the Prefer headers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use super::error::GraphError;
use super::oauth::{authenticate, Need};
use super::state::{lock, Shared};
use super::tz;
use super::view::{calendar_view, render_delta_item, render_removed, Instance, RenderOpts};

#[derive(Debug, Clone)]
pub enum RoundItem {
    Present(Box<Instance>),
    Removed(String),
}

/// What a delta token remembers: the window, and the view as last reported.
#[derive(Debug, Clone)]
pub struct DeltaState {
    user_id: String,
    calendar_id: String,
    path_calendar: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    expand: Option<Vec<String>>,
    snapshot: HashMap<String, String>,
    created: DateTime<Utc>,
}

/// A round being paged through with skip tokens.
#[derive(Debug, Clone)]
pub struct Round {
    state: DeltaState,
    items: Vec<RoundItem>,
    pos: usize,
}

fn new_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}

/// The `Prefer` values: page size and zone (both optional).
struct Prefer {
    max_page_size: Option<usize>,
    zone: Option<String>,
}

/// The `Prefer: outlook.timezone` zone of a request, resolved (unknown zone → 400).
pub fn zone_pref(req: &HttpRequest) -> Result<Option<(String, chrono_tz::Tz)>, GraphError> {
    match prefer(req).zone {
        Some(name) => Ok(Some((name.clone(), tz::resolve_or_400(&name)?))),
        None => Ok(None),
    }
}

fn prefer(req: &HttpRequest) -> Prefer {
    let mut p = Prefer {
        max_page_size: None,
        zone: None,
    };
    for value in req
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
    {
        for part in value.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "odata.maxpagesize" => p.max_page_size = v.parse().ok().filter(|n| *n > 0),
                "outlook.timezone" => p.zone = Some(v.to_owned()),
                _ => {}
            }
        }
    }
    p
}

pub async fn delta_default(
    shared: web::Data<Shared>,
    req: HttpRequest,
) -> Result<HttpResponse, GraphError> {
    delta(&shared, &req, None)
}

pub async fn delta_calendar(
    shared: web::Data<Shared>,
    req: HttpRequest,
    calendar: web::Path<String>,
) -> Result<HttpResponse, GraphError> {
    delta(&shared, &req, Some(calendar.as_str()))
}

fn delta(
    shared: &Shared,
    req: &HttpRequest,
    calendar: Option<&str>,
) -> Result<HttpResponse, GraphError> {
    let principal = authenticate(shared, req, Need::CalendarsRead)?;
    shared.delta_calls.fetch_add(1, Ordering::SeqCst);
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if param("$expand").is_some() {
        // The answer real Graph gives to `$expand` on calendarView delta.
        return Err(GraphError::bad_request(
            "BadRequest",
            "Parsing OData Select and Expand failed: Value cannot be null. (Parameter 'initialState')",
        ));
    }
    let refused: Vec<&str> = ["$select", "$filter", "$orderby", "$search"]
        .into_iter()
        .filter(|p| param(p).is_some())
        .collect();
    if !refused.is_empty() {
        return Err(GraphError::bad_request(
            "ErrorInvalidUrlQuery",
            format!(
                "The following parameters are not supported with change tracking over the 'CalendarView' resource: '{}'.",
                refused.join(", ")
            ),
        ));
    }
    let pref = prefer(req);
    let zone = match &pref.zone {
        Some(name) => Some((name.clone(), tz::resolve_or_400(name)?)),
        None => None,
    };
    let now = shared.now();
    let mut store = lock(&shared.store);
    let round = if let Some(skip) = param("$skiptoken") {
        store
            .rounds
            .get(&skip)
            .filter(|r| r.state.user_id == principal.user_id)
            .cloned()
            .ok_or_else(|| shared.sync_state_not_found())?
    } else if let Some(token) = param("$deltatoken") {
        let state = store
            .delta
            .get(&token)
            .filter(|s| s.user_id == principal.user_id)
            .filter(|s| {
                now - s.created
                    < chrono::Duration::from_std(shared.cfg.delta_token_ttl).unwrap_or_default()
            })
            .cloned()
            .ok_or_else(|| shared.sync_state_not_found())?;
        let mailbox = store
            .mailboxes
            .get(&state.user_id)
            .ok_or_else(|| shared.sync_state_not_found())?;
        let view = calendar_view(
            mailbox.events.values(),
            &state.calendar_id,
            state.from,
            state.to,
        );
        let mut items: Vec<RoundItem> = view
            .iter()
            .filter(|i| state.snapshot.get(&i.id) != Some(&i.version))
            .map(|i| RoundItem::Present(Box::new(i.clone())))
            .collect();
        let mut gone: Vec<&String> = state
            .snapshot
            .keys()
            .filter(|id| !view.iter().any(|i| &i.id == *id))
            .collect();
        gone.sort();
        items.extend(gone.into_iter().map(|id| RoundItem::Removed(id.clone())));
        let snapshot = view
            .iter()
            .map(|i| (i.id.clone(), i.version.clone()))
            .collect();
        Round {
            state: DeltaState {
                snapshot,
                created: now,
                ..state
            },
            items,
            pos: 0,
        }
    } else {
        let (Some(start), Some(end)) = (param("startDateTime"), param("endDateTime")) else {
            return Err(GraphError::bad_request(
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
            ));
        };
        let parse = |name: &str, v: &str| {
            tz::parse_instant(v).ok_or_else(|| {
                GraphError::bad_request(
                    "ErrorInvalidParameter",
                    format!("The parameter '{name}' has an invalid value '{v}'; use ISO 8601."),
                )
            })
        };
        let (from, to) = (parse("startDateTime", &start)?, parse("endDateTime", &end)?);
        if to <= from {
            return Err(GraphError::bad_request(
                "ErrorInvalidParameter",
                "endDateTime must be after startDateTime.",
            ));
        }
        let mailbox = store
            .mailboxes
            .get(&principal.user_id)
            .ok_or_else(GraphError::item_not_found)?;
        let calendar_id = mailbox.calendar(calendar)?;
        let view = calendar_view(mailbox.events.values(), &calendar_id, from, to);
        Round {
            state: DeltaState {
                user_id: principal.user_id.clone(),
                calendar_id,
                path_calendar: calendar.is_some(),
                from,
                to,
                expand: None,
                snapshot: view
                    .iter()
                    .map(|i| (i.id.clone(), i.version.clone()))
                    .collect(),
                created: now,
            },
            items: view
                .into_iter()
                .map(|i| RoundItem::Present(Box::new(i)))
                .collect(),
            pos: 0,
        }
    };

    let size = pref
        .max_page_size
        .unwrap_or(shared.cfg.default_page_size)
        .max(1);
    let end = (round.pos + size).min(round.items.len());
    let opts = RenderOpts {
        zone,
        expand: round.state.expand.clone(),
    };
    let value: Vec<Value> = round.items[round.pos..end]
        .iter()
        .map(|item| match item {
            RoundItem::Present(inst) => render_delta_item(inst, &opts),
            RoundItem::Removed(id) => render_removed(id),
        })
        .collect();
    let path = if round.state.path_calendar {
        format!(
            "{}/me/calendars/{}/calendarView/delta",
            shared.graph_base(),
            round.state.calendar_id
        )
    } else {
        format!("{}/me/calendarView/delta", shared.graph_base())
    };
    let token = new_token();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#Collection(event)", shared.graph_base()),
        "value": value,
    });
    let link = if end < round.items.len() {
        store
            .rounds
            .insert(token.clone(), Round { pos: end, ..round });
        ("@odata.nextLink", format!("{path}?$skiptoken={token}"))
    } else {
        store.delta.insert(token.clone(), round.state);
        ("@odata.deltaLink", format!("{path}?$deltatoken={token}"))
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert(link.0.into(), json!(link.1));
    }
    let mut applied = Vec::new();
    if let Some(n) = pref.max_page_size {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if let Some(z) = &pref.zone {
        applied.push(format!("outlook.timezone=\"{z}\""));
    }
    let mut res = HttpResponse::Ok();
    if !applied.is_empty() {
        res.insert_header(("Preference-Applied", applied.join(", ")));
    }
    Ok(res.json(body))
}
