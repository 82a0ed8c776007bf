//! How stored events are shown: per-client private properties, the minimal form of a
//! deleted event, and the expansion of a series master into its instances.

use super::recurrence;
use super::state::StoredEvent;
use super::when::{parse_when, When};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

/// Instances expanded per series at most, and how far past "now" an open-ended series
/// is expanded when the query gives no `timeMax`.
pub(crate) const EXPANSION_LIMIT: usize = 5000;
pub(crate) const HORIZON_DAYS: i64 = 730;

/// The event as `client` sees it: the shared body plus that client's private properties.
pub(crate) fn render(ev: &StoredEvent, client: &str) -> Value {
    let mut body = ev.body.clone();
    if let Some(p) = ev.private.get(client).filter(|m| !m.is_empty()) {
        let ext = body.entry("extendedProperties").or_insert(json!({}));
        ext["private"] = Value::Object(p.clone());
    }
    Value::Object(body)
}

/// What Google returns for a deleted event in incremental results.
pub(crate) fn minimal_cancelled(id: &str, etag: &Value) -> Value {
    json!({"kind": "calendar#event", "etag": etag, "id": id, "status": "cancelled"})
}

pub(crate) fn master_times(ev: &StoredEvent) -> Option<(When, When)> {
    let start = parse_when(ev.body.get("start"), "start").ok()?;
    let end = parse_when(ev.body.get("end"), "end").ok()?;
    Some((start, end))
}

/// One instance of a series (or the single event itself) with its interval.
pub(crate) struct Shown {
    pub id: String,
    pub value: Value,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cancelled: bool,
}

/// Expands a series master into its instances as `client` sees them.
pub(crate) fn instances(
    ev: &StoredEvent,
    client: &str,
    tz: Tz,
    horizon: DateTime<Utc>,
) -> Vec<Shown> {
    let (Some(lines), Some((start, end))) = (ev.body.get("recurrence"), master_times(ev)) else {
        return Vec::new();
    };
    let Ok(rec) = recurrence::parse(lines) else {
        return Vec::new();
    };
    let master_id = ev
        .body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let etag = ev.body.get("etag").cloned().unwrap_or(Value::Null);
    let span = end.instant(tz) - start.instant(tz);
    let mut base = render(ev, client);
    if let Value::Object(m) = &mut base {
        m.remove("recurrence");
    }
    recurrence::expand(&rec, &start, horizon, EXPANSION_LIMIT)
        .into_iter()
        .map(|occ| {
            let id = format!("{master_id}_{}", occ.start.instance_suffix());
            let s = occ.start.instant(tz);
            let end_when = match &occ.start {
                When::Date(d) => When::Date(*d + Duration::days(span.num_days())),
                When::At { dt, tz: z } => When::At {
                    dt: *dt + span,
                    tz: *z,
                },
            };
            let original = occ.start.to_json();
            let value = if occ.cancelled {
                let mut v = minimal_cancelled(&id, &etag);
                v["recurringEventId"] = json!(master_id);
                v["originalStartTime"] = original;
                v
            } else {
                let mut v = base.clone();
                v["id"] = json!(id);
                v["recurringEventId"] = json!(master_id);
                v["originalStartTime"] = original;
                v["start"] = occ.start.to_json();
                v["end"] = end_when.to_json();
                v
            };
            Shown {
                id,
                value,
                start: s,
                end: s + span,
                cancelled: occ.cancelled,
            }
        })
        .collect()
}

pub(crate) fn instance_ids(ev: &StoredEvent, tz: Tz, horizon: DateTime<Utc>) -> Vec<String> {
    instances(ev, "", tz, horizon)
        .into_iter()
        .map(|s| s.id)
        .collect()
}
