//! RRULE parsing into the `rrule` crate's builder, and bounded expansion in local
//! wall-clock time.
//!
//! Rules are expanded on naive local times (handed to `rrule` as if they were UTC), and
//! the caller converts each occurrence to UTC with the series' own zone. That is what
//! RFC 5545 asks (recurrence follows local time across DST), and it lets zones defined
//! by a file's VTIMEZONE, which `rrule` cannot represent, recur the same way as IANA
//! zones.

use crate::parse::value::{parse_raw_time, RawTime};
use chrono::{Month, NaiveDateTime, TimeZone, Weekday};
use rrule::{Frequency, NWeekday, RRule, RRuleSet, Unvalidated};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A parsed RRULE. UNTIL is kept aside because its zone must be interpreted against the
/// series' zone before it can be compared with local occurrences.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    inner: RRule<Unvalidated>,
    pub until: Option<RawTime>,
}

/// Bounds of one expansion.
pub(crate) struct Walk {
    /// Occurrences before this local time are generated but not returned.
    pub skip_before: NaiveDateTime,
    /// Generation stops at the first occurrence after this local time.
    pub stop_after: NaiveDateTime,
    pub max_out: usize,
    pub max_steps: usize,
}

pub(crate) struct Occurrences {
    pub times: Vec<NaiveDateTime>,
    /// A cap, not the rule, ended the expansion.
    pub truncated: bool,
    /// Occurrences generated, returned or not: the work done.
    pub steps: usize,
}

fn weekday(s: &str) -> Result<Weekday, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        "MO" => Ok(Weekday::Mon),
        "TU" => Ok(Weekday::Tue),
        "WE" => Ok(Weekday::Wed),
        "TH" => Ok(Weekday::Thu),
        "FR" => Ok(Weekday::Fri),
        "SA" => Ok(Weekday::Sat),
        "SU" => Ok(Weekday::Sun),
        other => Err(format!("bad weekday {other:?}")),
    }
}

/// Parses a BYDAY item, `[+|-][n]DD`. Done here rather than with `NWeekday::from_str`,
/// which slices by byte and panics on non-ASCII input (found by fuzzing).
fn nweekday(item: &str) -> Result<NWeekday, String> {
    let item = item.trim();
    let split = item
        .len()
        .checked_sub(2)
        .filter(|i| item.is_char_boundary(*i))
        .ok_or_else(|| format!("bad BYDAY {item:?}"))?;
    let (ordinal, day) = item.split_at(split);
    let day = weekday(day)?;
    if ordinal.is_empty() || ordinal == "+" || ordinal == "-" {
        return Ok(NWeekday::Every(day));
    }
    let n: i16 = ordinal
        .parse()
        .map_err(|_| format!("bad BYDAY ordinal {item:?}"))?;
    if n == 0 || !(-53..=53).contains(&n) {
        return Err(format!("bad BYDAY ordinal {item:?}"));
    }
    Ok(NWeekday::Nth(n, day))
}

fn list<T: std::str::FromStr>(part: &str, value: &str) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(|v| v.trim().parse::<T>())
        .collect::<Result<Vec<T>, _>>()
        .map_err(|_| format!("bad {part} value {value:?}"))
}

pub(crate) fn parse_rule(value: &str) -> Result<Rule, String> {
    let mut freq = None;
    let mut parts = Vec::new();
    for part in value.trim().split(';').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("bad RRULE part {part:?}"))?;
        let k = k.trim().to_ascii_uppercase();
        if k == "FREQ" {
            freq = Some(
                v.parse::<Frequency>()
                    .map_err(|_| format!("bad FREQ {v:?}"))?,
            );
        } else {
            parts.push((k, v.trim()));
        }
    }
    let freq = freq.ok_or("RRULE without FREQ")?;
    let mut rule = RRule::new(freq);
    let mut until = None;
    for (k, v) in parts {
        rule = match k.as_str() {
            "INTERVAL" => rule.interval(v.parse().map_err(|_| format!("bad INTERVAL {v:?}"))?),
            "COUNT" => rule.count(v.parse().map_err(|_| format!("bad COUNT {v:?}"))?),
            "UNTIL" => {
                until = Some(parse_raw_time(v, None).ok_or_else(|| format!("bad UNTIL {v:?}"))?);
                rule
            }
            "WKST" => rule.week_start(weekday(v)?),
            "BYSETPOS" => rule.by_set_pos(list(&k, v)?),
            "BYMONTH" => {
                let months: Vec<u8> = list(&k, v)?;
                let months = months
                    .into_iter()
                    .map(|m| Month::try_from(m).map_err(|_| format!("bad BYMONTH {v:?}")))
                    .collect::<Result<Vec<_>, _>>()?;
                rule.by_month(&months)
            }
            "BYMONTHDAY" => rule.by_month_day(list(&k, v)?),
            "BYYEARDAY" => rule.by_year_day(list(&k, v)?),
            "BYWEEKNO" => rule.by_week_no(list(&k, v)?),
            "BYDAY" => rule.by_weekday(v.split(',').map(nweekday).collect::<Result<Vec<_>, _>>()?),
            "BYHOUR" => rule.by_hour(list(&k, v)?),
            "BYMINUTE" => rule.by_minute(list(&k, v)?),
            "BYSECOND" => rule.by_second(list(&k, v)?),
            _ => rule,
        };
    }
    Ok(Rule { inner: rule, until })
}

