//! The stored event and how a create/PATCH body changes it, with Graph's validation
//! (unknown properties, time zones, all-day midnights, showAs values, recurrence).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{Map, Value};

use super::error::GraphError;
use super::recurrence::Recurrence;
use super::tz;

/// Who changes an event: the app through the API, or a coworker through the test handle
/// (who may also set what the API treats as read-only, e.g. `isCancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    App,
    Coworker,
}

#[derive(Debug, Clone)]
pub struct EventTime {
    pub local: NaiveDateTime,
    pub zone: String,
    pub tz: Tz,
}

impl EventTime {
    pub fn utc(&self) -> DateTime<Utc> {
        tz::local_to_utc(self.local, &self.tz)
    }
}

#[derive(Debug, Clone)]
pub enum Kind {
    Single,
    Master {
        recurrence: Recurrence,
        /// Occurrence dates deleted from the series.
        cancelled: BTreeSet<NaiveDate>,
    },
    Exception {
        master_id: String,
        original_date: NaiveDate,
        original_start: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub calendar_id: String,
    pub ical_uid: String,
    pub kind: Kind,
    pub subject: String,
    pub start: EventTime,
    pub end: EventTime,
    pub is_all_day: bool,
    pub show_as: String,
    pub is_cancelled: bool,
    pub response: String,
    pub is_organizer: bool,
    /// Writable properties the sandbox stores and returns as given.
    pub extra: Map<String, Value>,
    /// `singleValueExtendedProperties` (id, value).
    pub extended: Vec<(String, String)>,
    pub transaction_id: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub change_key: String,
}

const PASSTHROUGH: &[&str] = &[
    "body",
    "location",
    "locations",
    "categories",
    "sensitivity",
    "importance",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "attendees",
    "responseRequested",
    "isOnlineMeeting",
    "allowNewTimeProposals",
    "hideAttendees",
];

/// Read-only on the API: ignored when the app sends them.
const READ_ONLY: &[&str] = &[
    "@odata.context",
    "@odata.etag",
    "@odata.type",
    "id",
    "iCalUId",
    "type",
    "seriesMasterId",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "webLink",
    "hasAttachments",
    "bodyPreview",
    "originalStart",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "onlineMeetingUrl",
    "isCancelled",
    "responseStatus",
    "organizer",
    "isOrganizer",
];

const SHOW_AS: &[&str] = &[
    "free",
    "tentative",
    "busy",
    "oof",
    "workingElsewhere",
    "unknown",
];

fn random_chars(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// An opaque Exchange-looking item id (URL-safe, ends in `=`).
pub fn new_id() -> String {
    format!("AAMkAG{}AAA=", random_chars(60))
}

pub fn new_change_key() -> String {
    format!("{}==", random_chars(26))
}

fn new_ical_uid() -> String {
    let hex: String = (0..32)
        .map(|_| format!("{:X}", rand::thread_rng().gen_range(0..16u8)))
        .collect();
    format!("040000008200E00074C5B7101A82E00800000000{hex}")
}

fn type_error(prop: &str, expected: &str) -> GraphError {
    GraphError::bad_request(
        "RequestBodyRead",
        format!("Cannot convert the value of property '{prop}' to the expected type '{expected}'."),
    )
}

fn parse_time(prop: &str, value: &Value) -> Result<EventTime, GraphError> {
    let obj = value
        .as_object()
        .ok_or_else(|| type_error(prop, "microsoft.graph.dateTimeTimeZone"))?;
    let raw = obj.get("dateTime").and_then(Value::as_str).ok_or_else(|| {
        GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("'{prop}.dateTime' is required."),
        )
    })?;
    let local = tz::parse_local(raw).ok_or_else(|| {
        GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("'{raw}' is not a valid dateTime: use yyyy-MM-ddTHH:mm:ss without an offset and give the zone in timeZone."),
        )
    })?;
    let zone = obj.get("timeZone").and_then(Value::as_str).unwrap_or("");
    let tz = tz::resolve_or_400(zone)?;
    Ok(EventTime {
        local,
        zone: zone.to_owned(),
        tz,
    })
}

