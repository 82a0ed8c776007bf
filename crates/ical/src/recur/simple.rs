//! Date arithmetic for the commonest rules: DAILY or WEEKLY whose only BY-part is BYDAY
//! without ordinals (`FREQ=WEEKLY;BYDAY=MO,WE,FR`, `FREQ=DAILY;INTERVAL=2`). Most series
//! of real feeds are such rules, and walking them through `rrule`'s general machinery
//! (a fresh day set per period, dynamic filters, a zone conversion per occurrence) was
//! most of the recurrence cost of a large feed.
//!
//! It yields exactly what `rrule` yields for these rules, in the same order and with the
//! same step count; `rrule` remains the reference, and the tests compare the two.

use super::{Occurrences, Walk};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime};
use rrule::{Frequency, NWeekday, RRule, Unvalidated};

/// `rrule` refuses years past this one.
const MAX_YEAR: i32 = 9999;

/// Walks `rule` from `from` (DTSTART, or a later start with the same occurrences, see
/// `fast_forward`). `None` if the rule is not one of the simple kind.
pub(super) fn walk(
    rule: &RRule<Unvalidated>,
    dtstart: NaiveDateTime,
    from: NaiveDateTime,
    until: Option<NaiveDateTime>,
    walk: &Walk,
) -> Option<Occurrences> {
    let period_days: u64 = match rule.get_freq() {
        Frequency::Daily => 1,
        Frequency::Weekly => 7,
        _ => return None,
    };
    let simple = rule.get_by_set_pos().is_empty()
        && rule.get_by_month().is_empty()
        && rule.get_by_month_day().is_empty()
        && rule.get_by_year_day().is_empty()
        && rule.get_by_week_no().is_empty()
        && rule.get_by_hour().is_empty()
        && rule.get_by_minute().is_empty()
        && rule.get_by_second().is_empty();
    if !simple {
        return None;
    }
    // Which weekdays occur, indexed from Monday. Without BYDAY a weekly rule keeps
    // DTSTART's weekday and a daily one every day, as `rrule` fills them in.
    let mut on = [rule.get_by_weekday().is_empty() && period_days == 1; 7];
    if rule.get_by_weekday().is_empty() && period_days == 7 {
        set(&mut on, dtstart.weekday().num_days_from_monday());
    }
    for day in rule.get_by_weekday() {
        match day {
            NWeekday::Every(d) => set(&mut on, d.num_days_from_monday()),
            NWeekday::Nth(..) => return None,
        }
    }
    let interval = u64::from(rule.get_interval().max(1));
    let step = interval * period_days;
    let is_on = |d: NaiveDate| on.get(d.weekday().num_days_from_monday() as usize) == Some(&true);

    let mut out = Occurrences {
        times: Vec::new(),
        truncated: false,
        steps: 0,
    };
    // A daily rule whose interval is a whole number of weeks stays on one weekday; if
    // BYDAY excludes it, nothing ever occurs (`rrule` gives up after its loop limit).
    if period_days == 1 && matches!(step % 7, 0) && !is_on(from.date()) {
        return Some(out);
    }
    let mut period = match period_days {
        7 => {
            let wkst = rule.get_week_start().num_days_from_monday();
            let back = (from.weekday().num_days_from_monday() + 7 - wkst) % 7;
            from.date().checked_sub_days(Days::new(u64::from(back)))?
        }
        _ => from.date(),
    };
    let time = dtstart.time();
    let mut remaining = rule.get_count();
    if remaining == Some(0) {
        return Some(out);
    }
    loop {
        for offset in 0..period_days {
            let Some(day) = period.checked_add_days(Days::new(offset)) else {
                return Some(out);
            };
            if day.year() > MAX_YEAR {
                return Some(out);
            }
            if !is_on(day) {
                continue;
            }
            let t = day.and_time(time);
            if until.is_some_and(|u| t > u) {
                return Some(out);
            }
            if t < from {
                continue;
            }
            // As `walk_set` treats each occurrence `rrule` yields.
            if out.steps >= walk.max_steps || out.times.len() >= walk.max_out {
                out.truncated = true;
                return Some(out);
            }
            out.steps += 1;
            if t > walk.stop_after {
                return Some(out);
            }
            if t >= walk.skip_before {
                out.times.push(t);
            }
            if let Some(left) = remaining.as_mut() {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    return Some(out);
                }
            }
        }
        period = period.checked_add_days(Days::new(step))?;
    }
}

