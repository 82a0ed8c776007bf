//! `events.list`: parameter validation, full listings with filters and series expansion,
//! incremental listings from a sync token, and pagination over a snapshot taken at the
//! first page (so the final `nextSyncToken` covers exactly what the pages showed).

use super::auth::{prelude, Access};
use super::error::ApiError;
use super::query::Params;
use super::render::{instances, master_times, minimal_cancelled, render, HORIZON_DAYS};
use super::state::{random_token, Calendar, GoogleState, PageState, StoredEvent, SyncCursor};
use super::when::parse_tz;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

struct Row {
    start: DateTime<Utc>,
    updated: String,
    order: (u64, DateTime<Utc>),
    value: Value,
}

fn text_matches(ev: &StoredEvent, client: &str, p: &Params) -> bool {
    let body = &ev.body;
    if let Some(q) = &p.q {
        let mut hay = String::new();
        for f in ["summary", "description", "location"] {
            if let Some(s) = body.get(f).and_then(Value::as_str) {
                hay.push_str(&s.to_lowercase());
                hay.push(' ');
            }
        }
        for a in body
            .get("attendees")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(e) = a.get("email").and_then(Value::as_str) {
                hay.push_str(&e.to_lowercase());
                hay.push(' ');
            }
        }
        if !q.split_whitespace().all(|term| hay.contains(term)) {
            return false;
        }
    }
    if let Some(uid) = &p.ical_uid {
        if body.get("iCalUID").and_then(Value::as_str) != Some(uid.as_str()) {
            return false;
        }
    }
    let private = ev.private.get(client);
    let private_ok = p
        .private_props
        .iter()
        .all(|(k, v)| private.and_then(|m| m.get(k)).and_then(Value::as_str) == Some(v.as_str()));
    let shared_ok = p.shared_props.iter().all(|(k, v)| {
        body.get("extendedProperties")
            .and_then(|e| e.get("shared"))
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            == Some(v.as_str())
    });
    private_ok && shared_ok
}

fn in_window(p: &Params, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    p.time_min.is_none_or(|t| end > t) && p.time_max.is_none_or(|t| start < t)
}

pub(crate) fn full_listing(
    cal: &Calendar,
    client: &str,
    p: &Params,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let tz: Tz = parse_tz(&cal.time_zone).unwrap_or(chrono_tz::UTC);
    let horizon = p.time_max.unwrap_or(now + Duration::days(HORIZON_DAYS));
    let with_deleted = p.show_deleted.unwrap_or(false) || p.updated_min.is_some();
    let mut rows = Vec::new();
    for ev in cal.events.values() {
        let updated = ev
            .body
            .get("updated")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !text_matches(ev, client, p) {
            continue;
        }
        if let Some(min) = p.updated_min {
            if DateTime::parse_from_rfc3339(&updated).is_ok_and(|u| u < min) {
                continue;
            }
        }
        let id = ev
            .body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let cancelled = ev.body.get("status").and_then(Value::as_str) == Some("cancelled");
        let Some((s, e)) = master_times(ev) else {
            continue;
        };
        let (start, end) = (s.instant(tz), e.instant(tz));
        if ev.deleted {
            if with_deleted {
                let value = minimal_cancelled(id, &ev.body["etag"]);
                rows.push(Row {
                    start,
                    updated,
                    order: (ev.order, start),
                    value,
                });
            }
            continue;
        }
        if cancelled && !with_deleted {
            continue;
        }
        let is_series = ev.body.contains_key("recurrence");
        if is_series {
            let shown = instances(ev, client, tz, horizon);
            if p.single_events {
                for inst in shown {
                    if (inst.cancelled && !with_deleted) || !in_window(p, inst.start, inst.end) {
                        continue;
                    }
                    let order = (ev.order, inst.start);
                    rows.push(Row {
                        start: inst.start,
                        updated: updated.clone(),
                        order,
                        value: inst.value,
                    });
                }
                continue;
            }
            if !shown
                .iter()
                .any(|i| !i.cancelled && in_window(p, i.start, i.end))
            {
                continue;
            }
        } else if !in_window(p, start, end) {
            continue;
        }
        rows.push(Row {
            start,
            updated,
            order: (ev.order, start),
            value: render(ev, client),
        });
    }
    match p.order_by.as_deref() {
        Some("startTime") => rows.sort_by(|a, b| a.start.cmp(&b.start).then(a.order.cmp(&b.order))),
        Some("updated") => {
            rows.sort_by(|a, b| a.updated.cmp(&b.updated).then(a.order.cmp(&b.order)))
        }
        _ => rows.sort_by_key(|r| r.order),
    }
    rows.into_iter().map(|r| r.value).collect()
}