impl Event {
    /// A new event from a create body; `organizer` is the mailbox owner's emailAddress.
    pub fn create(
        calendar_id: &str,
        body: &Value,
        actor: Actor,
        organizer: Value,
        now: DateTime<Utc>,
    ) -> Result<Self, GraphError> {
        let obj = body.as_object().ok_or_else(|| {
            GraphError::bad_request("RequestBodyRead", "The request body must be a JSON object.")
        })?;
        let start = obj
            .get("start")
            .ok_or_else(|| GraphError::bad_request("ErrorInvalidRequest", "'start' is required."))
            .and_then(|v| parse_time("start", v))?;
        let end = obj
            .get("end")
            .ok_or_else(|| GraphError::bad_request("ErrorInvalidRequest", "'end' is required."))
            .and_then(|v| parse_time("end", v))?;
        let mut extra = Map::new();
        extra.insert("organizer".into(), organizer);
        let mut event = Self {
            id: new_id(),
            calendar_id: calendar_id.to_owned(),
            ical_uid: new_ical_uid(),
            kind: Kind::Single,
            subject: String::new(),
            start,
            end,
            is_all_day: false,
            show_as: "busy".into(),
            is_cancelled: false,
            response: "organizer".into(),
            is_organizer: true,
            extra,
            extended: Vec::new(),
            transaction_id: None,
            created: now,
            modified: now,
            change_key: new_change_key(),
        };
        event.apply(obj, actor, true)?;
        Ok(event)
    }

    /// Applies a PATCH body, then bumps `changeKey` and `lastModifiedDateTime`.
    pub fn patch(
        &mut self,
        body: &Value,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), GraphError> {
        let obj = body.as_object().ok_or_else(|| {
            GraphError::bad_request("RequestBodyRead", "The request body must be a JSON object.")
        })?;
        let mut next = self.clone();
        next.apply(obj, actor, false)?;
        next.modified = now;
        next.change_key = new_change_key();
        *self = next;
        Ok(())
    }

    fn apply(
        &mut self,
        obj: &Map<String, Value>,
        actor: Actor,
        creating: bool,
    ) -> Result<(), GraphError> {
        for (key, value) in obj {
            match key.as_str() {
                "subject" => {
                    self.subject = match value {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        _ => return Err(type_error(key, "Edm.String")),
                    }
                }
                "start" => self.start = parse_time(key, value)?,
                "end" => self.end = parse_time(key, value)?,
                "isAllDay" => self.is_all_day = value.as_bool().ok_or_else(|| type_error(key, "Edm.Boolean"))?,
                "showAs" => {
                    let v = value.as_str().filter(|v| SHOW_AS.contains(v)).ok_or_else(|| {
                        GraphError::bad_request(
                            "RequestBodyRead",
                            format!("Cannot convert the literal '{value}' to the expected type 'microsoft.graph.freeBusyStatus'."),
                        )
                    })?;
                    self.show_as = v.to_owned();
                }
                "transactionId" if creating => {
                    self.transaction_id = value.as_str().map(str::to_owned);
                }
                "transactionId" => {}
                "recurrence" => self.set_recurrence(value)?,
                "singleValueExtendedProperties" => self.set_extended(value)?,
                k if PASSTHROUGH.contains(&k) => {
                    self.extra.insert(key.clone(), value.clone());
                }
                "isCancelled" if actor == Actor::Coworker => {
                    self.is_cancelled = value.as_bool().ok_or_else(|| type_error(key, "Edm.Boolean"))?;
                }
                "responseStatus" if actor == Actor::Coworker => {
                    if let Some(r) = value.get("response").and_then(Value::as_str) {
                        self.response = r.to_owned();
                        self.is_organizer = r == "organizer";
                    }
                }
                "organizer" if actor == Actor::Coworker => {
                    self.extra.insert(key.clone(), value.clone());
                }
                k if READ_ONLY.contains(&k) => {}
                _ => {
                    return Err(GraphError::bad_request(
                        "RequestBodyRead",
                        format!("The property '{key}' does not exist on type 'microsoft.graph.event'. Make sure to only use property names that are defined by the type or mark the type as open type."),
                    ))
                }
            }
        }
        self.validate()
    }

