//! One VEVENT read into a zone-aware specification: anchor zone and local start, length,
//! rules, RDATE/EXDATE sets and RECURRENCE-ID. Everything needed to expand it, nothing
//! left as text.

use crate::parse::component::Component;
use crate::parse::lexer::ContentLine;
use crate::parse::value::{parse_duration, parse_raw_time, unescape_text, Nominal, RawTime};
use crate::recur::{parse_rule, Rule};
use crate::tz::{Zone, ZoneTable};
use calsync_core::EventStatus;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

/// How long each instance lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Length {
    /// DTEND in the start's zone: the end is the same wall-clock distance from the start,
    /// so all-day events cover local days of 23 or 25 hours across DST.
    Wall(i64),
    /// DURATION: days follow the wall clock, the rest is elapsed time.
    Nominal(Nominal),
    /// DTEND in another zone: elapsed seconds.
    Exact(i64),
}

impl Length {
    pub fn end(
        self,
        zone: &Zone,
        start_local: NaiveDateTime,
        start: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Length::Wall(s) => zone.to_utc(start_local.checked_add_signed(Duration::seconds(s))?),
            Length::Nominal(n) => {
                let base = if n.days == 0 {
                    start
                } else {
                    zone.to_utc(start_local.checked_add_signed(Duration::days(n.days))?)?
                };
                base.checked_add_signed(Duration::seconds(n.secs))
            }
            Length::Exact(s) => start.checked_add_signed(Duration::seconds(s)),
        }
    }

    /// An upper bound in seconds, to widen the expansion window by.
    pub fn bound_secs(self) -> i64 {
        match self {
            Length::Wall(s) => s.saturating_add(7200),
            Length::Nominal(n) => n.days.saturating_mul(90_000).saturating_add(n.secs),
            Length::Exact(s) => s,
        }
        .max(0)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RecurrenceId {
    pub at: DateTime<Utc>,
    pub this_and_future: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct EventSpec {
    pub uid: String,
    pub summary: Option<String>,
    pub status: EventStatus,
    /// TRANSP:TRANSPARENT, or Outlook's busy status FREE.
    pub free: bool,
    pub sequence: i64,
    pub all_day: bool,
    pub zone: Zone,
    pub start_local: NaiveDateTime,
    pub start: DateTime<Utc>,
    pub length: Length,
    pub rules: Vec<Rule>,
    /// EXRULEs (RFC 2445): what they generate is taken out of the series.
    pub exrules: Vec<Rule>,
    /// Extra instances, as local times of `zone`, with their own elapsed length for
    /// PERIOD values.
    pub rdates: Vec<(NaiveDateTime, Option<i64>)>,
    pub exdates: Vec<DateTime<Utc>>,
    /// DATE-valued EXDATEs on a timed series remove every instance on that local day.
    pub exdate_days: Vec<NaiveDate>,
    pub recurrence_id: Option<RecurrenceId>,
}

/// A time of a property, its zone resolved.
struct When {
    zone: Zone,
    local: NaiveDateTime,
    is_date: bool,
    utc_written: bool,
}

fn when_of(raw: RawTime, tzid: Option<&str>, zones: &mut ZoneTable, w: &mut Vec<String>) -> When {
    match raw {
        RawTime::Date(d) => When {
            zone: zones.date_zone.clone(),
            local: d.and_time(chrono::NaiveTime::MIN),
            is_date: true,
            utc_written: false,
        },
        RawTime::DateTime { naive, utc: true } => When {
            zone: Zone::Utc,
            local: naive,
            is_date: false,
            utc_written: true,
        },
        RawTime::DateTime { naive, utc: false } => When {
            zone: match tzid {
                Some(id) => zones.resolve(id, w),
                None => zones.floating.clone(),
            },
            local: naive,
            is_date: false,
            utc_written: false,
        },
    }
}

fn line_when(line: &ContentLine, zones: &mut ZoneTable, w: &mut Vec<String>) -> Option<When> {
    let (tzid, value) = line.tzid_and_value();
    let raw = parse_raw_time(value, line.param("VALUE"))?;
    Some(when_of(raw, tzid.as_deref(), zones, w))
}

fn to_utc(when: &When) -> Option<DateTime<Utc>> {
    when.zone.to_utc(when.local)
}

/// Reads a VEVENT; the error says why it cannot be placed in time.
pub(crate) fn read_event(
    comp: &Component,
    zones: &mut ZoneTable,
    w: &mut Vec<String>,
) -> Result<EventSpec, String> {
    let text = |name: &str| comp.prop(name).map(|p| unescape_text(p.value.trim()));
    let dtstart_line = comp.prop("DTSTART").ok_or("no DTSTART")?;
    let mut start = line_when(dtstart_line, zones, w).ok_or("unreadable DTSTART")?;
    let uid = text("UID")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| synthetic_uid(&dtstart_line.value, text("SUMMARY").as_deref()));

    let rules = read_rules(comp, "RRULE", w);
    let recurring = !rules.is_empty() || comp.prop("RDATE").is_some();
    // A Google series written in UTC recurs on the calendar's wall clock, so its
    // instances keep their local hour across DST.
    if start.utc_written && recurring && zones.has_calendar_zone {
        let utc = start.local.and_utc();
        start.zone = zones.floating.clone();
        start.local = start.zone.to_local(utc).ok_or("DTSTART out of range")?;
    }
    let start_utc = to_utc(&start).ok_or("DTSTART out of range")?;

    let length = length_of(comp, &start, start_utc, zones, w)?;
    let status = match comp
        .prop("STATUS")
        .map(|s| s.value.trim().to_ascii_uppercase())
    {
        Some(s) if s == "CANCELLED" => EventStatus::Cancelled,
        Some(s) if s == "TENTATIVE" => EventStatus::Tentative,
        _ => EventStatus::Confirmed,
    };
    let free = comp
        .prop("TRANSP")
        .is_some_and(|t| t.value.trim().eq_ignore_ascii_case("TRANSPARENT"))
        || comp
            .prop("X-MICROSOFT-CDO-BUSYSTATUS")
            .is_some_and(|t| t.value.trim().eq_ignore_ascii_case("FREE"));

    let mut spec = EventSpec {
        uid,
        summary: text("SUMMARY"),
        status,
        free,
        sequence: comp
            .prop("SEQUENCE")
            .and_then(|s| s.value.trim().parse().ok())
            .unwrap_or(0),
        all_day: start.is_date,
        zone: start.zone.clone(),
        start_local: start.local,
        start: start_utc,
        length,
        rules,
        exrules: read_rules(comp, "EXRULE", w),
        rdates: Vec::new(),
        exdates: Vec::new(),
        exdate_days: Vec::new(),
        recurrence_id: None,
    };
    read_sets(comp, &mut spec, zones, w);
    if let Some(line) = comp.prop("RECURRENCE-ID") {
        let when = line_when(line, zones, w).ok_or("unreadable RECURRENCE-ID")?;
        spec.recurrence_id = Some(RecurrenceId {
            at: to_utc(&when).ok_or("RECURRENCE-ID out of range")?,
            this_and_future: line
                .param("RANGE")
                .is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE")),
        });
    }
    Ok(spec)
}

/// The readable rules of a kind (RRULE, EXRULE). A damaged rule keeps what can be read
/// of it; one without a readable FREQ is left out, so the event still counts as its
/// DTSTART (and RDATEs): losing the whole event would free busy time.
fn read_rules(comp: &Component, name: &str, w: &mut Vec<String>) -> Vec<Rule> {
    let mut rules = Vec::new();
    for line in comp.props_named(name) {
        match parse_rule(&line.value) {
            Ok((rule, dropped)) => {
                for what in dropped {
                    w.push(format!(
                        "line {}: {name}: {what}, kept the rest of the rule",
                        line.line_no
                    ));
                }
                rules.push(rule);
            }
            Err(e) => w.push(format!(
                "line {}: {name} ignored: {e}; the event is read without it",
                line.line_no
            )),
        }
    }
    rules
}

fn length_of(
    comp: &Component,
    start: &When,
    start_utc: DateTime<Utc>,
    zones: &mut ZoneTable,
    w: &mut Vec<String>,
) -> Result<Length, String> {
    if let Some(line) = comp.prop("DTEND") {
        let end = line_when(line, zones, w).ok_or("unreadable DTEND")?;
        // Same zone (two DATEs are both in the caller's): a wall-clock length, so all-day
        // and timed series keep their local shape across DST. Otherwise the end names
        // its own instant, e.g. a DATE start with a UTC or zoned DTEND, or a timed start
        // with a DATE end (midnight in the caller's zone).
        let same_clock = (start.is_date && end.is_date) || end.zone == start.zone;
        let length = if same_clock {
            Length::Wall(end.local.signed_duration_since(start.local).num_seconds())
        } else {
            Length::Exact(
                to_utc(&end)
                    .ok_or("DTEND out of range")?
                    .signed_duration_since(start_utc)
                    .num_seconds(),
            )
        };
        return Ok(match length {
            Length::Wall(s) | Length::Exact(s) if s < 0 => {
                w.push(format!(
                    "line {}: DTEND before DTSTART, read as no DTEND",
                    line.line_no
                ));
                default_length(start.is_date)
            }
            Length::Wall(s) if start.is_date && s == 0 => default_length(true),
            other => other,
        });
    }
    if let Some(line) = comp.prop("DURATION") {
        let d = parse_duration(&line.value).ok_or("unreadable DURATION")?;
        if d.days < 0 || d.secs < 0 {
            w.push(format!(
                "line {}: negative DURATION, read as zero",
                line.line_no
            ));
            return Ok(Length::Exact(0));
        }
        return Ok(Length::Nominal(d));
    }
    Ok(default_length(start.is_date))
}

/// No DTEND or DURATION: a date lasts one day, a date-time no time at all.
fn default_length(is_date: bool) -> Length {
    if is_date {
        Length::Nominal(Nominal { days: 1, secs: 0 })
    } else {
        Length::Exact(0)
    }
}

fn read_sets(comp: &Component, spec: &mut EventSpec, zones: &mut ZoneTable, w: &mut Vec<String>) {
    for line in comp.props_named("RDATE") {
        let is_period = line
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"));
        let (tzid, value) = line.tzid_and_value();
        let tzid = tzid.as_deref();
        for item in value.split(',') {
            let (first, second) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let value_param = if is_period { None } else { line.param("VALUE") };
            let Some(raw) = parse_raw_time(first, value_param) else {
                w.push(format!("line {}: unreadable RDATE {item:?}", line.line_no));
                continue;
            };
            let when = when_of(raw, tzid, zones, w);
            let Some(utc) = to_utc(&when) else { continue };
            let local = if when.zone == spec.zone {
                Some(when.local)
            } else {
                spec.zone.to_local(utc)
            };
            let Some(local) = local else { continue };
            let explicit = second.and_then(|s| period_secs(s, utc, tzid, zones, w));
            spec.rdates.push((local, explicit));
        }
    }
    for line in comp.props_named("EXDATE") {
        let (tzid, value) = line.tzid_and_value();
        for item in value.split(',') {
            match parse_raw_time(item, line.param("VALUE")) {
                Some(RawTime::Date(d)) if !spec.all_day => spec.exdate_days.push(d),
                Some(raw) => {
                    let when = when_of(raw, tzid.as_deref(), zones, w);
                    if let Some(utc) = to_utc(&when) {
                        spec.exdates.push(utc);
                    }
                }
                None => w.push(format!("line {}: unreadable EXDATE {item:?}", line.line_no)),
            }
        }
    }
}

/// The elapsed length of an RDATE PERIOD's second half (an end or a duration).
fn period_secs(
    s: &str,
    start: DateTime<Utc>,
    tzid: Option<&str>,
    zones: &mut ZoneTable,
    w: &mut Vec<String>,
) -> Option<i64> {
    if let Some(d) = parse_duration(s) {
        return Some(d.days.saturating_mul(86_400).saturating_add(d.secs).max(0));
    }
    let raw = parse_raw_time(s, None)?;
    let end = to_utc(&when_of(raw, tzid, zones, w))?;
    Some(end.signed_duration_since(start).num_seconds().max(0))
}

/// A stable stand-in for a missing UID, so re-fetching the feed upserts the same rows.
fn synthetic_uid(dtstart: &str, summary: Option<&str>) -> String {
    // FNV-1a: tiny, dependency-free and stable across releases (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dtstart.bytes().chain(summary.unwrap_or("").bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("no-uid-{h:016x}")
}