/// Expands `rule` from `dtstart` (local). `until` is the rule's UNTIL already read as
/// local time of the series.
pub(crate) fn occurrences(
    rule: &Rule,
    dtstart: NaiveDateTime,
    until: Option<NaiveDateTime>,
    walk: &Walk,
) -> Result<Occurrences, String> {
    let anchor = rrule::Tz::UTC.from_utc_datetime(&dtstart);
    let mut inner = rule.inner.clone();
    if let Some(until) = until {
        if until < dtstart {
            return Ok(Occurrences {
                times: Vec::new(),
                truncated: false,
                steps: 0,
            });
        }
        inner = inner.until(rrule::Tz::UTC.from_utc_datetime(&until));
    }
    let validated = inner.validate(anchor).map_err(|e| e.to_string())?;
    let set = RRuleSet::new(anchor).rrule(validated).limit();
    // `rrule` is well tested, but this runs on hostile input: a panic inside it must cost
    // one series, not the whole feed.
    catch_unwind(AssertUnwindSafe(|| walk_set(&set, walk)))
        .map_err(|_| "recurrence expansion failed".to_string())
}

fn walk_set(set: &RRuleSet, walk: &Walk) -> Occurrences {
    let mut times = Vec::new();
    let mut truncated = false;
    let mut steps = 0;
    for occ in set {
        if steps >= walk.max_steps || times.len() >= walk.max_out {
            truncated = true;
            break;
        }
        steps += 1;
        let local = occ.naive_utc();
        if local > walk.stop_after {
            break;
        }
        if local >= walk.skip_before {
            times.push(local);
        }
    }
    Occurrences {
        times,
        truncated,
        steps,
    }
}

/// Reads an RRULE's UNTIL as a local time of a series: a DATE means the whole day, a UTC
/// value goes through `to_local`, a floating value is already local.
pub(crate) fn until_local(
    raw: RawTime,
    to_local: impl Fn(NaiveDateTime) -> Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    match raw {
        RawTime::Date(d) => d.and_hms_opt(23, 59, 59),
        RawTime::DateTime { naive, utc: true } => to_local(naive),
        RawTime::DateTime { naive, utc: false } => Some(naive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .unwrap_or_default()
    }

    fn walk() -> Walk {
        Walk {
            skip_before: at(1900, 1, 1, 0),
            stop_after: at(2100, 1, 1, 0),
            max_out: 100,
            max_steps: 1000,
        }
    }

    #[test]
    fn a_weekly_rule_with_count_yields_count_occurrences() {
        let rule = parse_rule("FREQ=WEEKLY;COUNT=3;BYDAY=MO,WE").unwrap_or_else(|e| panic!("{e}"));
        let occ =
            occurrences(&rule, at(2024, 1, 1, 9), None, &walk()).unwrap_or_else(|e| panic!("{e}"));
        let days: Vec<u32> = occ.times.iter().map(|t| t.date().day0() + 1).collect();
        assert_eq!(days, vec![1, 3, 8]);
        assert!(!occ.truncated);
    }

    #[test]
    fn an_unbounded_rule_is_cut_at_the_cap() {
        let rule = parse_rule("FREQ=DAILY").unwrap_or_else(|e| panic!("{e}"));
        let occ =
            occurrences(&rule, at(2024, 1, 1, 9), None, &walk()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(occ.times.len(), 100);
        assert!(occ.truncated);
    }

    #[test]
    fn malformed_rules_are_errors() {
        assert!(parse_rule("COUNT=3").is_err());
        assert!(parse_rule("FREQ=SOMETIMES").is_err());
        assert!(parse_rule("FREQ=DAILY;BYMONTH=13").is_err());
        assert!(parse_rule("FREQ=DAILY;UNTIL=soon").is_err());
        assert!(parse_rule("FREQ=WEEKLY;BYDAY=1\u{fffd}").is_err());
        assert!(parse_rule("FREQ=WEEKLY;BYDAY=\u{fffd}").is_err());
        assert!(parse_rule("FREQ=MONTHLY;BYDAY=0MO").is_err());
        assert!(parse_rule("FREQ=MONTHLY;BYDAY=+2TU,-1FR,SU").is_ok());
    }
}