    fn set_recurrence(&mut self, value: &Value) -> Result<(), GraphError> {
        match (&self.kind, value) {
            (Kind::Exception { .. }, _) => Err(GraphError::bad_request(
                "ErrorPropertyValidationFailure",
                "An occurrence or exception of a series cannot carry a recurrence.",
            )),
            (_, Value::Null) => {
                self.kind = Kind::Single;
                Ok(())
            }
            (kind, raw) => {
                let recurrence = Recurrence::parse(raw, self.start.local.date())?;
                let cancelled = match kind {
                    Kind::Master { cancelled, .. } => cancelled.clone(),
                    _ => BTreeSet::new(),
                };
                self.kind = Kind::Master {
                    recurrence,
                    cancelled,
                };
                Ok(())
            }
        }
    }

    fn set_extended(&mut self, value: &Value) -> Result<(), GraphError> {
        let items = value.as_array().ok_or_else(|| {
            type_error(
                "singleValueExtendedProperties",
                "Collection(microsoft.graph.singleValueLegacyExtendedProperty)",
            )
        })?;
        for item in items {
            let id = item.get("id").and_then(Value::as_str).unwrap_or("");
            let valid = valid_property_id(id);
            if !valid {
                return Err(GraphError::bad_request(
                    "ErrorInvalidProperty",
                    format!("The extended property id '{id}' is not valid."),
                ));
            }
            let value = match item.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => {
                    self.extended.retain(|(k, _)| !k.eq_ignore_ascii_case(id));
                    continue;
                }
                Some(other) => other.to_string(),
            };
            match self
                .extended
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(id))
            {
                Some(slot) => slot.1 = value,
                None => self.extended.push((id.to_owned(), value)),
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), GraphError> {
        if self.is_all_day {
            let midnight = |t: &EventTime| t.local.time() == chrono::NaiveTime::MIN;
            if !midnight(&self.start) || !midnight(&self.end) || self.end.local <= self.start.local
            {
                return Err(GraphError::bad_request(
                    "ErrorPropertyValidationFailure",
                    "An all-day event must start and end at midnight, and end at least one day after it starts.",
                ));
            }
        }
        if self.end.utc() < self.start.utc() {
            return Err(GraphError::bad_request(
                "ErrorInvalidRequest",
                "The end of the event is before its start.",
            ));
        }
        Ok(())
    }

    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.change_key)
    }
}

/// A single-value extended property id as Graph accepts it: a type, then either a
/// property tag (`0x…`) or a property set GUID in braces followed by `Name <name>` or
/// `Id 0x<hex>`.
fn valid_property_id(id: &str) -> bool {
    const TYPES: [&str; 6] = [
        "String",
        "Integer",
        "Boolean",
        "SystemTime",
        "Long",
        "Double",
    ];
    let mut parts = id.splitn(2, ' ');
    let (Some(kind), Some(rest)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !TYPES.contains(&kind) {
        return false;
    }
    let is_hex = |s: &str| {
        s.strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if is_hex(rest) {
        return true;
    }
    let Some(after_open) = rest.strip_prefix('{') else {
        return false;
    };
    let Some((guid, tail)) = after_open.split_once('}') else {
        return false;
    };
    let groups: Vec<&str> = guid.split('-').collect();
    let guid_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !guid_ok {
        return false;
    }
    match tail.strip_prefix(' ') {
        Some(t) => match t.split_once(' ') {
            Some(("Name", name)) => !name.trim().is_empty(),
            Some(("Id", tag)) => is_hex(tag),
            _ => false,
        },
        None => false,
    }
}