fn set(on: &mut [bool; 7], index: u32) {
    if let Some(slot) = on.get_mut(index as usize) {
        *slot = true;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fast_forward, parse_rule, until_local, walk_set};
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rrule::RRuleSet;

    fn at(days_after_2019: u64, minute_of_day: u32) -> NaiveDateTime {
        let day = NaiveDate::from_ymd_opt(2019, 1, 1)
            .and_then(|d| d.checked_add_days(Days::new(days_after_2019)))
            .unwrap_or_default();
        day.and_hms_opt(minute_of_day / 60, minute_of_day % 60, 0)
            .unwrap_or_default()
    }

    /// `rrule`'s answer walked from `from`, with `walk`'s caps.
    fn by_rrule(
        inner: &RRule<Unvalidated>,
        dtstart: NaiveDateTime,
        from: NaiveDateTime,
        until: Option<NaiveDateTime>,
        walk: &Walk,
    ) -> Occurrences {
        let utc = |t: &NaiveDateTime| rrule::Tz::UTC.from_utc_datetime(t);
        let mut inner = inner.clone();
        if let Some(u) = until {
            inner = inner.until(utc(&u));
        }
        let validated = inner.validate(utc(&dtstart)).unwrap();
        walk_set(&RRuleSet::new(utc(&from)).rrule(validated).limit(), walk)
    }

    fn rule_text() -> impl Strategy<Value = String> {
        let days = prop::sample::subsequence(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"], 0..=7);
        (
            prop::bool::ANY,
            0u16..=15,
            days,
            prop::sample::select(vec!["", ";WKST=SU", ";WKST=WE"]),
            prop_oneof![
                Just(String::new()),
                (1u32..400).prop_map(|n| format!(";COUNT={n}")),
                (0u64..2500).prop_map(|d| format!(";UNTIL={}", at(d, 600).format("%Y%m%dT%H%M%S"))),
            ],
        )
            .prop_map(|(daily, interval, days, wkst, end)| {
                let mut text = format!("FREQ={}", if daily { "DAILY" } else { "WEEKLY" });
                if interval > 0 {
                    text.push_str(&format!(";INTERVAL={interval}"));
                }
                if !days.is_empty() {
                    text.push_str(&format!(";BYDAY={}", days.join(",")));
                }
                format!("{text}{wkst}{end}")
            })
    }

    proptest! {
        #[test]
        fn simple_rules_walk_as_rrule_walks_them(
            text in rule_text(),
            start_day in 0u64..2000,
            start_minute in 0u32..1440,
            skip_day in 0u64..2200,
            span_days in 1u64..400,
            max_out in 1usize..300,
            max_steps in 1usize..2000,
        ) {
            let (rule, _) = parse_rule(&text).unwrap();
            let dtstart = at(start_day, start_minute);
            let until = rule.until.and_then(|u| until_local(u, Some)).filter(|u| *u >= dtstart);
            let w = Walk {
                skip_before: at(skip_day, 0),
                stop_after: at(skip_day + span_days, 0),
                max_out,
                max_steps,
            };
            let from = fast_forward(&rule.inner, dtstart, w.skip_before).unwrap_or(dtstart);
            let got = walk(&rule.inner, dtstart, from, until, &w).unwrap();
            let want = by_rrule(&rule.inner, dtstart, from, until, &w);
            prop_assert_eq!(&got.times, &want.times, "{}", text);
            prop_assert_eq!(got.steps, want.steps, "{}", text);
            prop_assert_eq!(got.truncated, want.truncated, "{}", text);
            // And from DTSTART itself, without caps, the same times in the window.
            let open = Walk { max_out: 100_000, max_steps: 10_000_000, ..w };
            let all = by_rrule(&rule.inner, dtstart, dtstart, until, &open);
            let mine = walk(&rule.inner, dtstart, from, until, &open).unwrap();
            prop_assert_eq!(mine.times, all.times, "{}", text);
        }
    }

    #[test]
    fn ordinals_and_other_parts_are_left_to_rrule() {
        let t = at(100, 600);
        let w = Walk {
            skip_before: t,
            stop_after: t,
            max_out: 1,
            max_steps: 1,
        };
        for text in [
            "FREQ=WEEKLY;BYDAY=1MO",
            "FREQ=DAILY;BYMONTH=3",
            "FREQ=DAILY;BYHOUR=9",
            "FREQ=MONTHLY",
        ] {
            let (rule, _) = parse_rule(text).unwrap();
            assert!(walk(&rule.inner, t, t, None, &w).is_none(), "{text}");
        }
    }
}
