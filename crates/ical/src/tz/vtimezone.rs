//! A zone defined by a file's own VTIMEZONE: its STANDARD/DAYLIGHT observances expanded
//! into a sorted list of UTC transitions, up to a horizon.

use crate::parse::component::Component;
use crate::parse::value::{parse_date_time, parse_raw_time, unescape_text, RawTime};
use crate::recur::{occurrences, parse_rule, until_local, Walk};
use chrono::{Duration, NaiveDateTime};

/// Transitions one observance may contribute; a real zone has one or two a year.
const MAX_TRANSITIONS_PER_OBSERVANCE: usize = 2_000;
const MAX_STEPS_PER_OBSERVANCE: usize = 20_000;

#[derive(Debug)]
pub(crate) struct CustomZone {
    pub tzid: String,
    /// (UTC instant, offset in seconds from then on), sorted by instant.
    transitions: Vec<(NaiveDateTime, i64)>,
    /// Offset before the first transition: the earliest observance's TZOFFSETFROM.
    initial: i64,
}

impl CustomZone {
    pub fn offset_at(&self, utc: NaiveDateTime) -> i64 {
        let idx = self.transitions.partition_point(|(at, _)| *at <= utc);
        match idx.checked_sub(1) {
            Some(i) => self.transitions[i].1,
            None => self.initial,
        }
    }

    pub fn from_component(
        comp: &Component,
        horizon: NaiveDateTime,
        warnings: &mut Vec<String>,
    ) -> Option<CustomZone> {
        // Exchange writes display names such as `(UTC+07:00) Bangkok\, Hanoi\, Jakarta`
        // escaped here and quoted, unescaped, where events refer to them.
        let tzid = unescape_text(comp.prop("TZID")?.value.trim());
        let mut transitions = Vec::new();
        let mut first: Option<(NaiveDateTime, i64)> = None;
        for obs in comp
            .children
            .iter()
            .filter(|c| c.name == "STANDARD" || c.name == "DAYLIGHT")
        {
            match observance(obs, horizon, &mut transitions) {
                Some((start, from)) => {
                    if first.is_none_or(|(s, _)| start < s) {
                        first = Some((start, from));
                    }
                }
                None => warnings.push(format!(
                    "line {}: {} of VTIMEZONE {tzid:?} is broken, skipped",
                    obs.line_no, obs.name
                )),
            }
        }
        let (_, initial) = first?;
        transitions.sort_by_key(|(at, _)| *at);
        Some(CustomZone {
            tzid,
            transitions,
            initial,
        })
    }
}

/// Adds one observance's transitions; returns its first onset and TZOFFSETFROM.
fn observance(
    obs: &Component,
    horizon: NaiveDateTime,
    out: &mut Vec<(NaiveDateTime, i64)>,
) -> Option<(NaiveDateTime, i64)> {
    let (start, _) = parse_date_time(&obs.prop("DTSTART")?.value)?;
    let from = parse_offset(&obs.prop("TZOFFSETFROM")?.value)?;
    let to = parse_offset(&obs.prop("TZOFFSETTO")?.value)?;
    let mut onsets = vec![start];
    if let Some(line) = obs.prop("RRULE") {
        let (rule, _) = parse_rule(&line.value).ok()?;
        let until = match rule.until {
            Some(raw) => until_local(raw, |u| u.checked_add_signed(Duration::seconds(from))),
            None => None,
        };
        let walk = Walk {
            skip_before: start,
            stop_after: horizon,
            max_out: MAX_TRANSITIONS_PER_OBSERVANCE,
            max_steps: MAX_STEPS_PER_OBSERVANCE,
        };
        onsets = occurrences(&rule, start, until, &walk).ok()?.times;
    }
    for line in obs.props_named("RDATE") {
        for v in line.value.split(',') {
            if let Some(RawTime::DateTime { naive, .. }) = parse_raw_time(v, line.param("VALUE")) {
                onsets.push(naive);
            }
        }
    }
    onsets.truncate(MAX_TRANSITIONS_PER_OBSERVANCE);
    for onset in onsets {
        // Onsets are local times on the clock that was in force before the change.
        if let Some(at) = onset.checked_sub_signed(Duration::seconds(from)) {
            out.push((at, to));
        }
    }
    Some((start, from))
}

/// Parses `+HHMM`, `-HHMM` or `+HHMMSS`.
fn parse_offset(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits.get(0..2)?.parse().ok()?;
    let m: i64 = digits.get(2..4)?.parse().ok()?;
    let sec: i64 = digits
        .get(4..)
        .filter(|x| !x.is_empty())
        .map_or(Some(0), |x| x.parse().ok())?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::component::{build_tree, TreeLimits};
    use crate::parse::lexer::content_lines;

    const OUTLOOK_BERLIN: &str = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Custom Berlin\n\
BEGIN:STANDARD\nDTSTART:16010101T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\n\
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\nEND:STANDARD\n\
BEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n\
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\nEND:DAYLIGHT\nEND:VTIMEZONE\nEND:VCALENDAR\n";

    fn zone(text: &str) -> Option<CustomZone> {
        let mut w = Vec::new();
        let mut tree_warnings = Vec::new();
        let lines = content_lines(text, 10_000, &mut w);
        let limits = TreeLimits {
            max_depth: 8,
            max_components: 100,
        };
        let roots = build_tree(lines, &limits, &mut tree_warnings);
        w.append(&mut tree_warnings);
        let horizon = parse_date_time("20300101T000000")?.0;
        CustomZone::from_component(roots.first()?.children.first()?, horizon, &mut w)
    }

    #[test]
    fn offsets_follow_the_yearly_rules_of_the_observances() {
        let z = zone(OUTLOOK_BERLIN).unwrap_or_else(|| panic!("zone parses"));
        let at = |s: &str| parse_date_time(s).map(|(t, _)| t).unwrap_or_default();
        assert_eq!(z.offset_at(at("20240115T120000")), 3600);
        assert_eq!(z.offset_at(at("20240331T005959")), 3600);
        assert_eq!(z.offset_at(at("20240331T010000")), 7200);
        assert_eq!(z.offset_at(at("20241027T005959")), 7200);
        assert_eq!(z.offset_at(at("20241027T010000")), 3600);
    }

    #[test]
    fn offsets_with_seconds_and_signs_parse() {
        assert_eq!(parse_offset("-0500"), Some(-18000));
        assert_eq!(parse_offset("+053000"), Some(19800));
        assert_eq!(parse_offset("0100"), None);
        assert_eq!(parse_offset("+2500"), None);
    }
}
