//! Bounded expansion of recurrence rules (RRULE, and EXRULE) in local wall-clock time;
//! reading them is `rule`'s.
//!
//! Rules are expanded on naive local times (handed to `rrule` as if they were UTC), and
//! the caller converts each occurrence to UTC with the series' own zone. That is what
//! RFC 5545 asks (recurrence follows local time across DST), and it lets zones defined
//! by a file's VTIMEZONE, which `rrule` cannot represent, recur the same way as IANA
//! zones.

mod rule;
mod simple;

use crate::parse::value::RawTime;
use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use rrule::{Frequency, RRule, RRuleSet, Unvalidated};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) use rule::{parse_rule, Rule};

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
        // An UNTIL before the window means nothing of this rule can be in it.
        if until < dtstart || until < walk.skip_before {
            return Ok(Occurrences {
                times: Vec::new(),
                truncated: false,
                steps: 0,
            });
        }
        inner = inner.until(rrule::Tz::UTC.from_utc_datetime(&until));
    }
    if let Some(last) = last_of_count(&inner, dtstart) {
        if last < walk.skip_before {
            return Ok(Occurrences {
                times: Vec::new(),
                truncated: false,
                steps: 0,
            });
        }
    }
    let walk_from = fast_forward(&rule.inner, dtstart, walk.skip_before).unwrap_or(dtstart);
    if let Some(occ) = simple::walk(&rule.inner, dtstart, walk_from, until, walk) {
        return Ok(occ);
    }
    // Validation fills the BY-parts a rule leaves out from the real DTSTART, so it must see
    // that one even when the walk itself starts later.
    let validated = inner.validate(anchor).map_err(|e| e.to_string())?;
    let walk_from = rrule::Tz::UTC.from_utc_datetime(&walk_from);
    let set = RRuleSet::new(walk_from).rrule(validated).limit();
    // `rrule` is well tested, but this runs on hostile input: a panic inside it must cost
    // one series, not the whole feed.
    catch_unwind(AssertUnwindSafe(|| walk_set(&set, walk)))
        .map_err(|_| "recurrence expansion failed".to_string())
}

/// A later start for walking `rule` that yields exactly the occurrences at or after
/// `skip_before`: the first instant of the rule's period a whole number of INTERVALs after
/// DTSTART's period, not after `skip_before`. Walking a years-old series from its DTSTART
/// is most of the cost of a feed, and the steps cap would count those steps too.
///
/// Only for rules without COUNT (the count runs from DTSTART) and with a period of a day
/// or more, whose days are whole calendar days, weeks from WKST, months or years; the
/// period then starts complete, so BYSETPOS picks as it would have.
fn fast_forward(
    rule: &RRule<Unvalidated>,
    dtstart: NaiveDateTime,
    skip_before: NaiveDateTime,
) -> Option<NaiveDateTime> {
    if rule.get_count().is_some() || skip_before <= dtstart {
        return None;
    }
    let interval = i64::from(rule.get_interval().max(1));
    let (from, to) = (dtstart.date(), skip_before.date());
    let start: NaiveDate = match rule.get_freq() {
        Frequency::Daily => {
            let k = (to - from).num_days() / interval;
            from.checked_add_days(Days::new(u64::try_from(k * interval).ok()?))?
        }
        Frequency::Weekly => {
            let wkst = rule.get_week_start().num_days_from_monday();
            let back = (from.weekday().num_days_from_monday() + 7 - wkst) % 7;
            let week0 = from.checked_sub_days(Days::new(u64::from(back)))?;
            let k = (to - week0).num_days() / (7 * interval);
            week0.checked_add_days(Days::new(u64::try_from(k * 7 * interval).ok()?))?
        }
        Frequency::Monthly => {
            let month_index = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
            let k = (month_index(to) - month_index(from)) / interval;
            let first = from.with_day(1)?;
            first.checked_add_months(Months::new(u32::try_from(k * interval).ok()?))?
        }
        Frequency::Yearly => {
            let k = i64::from(to.year() - from.year()) / interval;
            let year = i64::from(from.year()) + k * interval;
            NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, 1, 1)?
        }
        _ => return None,
    };
    let start = start.and_time(NaiveTime::MIN);
    (start > dtstart && start <= skip_before).then_some(start)
}

/// Whether no BY-part of `rule` but BYDAY, BYHOUR, BYMINUTE or BYSECOND is set.
fn only_day_and_time_parts<S>(rule: &RRule<S>) -> bool {
    rule.get_by_set_pos().is_empty()
        && rule.get_by_month().is_empty()
        && rule.get_by_month_day().is_empty()
        && rule.get_by_year_day().is_empty()
        && rule.get_by_week_no().is_empty()
}

