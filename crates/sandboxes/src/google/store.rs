//! Event storage rules: what a write may carry, what the server fills in (ids, etag,
//! `updated`, organizer, attendee `self`), per-client private properties, how a stored
//! event is shown, and the expansion of a series into instances.

use super::error::ApiError;
use super::recurrence;
use super::render::{instance_ids, render, HORIZON_DAYS};
use super::state::{random_event_id, Inner, StoredEvent};
use super::when::{parse_tz, parse_when, rfc3339_millis, When};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

const READ_ONLY: &[&str] = &[
    "kind",
    "etag",
    "created",
    "updated",
    "htmlLink",
    "creator",
    "sequence",
    "recurringEventId",
    "originalStartTime",
];
const EVENT_TYPES: &[&str] = &[
    "default",
    "outOfOffice",
    "focusTime",
    "workingLocation",
    "fromGmail",
    "birthday",
];

/// Who writes: an OAuth client through the API, or the sandbox acting as a coworker
/// (who may set `organizer`, as an invitation from someone else would).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub client: &'a str,
    pub coworker: bool,
}

/// RFC 7396 merge, which is how Google applies `events.patch` bodies.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn is_valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
}

fn string_map(v: &Value) -> Result<Map<String, Value>, ApiError> {
    let m = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("Invalid extended property value."))?;
    if m.values().any(|x| !x.is_string()) {
        return Err(ApiError::invalid("Invalid extended property value."));
    }
    Ok(m.clone())
}

struct Built {
    body: Map<String, Value>,
    private: Map<String, Value>,
}

/// Validates a full event body and fills in the server's fields. `prior` carries what
/// a modification keeps (created, iCalUID, organizer, sequence).
fn build(
    cal_id: &str,
    id: &str,
    mut input: Map<String, Value>,
    prior: Option<&StoredEvent>,
    writer: Writer<'_>,
    now: DateTime<Utc>,
    seq: u64,
) -> Result<Built, ApiError> {
    for f in READ_ONLY {
        input.remove(*f);
    }
    input.remove("id");
    let mut private = Map::new();
    if let Some(ext) = input.remove("extendedProperties").filter(|v| !v.is_null()) {
        let ext = ext
            .as_object()
            .ok_or_else(|| ApiError::invalid("Invalid extended properties."))?;
        if let Some(p) = ext.get("private").filter(|v| !v.is_null()) {
            private = string_map(p)?;
        }
        if let Some(s) = ext.get("shared").filter(|v| !v.is_null()) {
            let shared = string_map(s)?;
            if !shared.is_empty() {
                input.insert("extendedProperties".into(), json!({ "shared": shared }));
            }
        }
    }
    let status = input
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("confirmed")
        .to_owned();
    if !["confirmed", "tentative", "cancelled"].contains(&status.as_str()) {
        return Err(ApiError::invalid("Invalid value for: status").at("parameter", "status"));
    }
    if let Some(t) = input.get("transparency").filter(|v| !v.is_null()) {
        if !matches!(t.as_str(), Some("opaque" | "transparent")) {
            return Err(ApiError::invalid("Invalid value for: transparency"));
        }
    }
    let event_type = input
        .get("eventType")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    if !EVENT_TYPES.contains(&event_type.as_str()) {
        return Err(ApiError::invalid("Invalid event type."));
    }
    let start = parse_when(input.get("start"), "start")?;
    let end = parse_when(input.get("end"), "end")?;
    if start.is_date() != end.is_date() {
        return Err(ApiError::invalid(
            "Start and end times must either both be date or both be dateTime.",
        ));
    }
    let utc = chrono_tz::UTC;
    let empty = if start.is_date() {
        end.instant(utc) <= start.instant(utc)
    } else {
        end.instant(utc) < start.instant(utc)
    };
    if empty {
        return Err(ApiError::time_range_empty());
    }
    match input.get("recurrence") {
        None | Some(Value::Null) => {
            input.remove("recurrence");
        }
        Some(Value::Array(a)) if a.is_empty() => {
            input.remove("recurrence");
        }
        Some(lines) => {
            recurrence::parse(lines)?;
            // A series needs a named zone so that it keeps its wall-clock time over DST.
            if matches!(start, When::At { tz: None, .. }) {
                return Err(ApiError::required(
                    "Missing time zone definition for start time.",
                ));
            }
            if matches!(end, When::At { tz: None, .. }) {
                return Err(ApiError::required(
                    "Missing time zone definition for end time.",
                ));
            }
        }
    }
    input.insert("start".into(), start.to_json());
    input.insert("end".into(), end.to_json());
    if let Some(att) = input.get_mut("attendees").filter(|v| !v.is_null()) {
        let list = att
            .as_array_mut()
            .ok_or_else(|| ApiError::invalid("Invalid attendees."))?;
        for a in list.iter_mut() {
            let obj = a
                .as_object_mut()
                .ok_or_else(|| ApiError::invalid("Invalid attendees."))?;
            let email = obj
                .get("email")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::required("Missing attendee email."))?
                .to_owned();
            obj.remove("self");
            if email.eq_ignore_ascii_case(cal_id) {
                obj.insert("self".into(), json!(true));
            }
            obj.entry("responseStatus").or_insert(json!("needsAction"));
        }
    }
    let organizer = match (writer.coworker, input.remove("organizer"), prior) {
        (true, Some(Value::Object(mut o)), _) => {
            let email = o
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or(cal_id)
                .to_owned();
            o.remove("self");
            if email.eq_ignore_ascii_case(cal_id) {
                o.insert("self".into(), json!(true));
            }
            Value::Object(o)
        }
        (_, _, Some(p)) if p.body.contains_key("organizer") => p.body["organizer"].clone(),
        _ => json!({"email": cal_id, "self": true}),
    };
    let created = prior
        .and_then(|p| p.body.get("created").cloned())
        .unwrap_or_else(|| json!(rfc3339_millis(now)));
    let ical = match prior.and_then(|p| p.body.get("iCalUID").cloned()) {
        Some(u) => u,
        None => input
            .get("iCalUID")
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or_else(|| json!(format!("{id}@google.com"))),
    };
    let sequence = prior
        .and_then(|p| p.body.get("sequence").and_then(Value::as_u64))
        .map_or(0, |s| s + 1);
    input
        .entry("reminders")
        .or_insert(json!({"useDefault": true}));
    input.insert("kind".into(), json!("calendar#event"));
    input.insert(
        "etag".into(),
        json!(format!("\"{}{:04}\"", now.timestamp_micros(), seq % 10_000)),
    );
    input.insert("id".into(), json!(id));
    input.insert("status".into(), json!(status));
    input.insert(
        "htmlLink".into(),
        json!(format!("https://www.google.com/calendar/event?eid={id}")),
    );
    input.insert("created".into(), created);
    input.insert("updated".into(), json!(rfc3339_millis(now)));
    input.insert("creator".into(), organizer.clone());
    input.insert("organizer".into(), organizer);
    input.insert("iCalUID".into(), ical);
    input.insert("sequence".into(), json!(sequence));
    input.insert("eventType".into(), json!(event_type));
    Ok(Built {
        body: input,
        private,
    })
}

