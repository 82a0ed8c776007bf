//! Reading RRULE and EXRULE values into the `rrule` crate's builder.
//!
//! Lenient on purpose: a part that cannot be used is dropped and named, and the rest of
//! the rule is kept. Dropping a whole series hides the agent's busy time and lets the
//! marketplace double-book it; a rule that lost a damaged part at worst blocks a little
//! more. Values are checked against the ranges `rrule` validates, so that what is kept
//! always validates and one bad item cannot cost the series.

use crate::parse::value::{parse_raw_time, RawTime};
use chrono::{Month, Weekday};
use rrule::{Frequency, NWeekday, RRule, Unvalidated};
use std::ops::RangeInclusive;

/// A parsed rule. UNTIL is kept aside because its zone must be interpreted against the
/// series' zone before it can be compared with local occurrences.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(super) inner: RRule<Unvalidated>,
    pub until: Option<RawTime>,
}

/// Reads a rule. The list names what was dropped to read it, one item each (empty for a
/// clean rule). The error is a rule without a readable FREQ, which cannot recur at all.
pub(crate) fn parse_rule(value: &str) -> Result<(Rule, Vec<String>), String> {
    let mut dropped = Vec::new();
    let mut text = value.trim();
    // Some exporters repeat the property name inside the value: `RRULE:RRULE:FREQ=...`.
    while let Some(prefix) = ["RRULE:", "EXRULE:"].into_iter().find(|p| {
        text.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    }) {
        dropped.push(format!("dropped a repeated {prefix:?}"));
        text = text.get(prefix.len()..).unwrap_or("").trim_start();
    }
    let mut freq = None;
    let mut parts = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, v)) = part.split_once('=') else {
            dropped.push(format!("dropped {part:?} (not NAME=VALUE)"));
            continue;
        };
        let mut key = key.trim();
        if let Some((junk, name)) = key.rsplit_once(':') {
            dropped.push(format!("dropped {junk:?} before {name}"));
            key = name.trim();
        }
        let key = key.to_ascii_uppercase();
        let v = v.trim();
        if key != "FREQ" {
            parts.push((key, v));
        } else if freq.is_some() {
            dropped.push(format!("dropped a second FREQ={v}"));
        } else {
            match v.parse::<Frequency>() {
                Ok(f) => freq = Some(f),
                Err(_) => dropped.push(format!("dropped FREQ={v:?}")),
            }
        }
    }
    let Some(freq) = freq else {
        return Err(format!("no readable FREQ in {value:?}"));
    };
    let mut b = Builder {
        freq,
        rule: RRule::new(freq),
        until: None,
        set_pos: Vec::new(),
        dropped,
    };
    for (key, v) in parts {
        b.part(&key, v);
    }
    Ok(b.finish())
}

struct Builder {
    freq: Frequency,
    rule: RRule<Unvalidated>,
    until: Option<RawTime>,
    set_pos: Vec<i32>,
    dropped: Vec<String>,
}