/// The last occurrence of a COUNT rule that yields one occurrence per period (a daily or
/// weekly rule with no BY-part), found without walking it.
fn last_of_count<S>(rule: &RRule<S>, dtstart: NaiveDateTime) -> Option<NaiveDateTime> {
    let count = i64::from(rule.get_count()?);
    let days_per_period = match rule.get_freq() {
        Frequency::Daily => 1,
        Frequency::Weekly => 7,
        _ => return None,
    };
    let one_per_period = only_day_and_time_parts(rule)
        && rule.get_by_weekday().is_empty()
        && rule.get_by_hour().is_empty()
        && rule.get_by_minute().is_empty()
        && rule.get_by_second().is_empty();
    if !one_per_period || count == 0 {
        return None;
    }
    let interval = i64::from(rule.get_interval().max(1));
    let days = (count - 1)
        .checked_mul(interval)?
        .checked_mul(days_per_period)?;
    dtstart.checked_add_signed(chrono::Duration::try_days(days)?)
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
        let rule = parse_rule("FREQ=WEEKLY;COUNT=3;BYDAY=MO,WE")
            .map(|(r, _)| r)
            .unwrap_or_else(|e| panic!("{e}"));
        let occ =
            occurrences(&rule, at(2024, 1, 1, 9), None, &walk()).unwrap_or_else(|e| panic!("{e}"));
        let days: Vec<u32> = occ.times.iter().map(|t| t.date().day0() + 1).collect();
        assert_eq!(days, vec![1, 3, 8]);
        assert!(!occ.truncated);
    }

    #[test]
    fn an_unbounded_rule_is_cut_at_the_cap() {
        let rule = parse_rule("FREQ=DAILY")
            .map(|(r, _)| r)
            .unwrap_or_else(|e| panic!("{e}"));
        let occ =
            occurrences(&rule, at(2024, 1, 1, 9), None, &walk()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(occ.times.len(), 100);
        assert!(occ.truncated);
    }

    /// Every occurrence from `skip_before` to `stop_after`, walked from DTSTART.
    fn full_walk(rule: &Rule, dtstart: NaiveDateTime, w: &Walk) -> Vec<NaiveDateTime> {
        let anchor = rrule::Tz::UTC.from_utc_datetime(&dtstart);
        let mut inner = rule.inner.clone();
        if let Some(u) = rule.until.and_then(|u| until_local(u, Some)) {
            inner = inner.until(rrule::Tz::UTC.from_utc_datetime(&u));
        }
        let validated = inner.validate(anchor).unwrap();
        RRuleSet::new(anchor)
            .rrule(validated)
            .into_iter()
            .map(|t| t.naive_utc())
            .take_while(|t| *t <= w.stop_after)
            .filter(|t| *t >= w.skip_before)
            .collect()
    }

    #[test]
    fn starting_a_walk_near_the_window_yields_what_a_walk_from_dtstart_yields() {
        let rules = [
            "FREQ=DAILY",
            "FREQ=DAILY;INTERVAL=3",
            "FREQ=DAILY;INTERVAL=2;BYDAY=MO,FR;BYHOUR=8,17",
            "FREQ=WEEKLY",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
            "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,WE,FR;BYSETPOS=1",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA;WKST=SU;BYSETPOS=-1",
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;WKST=WE;BYSETPOS=2,-2",
            "FREQ=MONTHLY",
            "FREQ=MONTHLY;INTERVAL=5",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=MONTHLY;BYMONTHDAY=31,-1",
            "FREQ=YEARLY",
            "FREQ=YEARLY;INTERVAL=4",
            "FREQ=YEARLY;BYWEEKNO=1,53;BYDAY=MO",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "FREQ=YEARLY;INTERVAL=2;BYYEARDAY=1,-1,100",
            "FREQ=WEEKLY;UNTIL=20250101T000000",
            "FREQ=DAILY;COUNT=900",
            "FREQ=DAILY;COUNT=1550",
            // Last instances among the window starts swept below.
            "FREQ=DAILY;COUNT=971",
            "FREQ=WEEKLY;COUNT=267",
            "FREQ=DAILY;INTERVAL=3;COUNT=500",
            "FREQ=WEEKLY;COUNT=220",
            "FREQ=WEEKLY;INTERVAL=2;COUNT=120",
            "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
            "FREQ=DAILY;BYDAY=SU,WE;COUNT=470",
            "FREQ=DAILY;BYDAY=MO,FR;UNTIL=20240501T000000",
            "FREQ=DAILY;BYDAY=MO,FR;BYMONTH=3,4",
            "FREQ=DAILY;BYDAY=SA;WKST=SU",
        ];
        let starts = [
            at(2019, 1, 31, 9),
            at(2019, 12, 29, 23),
            at(2020, 2, 29, 0),
            at(2021, 7, 14, 13),
        ];
        // Every alignment of the window start against weeks and intervals.
        let windows = (0..22).map(|d| Walk {
            skip_before: at(2024, 2, 27, 5) + chrono::Duration::days(d),
            stop_after: at(2024, 9, 1, 0),
            max_out: 10_000,
            max_steps: 1_000_000,
        });
        for w in windows {
            for rule_text in rules {
                let (rule, _) = parse_rule(rule_text).unwrap();
                for start in starts {
                    let until = rule.until.and_then(|u| until_local(u, Some));
                    let got = occurrences(&rule, start, until, &w).unwrap();
                    let want = full_walk(&rule, start, &w);
                    assert_eq!(
                        got.times, want,
                        "{rule_text} from {start} after {}",
                        w.skip_before
                    );
                    assert!(!got.truncated);
                }
            }
        }
    }

    #[test]
    fn a_rule_that_ended_before_the_window_takes_no_steps() {
        let (rule, _) = parse_rule("FREQ=HOURLY;BYMINUTE=0;UNTIL=20200101T000000").unwrap();
        let w = Walk {
            skip_before: at(2024, 1, 1, 0),
            ..walk()
        };
        let until = rule.until.and_then(|u| until_local(u, Some));
        let occ = occurrences(&rule, at(1990, 1, 1, 0), until, &w).unwrap();
        assert!(occ.times.is_empty());
        assert_eq!(occ.steps, 0);
    }
}
