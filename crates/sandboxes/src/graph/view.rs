//! Instances as Graph shows them (single, occurrence, exception, series master) and their
//! JSON: full events, the few-field occurrences of delta pages, `Prefer: outlook.timezone`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::model::{Event, EventTime, Kind};
use super::tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstKind {
    Single,
    Occurrence,
    Exception,
    SeriesMaster,
}

impl InstKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Single => "singleInstance",
            Self::Occurrence => "occurrence",
            Self::Exception => "exception",
            Self::SeriesMaster => "seriesMaster",
        }
    }
}

/// One item of a calendar view, owned so that delta rounds can keep it between pages.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub kind: InstKind,
    /// The event itself, or the series master for an occurrence.
    pub event: Event,
    pub series_master_id: Option<String>,
    pub start: EventTime,
    pub end: EventTime,
    pub start_utc: DateTime<Utc>,
    pub end_utc: DateTime<Utc>,
    pub original_start: Option<DateTime<Utc>>,
    /// Changes whenever what Graph would return for the item changes.
    pub version: String,
}

/// How to render: the `Prefer: outlook.timezone` zone and the `$expand` property ids.
#[derive(Debug, Clone, Default)]
pub struct RenderOpts {
    pub zone: Option<(String, Tz)>,
    /// `None`: no expand; `Some(empty)`: all extended properties; else these ids.
    pub expand: Option<Vec<String>>,
}

pub const OCCURRENCE_MARK: &str = "_OCC";

pub fn occurrence_id(master_id: &str, date: NaiveDate) -> String {
    format!("{master_id}{OCCURRENCE_MARK}{}", date.format("%Y%m%d"))
}

pub fn parse_occurrence_id(id: &str) -> Option<(&str, NaiveDate)> {
    let (master, date) = id.rsplit_once(OCCURRENCE_MARK)?;
    NaiveDate::parse_from_str(date, "%Y%m%d")
        .ok()
        .map(|d| (master, d))
}

impl Instance {
    pub fn of_event(event: &Event) -> Self {
        let (kind, master, original) = match &event.kind {
            Kind::Single => (InstKind::Single, None, None),
            Kind::Master { .. } => (InstKind::SeriesMaster, None, None),
            Kind::Exception {
                master_id,
                original_start,
                ..
            } => (
                InstKind::Exception,
                Some(master_id.clone()),
                Some(*original_start),
            ),
        };
        Self {
            id: event.id.clone(),
            kind,
            event: event.clone(),
            series_master_id: master,
            start: event.start.clone(),
            end: event.end.clone(),
            start_utc: event.start.utc(),
            end_utc: event.end.utc(),
            original_start: original,
            version: event.change_key.clone(),
        }
    }

    /// The occurrence of `master` on `date` (the master's local start time that day).
    pub fn occurrence(master: &Event, date: NaiveDate) -> Self {
        let length = master.end.local - master.start.local;
        let local = date.and_time(master.start.local.time());
        let start = EventTime {
            local,
            ..master.start.clone()
        };
        let end = EventTime {
            local: local + length,
            ..master.start.clone()
        };
        let start_utc = start.utc();
        Self {
            id: occurrence_id(&master.id, date),
            kind: InstKind::Occurrence,
            event: master.clone(),
            series_master_id: Some(master.id.clone()),
            end_utc: end.utc(),
            start,
            end,
            start_utc,
            original_start: Some(start_utc),
            version: master.change_key.clone(),
        }
    }

    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.start_utc < to
            && (self.end_utc > from || (self.end_utc == self.start_utc && self.start_utc >= from))
    }
}

/// The calendar view of `events` in one calendar over `[from, to)`: no masters, no
/// cancelled items.
pub fn calendar_view<'a>(
    events: impl Iterator<Item = &'a Event> + Clone,
    calendar_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Instance> {
    let mut out = Vec::new();
    for event in events
        .clone()
        .filter(|e| e.calendar_id == calendar_id && !e.is_cancelled)
    {
        match &event.kind {
            Kind::Single | Kind::Exception { .. } => {
                let inst = Instance::of_event(event);
                if inst.overlaps(from, to) {
                    out.push(inst);
                }
            }
            Kind::Master {
                recurrence,
                cancelled,
            } => {
                let replaced: Vec<NaiveDate> = events
                    .clone()
                    .filter_map(|e| match &e.kind {
                        Kind::Exception {
                            master_id,
                            original_date,
                            ..
                        } if *master_id == event.id => Some(*original_date),
                        _ => None,
                    })
                    .collect();
                let until = (to + Duration::days(2)).date_naive();
                for date in recurrence.dates_until(until) {
                    if cancelled.contains(&date) || replaced.contains(&date) {
                        continue;
                    }
                    let inst = Instance::occurrence(event, date);
                    if inst.overlaps(from, to) {
                        out.push(inst);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.start_utc.cmp(&b.start_utc).then_with(|| a.id.cmp(&b.id)));
    out
}

fn render_time(t: &EventTime, utc: DateTime<Utc>, all_day: bool, opts: &RenderOpts) -> Value {
    match &opts.zone {
        None => json!({"dateTime": tz::format_local(t.local), "timeZone": t.zone}),
        // All-day items are floating days: midnight in whatever zone is asked for.
        Some((name, _)) if all_day => {
            json!({"dateTime": tz::format_local(t.local), "timeZone": name})
        }
        Some((name, zone)) => {
            json!({"dateTime": tz::format_local(tz::utc_to_local(utc, zone)), "timeZone": name})
        }
    }
}

/// The few fields an occurrence carries in a delta page.
pub fn render_delta_occurrence(inst: &Instance, opts: &RenderOpts) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.event",
        "@odata.etag": inst.event.etag(),
        "id": inst.id,
        "type": "occurrence",
        "seriesMasterId": inst.series_master_id,
        "start": render_time(&inst.start, inst.start_utc, inst.event.is_all_day, opts),
        "end": render_time(&inst.end, inst.end_utc, inst.event.is_all_day, opts),
    })
}

pub fn render_removed(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}})
}