impl Builder {
    fn part(&mut self, key: &str, v: &str) {
        let freq = self.freq;
        let rule = self.rule.clone();
        self.rule = match key {
            "INTERVAL" => match v.parse::<u16>() {
                Ok(n) if n > 0 => rule.interval(n),
                _ => return self.drop(key, v),
            },
            "COUNT" => match v.parse::<u32>() {
                Ok(n) if n > 0 => rule.count(n),
                _ => return self.drop(key, v),
            },
            "UNTIL" => match until(v) {
                Some((t, repaired)) => {
                    if repaired {
                        self.dropped
                            .push(format!("read UNTIL={v} as a date-time without separators"));
                    }
                    self.until = Some(t);
                    rule
                }
                None => return self.drop(key, v),
            },
            "WKST" => match weekday(v) {
                Some(d) => rule.week_start(d),
                None => return self.drop(key, v),
            },
            "BYMONTH" => {
                let months = self.items(key, v, |x| {
                    x.parse::<u8>().ok().and_then(|m| Month::try_from(m).ok())
                });
                rule.by_month(&months)
            }
            "BYMONTHDAY" if freq == Frequency::Weekly => return self.not_with(key, v),
            "BYMONTHDAY" => rule.by_month_day(self.items(key, v, |x| nonzero(x, 31))),
            "BYYEARDAY"
                if matches!(
                    freq,
                    Frequency::Monthly | Frequency::Weekly | Frequency::Daily
                ) =>
            {
                return self.not_with(key, v)
            }
            "BYYEARDAY" => rule.by_year_day(self.items(key, v, |x| nonzero(x, 366))),
            "BYWEEKNO" if freq != Frequency::Yearly => return self.not_with(key, v),
            "BYWEEKNO" => rule.by_week_no(self.items(key, v, |x| nonzero(x, 53))),
            "BYDAY" => {
                let ordinals = ordinal_range(freq, 7);
                rule.by_weekday(self.items(key, v, |x| {
                    nweekday(x).filter(|d| match d {
                        NWeekday::Nth(n, _) => ordinals.contains(n),
                        NWeekday::Every(_) => true,
                    })
                }))
            }
            "BYHOUR" => rule.by_hour(self.items(key, v, |x| in_range(x, 0..=23))),
            "BYMINUTE" => rule.by_minute(self.items(key, v, |x| in_range(x, 0..=59))),
            "BYSECOND" => rule.by_second(self.items(key, v, |x| in_range(x, 0..=59))),
            "BYSETPOS" => {
                let limit = i32::from(*ordinal_range(freq, 1).end());
                self.set_pos = self.items(key, v, |x| {
                    x.parse::<i32>()
                        .ok()
                        .filter(|n| *n != 0 && (-limit..=limit).contains(n))
                });
                rule
            }
            _ => {
                self.dropped.push(format!("dropped unknown part {key}={v}"));
                rule
            }
        };
    }

    /// The readable items of a list part. A part left with none is dropped whole, since
    /// an empty BY-list would mean "no filter" anyway.
    fn items<T>(&mut self, key: &str, v: &str, read: impl Fn(&str) -> Option<T>) -> Vec<T> {
        let mut out = Vec::new();
        for item in v.split(',').map(str::trim) {
            match read(item) {
                Some(x) => out.push(x),
                None => self.dropped.push(format!("dropped {key} item {item:?}")),
            }
        }
        out
    }

    fn drop(&mut self, key: &str, v: &str) {
        self.dropped.push(format!("dropped {key}={v:?}"));
    }

    fn not_with(&mut self, key: &str, v: &str) {
        self.dropped.push(format!(
            "dropped {key}={v} (not allowed with FREQ={})",
            self.freq
        ));
    }

    fn finish(mut self) -> (Rule, Vec<String>) {
        let r = &self.rule;
        let other_by_part = !(r.get_by_month().is_empty()
            && r.get_by_month_day().is_empty()
            && r.get_by_year_day().is_empty()
            && r.get_by_week_no().is_empty()
            && r.get_by_weekday().is_empty()
            && r.get_by_hour().is_empty()
            && r.get_by_minute().is_empty()
            && r.get_by_second().is_empty());
        if !self.set_pos.is_empty() {
            if other_by_part {
                self.rule = self.rule.by_set_pos(std::mem::take(&mut self.set_pos));
            } else {
                self.dropped
                    .push("dropped BYSETPOS (it needs another BY part)".to_string());
            }
        }
        let rule = Rule {
            inner: self.rule,
            until: self.until,
        };
        (rule, self.dropped)
    }
}

/// The ordinals `rrule` accepts for a frequency, counted in units of `per` days: BYDAY
/// ordinals count weeks (`per` 7), BYSETPOS positions count single items (`per` 1).
fn ordinal_range(freq: Frequency, per: i16) -> RangeInclusive<i16> {
    let span: i16 = match freq {
        Frequency::Yearly | Frequency::Daily => 366,
        Frequency::Monthly => 31,
        Frequency::Weekly => 53,
        Frequency::Hourly => 24,
        Frequency::Minutely | Frequency::Secondly => 60,
    };
    if per == 1 {
        -span..=span
    } else {
        (-span / per)..=(span / per + 1)
    }
}

/// An UNTIL, also in the ISO 8601 extended form (`2026-02-01`, `2026-02-01T10:00:00Z`)
/// that some exporters write: dropping it would make the series endless. The flag says
/// that the form was not RFC 5545's.
fn until(v: &str) -> Option<(RawTime, bool)> {
    if let Some(t) = parse_raw_time(v, None) {
        return Some((t, false));
    }
    let basic: String = v.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    parse_raw_time(&basic, None).map(|t| (t, true))
}