fn changes_since(
    cal: &Calendar,
    client: &str,
    watermark: u64,
    single: bool,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let tz: Tz = parse_tz(&cal.time_zone).unwrap_or(chrono_tz::UTC);
    let horizon = now + Duration::days(HORIZON_DAYS);
    let mut changed: Vec<&StoredEvent> = cal
        .events
        .values()
        .filter(|e| e.change_seq > watermark)
        .collect();
    changed.sort_by_key(|e| e.change_seq);
    let mut out = Vec::new();
    for ev in changed {
        let id = ev
            .body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let etag = ev.body.get("etag").cloned().unwrap_or(Value::Null);
        let is_series = ev.body.contains_key("recurrence");
        if single && (is_series || !ev.prior_instances.is_empty()) {
            let current = if is_series && !ev.deleted {
                instances(ev, client, tz, horizon)
            } else {
                Vec::new()
            };
            let current_ids: BTreeSet<&str> = current.iter().map(|s| s.id.as_str()).collect();
            for gone in ev
                .prior_instances
                .iter()
                .filter(|i| !current_ids.contains(i.as_str()))
            {
                let mut v = minimal_cancelled(gone, &etag);
                v["recurringEventId"] = json!(id);
                out.push(v);
            }
            out.extend(current.into_iter().map(|s| s.value));
            if is_series {
                continue;
            }
        }
        out.push(if ev.deleted {
            minimal_cancelled(id, &etag)
        } else {
            render(ev, client)
        });
    }
    out
}

/// GET /calendar/v3/calendars/{calendarId}/events
pub(crate) async fn list(
    st: web::Data<GoogleState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = prelude(&req, &st, Access::Read).await?;
    let cal_id = caller.calendar(&path)?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let mut inner = st.lock();
    *inner.list_calls.entry(cal_id.clone()).or_default() += 1;
    let p = Params::parse(&pairs)?;
    let page_size = p.max_results.min(inner.settings.default_page_size.max(1));
    let now = inner.now();
    let epoch = inner.sync_epoch;
    let page = if let Some(token) = &p.page_token {
        let page = inner
            .pages
            .get(token)
            .filter(|s| {
                s.calendar == cal_id
                    && s.client_id == caller.client_id
                    && s.fingerprint == p.fingerprint
            })
            .cloned()
            .ok_or_else(|| ApiError::invalid_param("pageToken", "Invalid page token value."))?;
        if let Some(sync) = &p.sync_token {
            check_sync_token(&inner.sync_tokens, sync, &cal_id, p.single_events, epoch)?;
        }
        page
    } else {
        let cal = inner.calendar_mut(&cal_id).clone();
        let then_sync = SyncCursor {
            calendar: cal_id.clone(),
            watermark: cal.seq,
            single_events: p.single_events,
            epoch,
        };
        let items = match &p.sync_token {
            Some(sync) => {
                let cursor =
                    check_sync_token(&inner.sync_tokens, sync, &cal_id, p.single_events, epoch)?;
                changes_since(
                    &cal,
                    &caller.client_id,
                    cursor.watermark,
                    p.single_events,
                    now,
                )
            }
            None => full_listing(&cal, &caller.client_id, &p, now),
        };
        PageState {
            fingerprint: p.fingerprint.clone(),
            calendar: cal_id.clone(),
            client_id: caller.client_id.clone(),
            items: Arc::new(items),
            offset: 0,
            then_sync,
        }
    };
    let end = (page.offset + page_size).min(page.items.len());
    let items: Vec<Value> = page
        .items
        .get(page.offset..end)
        .unwrap_or_default()
        .to_vec();
    let cal = inner.calendar_mut(&cal_id);
    let mut out = json!({
        "kind": "calendar#events",
        "etag": format!("\"{}\"", cal.seq),
        "summary": cal.id,
        "description": "",
        "updated": super::when::rfc3339_millis(now),
        "timeZone": cal.time_zone,
        "accessRole": "owner",
        "defaultReminders": [],
        "items": items,
    });
    if end < page.items.len() {
        let token = random_token(40);
        inner.pages.insert(
            token.clone(),
            PageState {
                offset: end,
                ..page
            },
        );
        out["nextPageToken"] = json!(token);
    } else {
        out["nextSyncToken"] = json!(inner.sync_token_for(page.then_sync));
    }
    Ok(HttpResponse::Ok().json(out))
}

fn check_sync_token(
    tokens: &std::collections::HashMap<String, SyncCursor>,
    token: &str,
    cal_id: &str,
    single_events: bool,
    epoch: u64,
) -> Result<SyncCursor, ApiError> {
    let cursor = tokens
        .get(token)
        .filter(|c| c.calendar == cal_id && c.epoch == epoch)
        .cloned()
        .ok_or_else(ApiError::full_sync_required)?;
    if cursor.single_events != single_events {
        return Err(ApiError::invalid_param(
            "singleEvents",
            "singleEvents must have the value it had when the sync token was issued.",
        ));
    }
    Ok(cursor)
}