/// The whole event as `GET /me/events/{id}` returns it.
pub fn render_full(inst: &Instance, opts: &RenderOpts) -> Value {
    let ev = &inst.event;
    let mut obj = Map::new();
    obj.insert("@odata.etag".into(), json!(ev.etag()));
    obj.insert("id".into(), json!(inst.id));
    obj.insert(
        "createdDateTime".into(),
        json!(tz::format_instant(ev.created)),
    );
    obj.insert(
        "lastModifiedDateTime".into(),
        json!(tz::format_instant(ev.modified)),
    );
    obj.insert("changeKey".into(), json!(ev.change_key));
    obj.insert("categories".into(), json!([]));
    obj.insert("transactionId".into(), json!(ev.transaction_id));
    obj.insert("originalStartTimeZone".into(), json!(ev.start.zone));
    obj.insert("originalEndTimeZone".into(), json!(ev.end.zone));
    obj.insert("iCalUId".into(), json!(ev.ical_uid));
    obj.insert("reminderMinutesBeforeStart".into(), json!(15));
    obj.insert("isReminderOn".into(), json!(true));
    obj.insert("hasAttachments".into(), json!(false));
    obj.insert("subject".into(), json!(ev.subject));
    obj.insert("bodyPreview".into(), json!(""));
    obj.insert("importance".into(), json!("normal"));
    obj.insert("sensitivity".into(), json!("normal"));
    obj.insert("isAllDay".into(), json!(ev.is_all_day));
    obj.insert("isCancelled".into(), json!(ev.is_cancelled));
    obj.insert("isOrganizer".into(), json!(ev.is_organizer));
    obj.insert("responseRequested".into(), json!(true));
    obj.insert("seriesMasterId".into(), json!(inst.series_master_id));
    obj.insert("showAs".into(), json!(ev.show_as));
    obj.insert("type".into(), json!(inst.kind.as_str()));
    obj.insert("isOnlineMeeting".into(), json!(false));
    obj.insert("onlineMeetingUrl".into(), Value::Null);
    obj.insert(
        "responseStatus".into(),
        json!({"response": ev.response, "time": "0001-01-01T00:00:00Z"}),
    );
    obj.insert("body".into(), json!({"contentType": "html", "content": ""}));
    obj.insert(
        "start".into(),
        render_time(&inst.start, inst.start_utc, ev.is_all_day, opts),
    );
    obj.insert(
        "end".into(),
        render_time(&inst.end, inst.end_utc, ev.is_all_day, opts),
    );
    obj.insert("location".into(), json!({"displayName": ""}));
    obj.insert("locations".into(), json!([]));
    obj.insert("attendees".into(), json!([]));
    if let Some(original) = inst.original_start {
        obj.insert("originalStart".into(), json!(tz::format_instant(original)));
    }
    let recurrence = match (&ev.kind, inst.kind) {
        (Kind::Master { recurrence, .. }, InstKind::SeriesMaster) => recurrence.raw.clone(),
        _ => Value::Null,
    };
    obj.insert("recurrence".into(), recurrence);
    for (k, v) in &ev.extra {
        obj.insert(k.clone(), v.clone());
    }
    if let Some(ids) = &opts.expand {
        let props: Vec<Value> = ev
            .extended
            .iter()
            .filter(|(id, _)| ids.is_empty() || ids.iter().any(|w| w.eq_ignore_ascii_case(id)))
            .map(|(id, value)| json!({"id": id, "value": value}))
            .collect();
        if !props.is_empty() {
            obj.insert("singleValueExtendedProperties".into(), Value::Array(props));
        }
    }
    Value::Object(obj)
}

/// A delta page item: full for single instances and exceptions, few fields for occurrences.
pub fn render_delta_item(inst: &Instance, opts: &RenderOpts) -> Value {
    if inst.kind == InstKind::Occurrence {
        return render_delta_occurrence(inst, opts);
    }
    let mut v = render_full(inst, opts);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("@odata.type".into(), json!("#microsoft.graph.event"));
    }
    v
}

/// Parses `$expand=singleValueExtendedProperties($filter=id eq '...' [or id eq '...'])`.
pub fn parse_expand(value: &str) -> Option<Vec<String>> {
    let rest = value.trim();
    let name = "singleValueExtendedProperties";
    if rest.len() < name.len() || !rest[..name.len()].eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = rest[name.len()..].trim();
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?.trim();
    let filter = inner.strip_prefix("$filter=")?;
    filter
        .split(" or ")
        .map(|clause| {
            let clause = clause.trim();
            let quoted = clause.strip_prefix("id eq ")?.trim();
            quoted
                .strip_prefix('\'')?
                .strip_suffix('\'')
                .map(str::to_owned)
        })
        .collect()
}