impl Inner {
    pub fn insert_event(
        &mut self,
        cal_id: &str,
        input: Map<String, Value>,
        writer: Writer<'_>,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let id = match input.get("id") {
            None | Some(Value::Null) => random_event_id(),
            Some(Value::String(id)) if is_valid_event_id(id) => id.clone(),
            Some(_) => return Err(ApiError::invalid("Invalid resource id value.")),
        };
        let cal = self.calendar_mut(cal_id);
        if cal.events.contains_key(&id) {
            return Err(ApiError::duplicate());
        }
        let seq = cal.seq + 1;
        let built = build(cal_id, &id, input, None, writer, now, seq)?;
        cal.seq = seq;
        cal.next_order += 1;
        let mut ev = StoredEvent {
            body: built.body,
            private: Default::default(),
            change_seq: seq,
            order: cal.next_order,
            deleted: false,
            prior_instances: Default::default(),
        };
        if !built.private.is_empty() {
            ev.private.insert(writer.client.to_owned(), built.private);
        }
        let shown = render(&ev, writer.client);
        cal.events.insert(id, ev);
        Ok(shown)
    }

    /// `events.patch` (`replace == false`) or `events.update` (`replace == true`).
    pub fn modify_event(
        &mut self,
        cal_id: &str,
        event_id: &str,
        input: Map<String, Value>,
        writer: Writer<'_>,
        replace: bool,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let horizon = now + Duration::days(HORIZON_DAYS);
        let cal = self.calendar_mut(cal_id);
        let tz = parse_tz(&cal.time_zone).unwrap_or(chrono_tz::UTC);
        let existing = cal.events.get(event_id).ok_or_else(ApiError::not_found)?;
        if existing.deleted {
            return Err(ApiError::deleted());
        }
        let merged = if replace {
            Value::Object(input)
        } else {
            let mut current = render(existing, writer.client);
            merge(&mut current, &Value::Object(input));
            current
        };
        let Value::Object(merged) = merged else {
            return Err(ApiError::parse_error());
        };
        let seq = cal.seq + 1;
        let built = build(cal_id, event_id, merged, Some(existing), writer, now, seq)?;
        let old_ids = instance_ids(existing, tz, horizon);
        cal.seq = seq;
        let ev = cal
            .events
            .get_mut(event_id)
            .ok_or_else(ApiError::not_found)?;
        ev.prior_instances.extend(old_ids);
        ev.body = built.body;
        ev.change_seq = seq;
        if built.private.is_empty() {
            ev.private.remove(writer.client);
        } else {
            ev.private.insert(writer.client.to_owned(), built.private);
        }
        Ok(render(ev, writer.client))
    }

    pub fn delete_event(&mut self, cal_id: &str, event_id: &str) -> Result<(), ApiError> {
        let now = self.now();
        let horizon = now + Duration::days(HORIZON_DAYS);
        let cal = self.calendar_mut(cal_id);
        let tz = parse_tz(&cal.time_zone).unwrap_or(chrono_tz::UTC);
        let seq = cal.seq + 1;
        let ev = cal
            .events
            .get_mut(event_id)
            .ok_or_else(ApiError::not_found)?;
        if ev.deleted {
            return Err(ApiError::deleted());
        }
        let old_ids = instance_ids(ev, tz, horizon);
        ev.prior_instances.extend(old_ids);
        ev.deleted = true;
        ev.change_seq = seq;
        ev.body.insert("status".into(), json!("cancelled"));
        ev.body.insert("updated".into(), json!(rfc3339_millis(now)));
        ev.body.insert(
            "etag".into(),
            json!(format!("\"{}{:04}\"", now.timestamp_micros(), seq % 10_000)),
        );
        cal.seq = seq;
        Ok(())
    }
}
