//! Property value types: DATE, DATE-TIME, DURATION, PERIOD and TEXT escapes.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A DATE or DATE-TIME as written, before any zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawTime {
    Date(NaiveDate),
    /// `utc` is true for the `...Z` form.
    DateTime {
        naive: NaiveDateTime,
        utc: bool,
    },
}

/// A DURATION split into nominal days (which follow wall-clock time across DST) and
/// exact seconds, as RFC 5545 section 3.3.6 requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Nominal {
    pub days: i64,
    pub secs: i64,
}

/// The years we accept. Keeps all later arithmetic far from chrono's limits.
const MIN_YEAR: i32 = 1000;
const MAX_YEAR: i32 = 9000;

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 8 {
        return None;
    }
    let year = i32::try_from(digits(s.get(0..4)?)?).ok()?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, digits(s.get(4..6)?)?, digits(s.get(6..8)?)?)
}

/// Parses `YYYYMMDDTHHMMSS[Z]`. A leap second (`60`) is read as `59`.
pub(crate) fn parse_date_time(s: &str) -> Option<(NaiveDateTime, bool)> {
    let s = s.trim();
    let (body, utc) = match s.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (s, false),
    };
    let (date, time) = body.split_once(['T', 't'])?;
    if time.len() != 6 {
        return None;
    }
    let date = parse_date(date)?;
    let sec = digits(time.get(4..6)?)?.min(59);
    let time = NaiveTime::from_hms_opt(digits(time.get(0..2)?)?, digits(time.get(2..4)?)?, sec)?;
    Some((date.and_time(time), utc))
}

/// Parses a DATE or DATE-TIME, guided by `VALUE=DATE` but tolerant of files that omit it.
pub(crate) fn parse_raw_time(s: &str, value_param: Option<&str>) -> Option<RawTime> {
    let is_date_param = value_param.is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
    if let Some((naive, utc)) = parse_date_time(s) {
        if !is_date_param {
            return Some(RawTime::DateTime { naive, utc });
        }
        return Some(RawTime::Date(naive.date()));
    }
    parse_date(s).map(RawTime::Date)
}

/// Parses `[+-]P[nW][nD][T[nH][nM][nS]]`. Returns the signed duration.
pub(crate) fn parse_duration(s: &str) -> Option<Nominal> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut days: i64 = 0;
    let mut secs: i64 = 0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            'T' if !in_time && num.is_empty() => in_time = true,
            d if d.is_ascii_digit() => {
                if num.len() >= 9 {
                    return None;
                }
                num.push(d);
            }
            unit => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                any = true;
                match (unit, in_time) {
                    ('W', false) => days = days.checked_add(n.checked_mul(7)?)?,
                    ('D', false) => days = days.checked_add(n)?,
                    ('H', true) => secs = secs.checked_add(n.checked_mul(3600)?)?,
                    ('M', true) => secs = secs.checked_add(n.checked_mul(60)?)?,
                    ('S', true) => secs = secs.checked_add(n)?,
                    _ => return None,
                }
            }
        }
    }
    if !any || !num.is_empty() {
        return None;
    }
    Some(if neg {
        Nominal {
            days: -days,
            secs: -secs,
        }
    } else {
        Nominal { days, secs }
    })
}

/// Undoes TEXT escaping: `\\`, `\;`, `\,`, `\n`/`\N`. Unknown escapes keep the char.
pub(crate) fn unescape_text(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_split_into_nominal_days_and_exact_seconds() {
        assert_eq!(
            parse_duration("PT1H30M"),
            Some(Nominal {
                days: 0,
                secs: 5400
            })
        );
        assert_eq!(parse_duration("P1W"), Some(Nominal { days: 7, secs: 0 }));
        assert_eq!(
            parse_duration("-P1DT2S"),
            Some(Nominal { days: -1, secs: -2 })
        );
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT5"), None);
        assert_eq!(parse_duration("P99999999999D"), None);
    }

    #[test]
    fn date_times_parse_utc_and_floating_forms() {
        let (t, utc) = parse_date_time("20240331T023000Z").unwrap_or_default();
        assert!(utc);
        assert_eq!(t.to_string(), "2024-03-31 02:30:00");
        assert!(parse_date_time("20240231T000000").is_none());
        assert!(parse_date_time("2024023T000000").is_none());
        assert!(parse_date("00010101").is_none());
    }

    #[test]
    fn value_date_turns_a_date_time_into_a_date() {
        let got = parse_raw_time("20240102", Some("DATE"));
        assert!(matches!(got, Some(RawTime::Date(d)) if d.to_string() == "2024-01-02"));
        let got = parse_raw_time("20240102", None);
        assert!(matches!(got, Some(RawTime::Date(_))));
    }

    #[test]
    fn text_escapes_are_undone() {
        assert_eq!(unescape_text(r"a\, b\; c\\d\nE\N"), "a, b; c\\d\nE\n");
    }
}