fn nonzero<T>(s: &str, limit: T) -> Option<T>
where
    T: std::str::FromStr + PartialOrd + Copy + Default + std::ops::Neg<Output = T>,
{
    let n: T = s.parse().ok()?;
    (n != T::default() && n >= -limit && n <= limit).then_some(n)
}

fn in_range(s: &str, range: RangeInclusive<u8>) -> Option<u8> {
    s.parse::<u8>().ok().filter(|n| range.contains(n))
}

fn weekday(s: &str) -> Option<Weekday> {
    match s.trim().to_ascii_uppercase().as_str() {
        "MO" => Some(Weekday::Mon),
        "TU" => Some(Weekday::Tue),
        "WE" => Some(Weekday::Wed),
        "TH" => Some(Weekday::Thu),
        "FR" => Some(Weekday::Fri),
        "SA" => Some(Weekday::Sat),
        "SU" => Some(Weekday::Sun),
        _ => None,
    }
}

/// Parses a BYDAY item, `[+|-][n]DD`. Done here rather than with `NWeekday::from_str`,
/// which slices by byte and panics on non-ASCII input (found by fuzzing).
fn nweekday(item: &str) -> Option<NWeekday> {
    let item = item.trim();
    let split = item
        .len()
        .checked_sub(2)
        .filter(|i| item.is_char_boundary(*i))?;
    let (ordinal, day) = item.split_at(split);
    let day = weekday(day)?;
    if ordinal.is_empty() || ordinal == "+" || ordinal == "-" {
        return Some(NWeekday::Every(day));
    }
    let n: i16 = ordinal.parse().ok()?;
    (n != 0 && (-53..=53).contains(&n)).then_some(NWeekday::Nth(n, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(value: &str) -> Vec<String> {
        parse_rule(value)
            .map(|(_, d)| d)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_clean_rule_drops_nothing() {
        assert!(dropped("FREQ=MONTHLY;BYDAY=+2TU,-1FR,SU;WKST=SU;COUNT=4").is_empty());
        assert!(dropped("freq=weekly;byday=mo;").is_empty());
    }

    #[test]
    fn a_rule_without_a_readable_freq_is_an_error() {
        assert!(parse_rule("COUNT=3").is_err());
        assert!(parse_rule("FREQ=SOMETIMES;BYDAY=MO").is_err());
        assert!(parse_rule("RRULE:AnythingRandom").is_err());
    }

    #[test]
    fn garbage_parts_are_dropped_and_named() {
        let d = dropped("RRULE:AnythingRandom;FREQ=WEEKLY;BYDAY=MO,TU");
        assert_eq!(
            d,
            vec![
                "dropped a repeated \"RRULE:\"".to_string(),
                "dropped \"AnythingRandom\" (not NAME=VALUE)".to_string()
            ]
        );
        let d = dropped("RRULE:FREQ=DAILY;X-FOO=1;UNTIL=soon;INTERVAL=0");
        assert_eq!(d.len(), 4, "{d:?}");
    }

    #[test]
    fn an_until_in_the_extended_iso_form_is_read() {
        let (rule, d) =
            parse_rule("FREQ=WEEKLY;UNTIL=2026-02-01T10:00:00Z").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            rule.until,
            Some(RawTime::DateTime { utc: true, .. })
        ));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn unreadable_or_out_of_range_items_are_dropped_from_their_list() {
        let (rule, d) = parse_rule("FREQ=MONTHLY;BYDAY=MO,1\u{fffd},0TU,9FR;BYMONTHDAY=0,15,32")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rule.inner.get_by_weekday(),
            &[NWeekday::Every(Weekday::Mon)]
        );
        assert_eq!(rule.inner.get_by_month_day(), &[15]);
        assert_eq!(d.len(), 5, "{d:?}");
        assert_eq!(dropped("FREQ=DAILY;BYMONTH=13").len(), 1);
        assert_eq!(dropped("FREQ=WEEKLY;BYMONTHDAY=1").len(), 1);
        assert_eq!(dropped("FREQ=DAILY;BYSETPOS=1").len(), 1);
        assert!(dropped("FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1").is_empty());
    }
}
