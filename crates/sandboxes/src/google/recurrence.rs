//! The subset of RFC 5545 recurrence the sandbox expands: RRULE with FREQ
//! DAILY/WEEKLY/MONTHLY/YEARLY, INTERVAL, COUNT, UNTIL, BYDAY (ordinals on MONTHLY), WKST
//! (accepted, Monday assumed), plus EXDATE and RDATE. Anything else is refused with
//! Google's "Invalid recurrence rule." so a test never silently sees a wrong expansion.

use super::error::ApiError;
use super::when::{local_to_utc, parse_tz, When};
use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde_json::Value;

/// Periods walked at most, whatever the rule, so a pathological rule cannot hang a request.
const MAX_PERIODS: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Debug, Clone)]
struct Rule {
    freq: Freq,
    interval: u32,
    count: Option<u32>,
    until: Option<Moment>,
    byday: Vec<(i32, Weekday)>,
}

/// A date or an instant, as UNTIL, EXDATE and RDATE carry them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    Date(NaiveDate),
    At(DateTime<Utc>),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Recurrence {
    rules: Vec<Rule>,
    exdates: Vec<Moment>,
    rdates: Vec<Moment>,
}

/// One occurrence; `cancelled` when an EXDATE removed it.
#[derive(Debug, Clone)]
pub(crate) struct Occurrence {
    pub start: When,
    pub cancelled: bool,
}

fn bad() -> ApiError {
    ApiError::invalid("Invalid recurrence rule.")
}

pub(crate) fn parse(lines: &Value) -> Result<Recurrence, ApiError> {
    let lines = lines.as_array().ok_or_else(bad)?;
    let mut rec = Recurrence::default();
    for line in lines {
        let line = line.as_str().ok_or_else(bad)?.trim();
        let (head, value) = line.split_once(':').ok_or_else(bad)?;
        let mut head_parts = head.split(';');
        let name = head_parts.next().unwrap_or_default().to_ascii_uppercase();
        let params: Vec<&str> = head_parts.collect();
        match name.as_str() {
            "RRULE" => rec.rules.push(parse_rule(value)?),
            "EXDATE" => rec.exdates.extend(parse_moments(&params, value)?),
            "RDATE" => rec.rdates.extend(parse_moments(&params, value)?),
            _ => return Err(bad()),
        }
    }
    if rec.rules.is_empty() && rec.rdates.is_empty() {
        return Err(bad());
    }
    Ok(rec)
}

fn parse_rule(value: &str) -> Result<Rule, ApiError> {
    let mut rule = Rule {
        freq: Freq::Daily,
        interval: 1,
        count: None,
        until: None,
        byday: Vec::new(),
    };
    let mut freq = None;
    for part in value.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(bad)?;
        match k.to_ascii_uppercase().as_str() {
            "FREQ" => {
                freq = Some(match v.to_ascii_uppercase().as_str() {
                    "DAILY" => Freq::Daily,
                    "WEEKLY" => Freq::Weekly,
                    "MONTHLY" => Freq::Monthly,
                    "YEARLY" => Freq::Yearly,
                    _ => return Err(bad()),
                })
            }
            "INTERVAL" => rule.interval = v.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?,
            "COUNT" => rule.count = Some(v.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?),
            "UNTIL" => rule.until = Some(parse_moment(None, v)?),
            "BYDAY" => {
                for d in v.split(',') {
                    rule.byday.push(parse_byday(d)?);
                }
            }
            "WKST" => {}
            _ => return Err(bad()),
        }
    }
    rule.freq = freq.ok_or_else(bad)?;
    if rule.count.is_some() && rule.until.is_some() {
        return Err(bad());
    }
    if rule.freq != Freq::Monthly && rule.byday.iter().any(|(n, _)| *n != 0) {
        return Err(bad());
    }
    if rule.freq == Freq::Yearly && !rule.byday.is_empty() {
        return Err(bad());
    }
    Ok(rule)
}

fn parse_byday(s: &str) -> Result<(i32, Weekday), ApiError> {
    let s = s.trim().to_ascii_uppercase();
    if s.len() < 2 {
        return Err(bad());
    }
    let (ord, day) = s.split_at(s.len() - 2);
    let wd = match day {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return Err(bad()),
    };
    let n = if ord.is_empty() {
        0
    } else {
        ord.parse::<i32>()
            .ok()
            .filter(|n| *n != 0 && n.abs() <= 5)
            .ok_or_else(bad)?
    };
    Ok((n, wd))
}

fn parse_moments(params: &[&str], value: &str) -> Result<Vec<Moment>, ApiError> {
    let mut tz = None;
    for p in params {
        match p.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("TZID") => {
                tz = Some(parse_tz(v).ok_or_else(bad)?)
            }
            Some((k, v)) if k.eq_ignore_ascii_case("VALUE") => {
                if !v.eq_ignore_ascii_case("DATE") && !v.eq_ignore_ascii_case("DATE-TIME") {
                    return Err(bad());
                }
            }
            _ => return Err(bad()),
        }
    }
    value
        .split(',')
        .map(|v| parse_moment(tz, v.trim()))
        .collect()
}

fn parse_moment(tz: Option<Tz>, v: &str) -> Result<Moment, ApiError> {
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y%m%d") {
        return Ok(Moment::Date(d));
    }
    if let Some(stripped) = v.strip_suffix('Z') {
        let n = NaiveDateTime::parse_from_str(stripped, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
        return Ok(Moment::At(Utc.from_utc_datetime(&n)));
    }
    let n = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
    // A floating time without TZID is read as UTC: the series master carries a zone anyway.
    Ok(Moment::At(match tz {
        Some(tz) => local_to_utc(tz, n),
        None => Utc.from_utc_datetime(&n),
    }))
}

/// How a generated local time becomes a `When` again in the master's zone.
struct Anchor {
    start: When,
    local: NaiveDateTime,
}

impl Anchor {
    fn new(start: &When) -> Self {
        let local = match start {
            When::Date(d) => d.and_time(NaiveTime::MIN),
            When::At { dt, tz: Some(tz) } => dt.with_timezone(tz).naive_local(),
            When::At { dt, tz: None } => dt.naive_local(),
        };
        Self {
            start: start.clone(),
            local,
        }
    }

    fn materialise(&self, local: NaiveDateTime) -> When {
        match &self.start {
            When::Date(_) => When::Date(local.date()),
            When::At { tz: Some(tz), .. } => When::At {
                dt: local_to_utc(*tz, local).with_timezone(tz).fixed_offset(),
                tz: Some(*tz),
            },
            When::At { dt, tz: None } => {
                let off: FixedOffset = *dt.offset();
                let t = off
                    .from_local_datetime(&local)
                    .single()
                    .unwrap_or_else(|| off.from_utc_datetime(&local));
                When::At { dt: t, tz: None }
            }
        }
    }
}

fn matches(m: &Moment, w: &When) -> bool {
    match (m, w) {
        (Moment::Date(a), When::Date(b)) => a == b,
        (Moment::At(a), When::At { dt, .. }) => *a == dt.with_timezone(&Utc),
        (Moment::Date(a), When::At { dt, .. }) => *a == dt.date_naive(),
        (Moment::At(a), When::Date(b)) => a.date_naive() == *b,
    }
}

fn before_until(until: &Moment, w: &When) -> bool {
    match (until, w) {
        (Moment::Date(u), When::Date(d)) => d <= u,
        (Moment::Date(u), When::At { dt, .. }) => dt.date_naive() <= *u,
        (Moment::At(u), When::At { dt, .. }) => dt.with_timezone(&Utc) <= *u,
        (Moment::At(u), When::Date(d)) => *d <= u.date_naive(),
    }
}

/// Expands the series that starts at `start` up to `horizon` (exclusive), at most
/// `limit` occurrences, in start order.
pub(crate) fn expand(
    rec: &Recurrence,
    start: &When,
    horizon: DateTime<Utc>,
    limit: usize,
) -> Vec<Occurrence> {
    let anchor = Anchor::new(start);
    let utc_tz: Tz = chrono_tz::UTC;
    let mut out: Vec<When> = Vec::new();
    for rule in &rec.rules {
        let mut emitted = 0u32;
        'periods: for k in 0..MAX_PERIODS {
            let step = i64::from(k) * i64::from(rule.interval);
            let candidates = period_dates(rule, anchor.local.date(), step);
            let Some(candidates) = candidates else { break };
            for date in candidates {
                let local = date.and_time(anchor.local.time());
                if local < anchor.local {
                    continue;
                }
                let w = anchor.materialise(local);
                if w.instant(utc_tz) >= horizon || out.len() >= limit * 2 {
                    break 'periods;
                }
                if let Some(u) = &rule.until {
                    if !before_until(u, &w) {
                        break 'periods;
                    }
                }
                if let Some(c) = rule.count {
                    if emitted >= c {
                        break 'periods;
                    }
                }
                emitted += 1;
                out.push(w);
            }
            if period_start_beyond(rule, anchor.local.date(), step, &anchor, horizon) {
                break;
            }
        }
    }
    for m in &rec.rdates {
        let w = match m {
            Moment::Date(d) => anchor.materialise(d.and_time(anchor.local.time())),
            Moment::At(t) => anchor.materialise(match &anchor.start {
                When::At { tz: Some(tz), .. } => t.with_timezone(tz).naive_local(),
                When::At { dt, .. } => t.with_timezone(dt.offset()).naive_local(),
                When::Date(_) => t.naive_utc(),
            }),
        };
        if w.instant(utc_tz) < horizon {
            out.push(w);
        }
    }
    out.sort_by_key(|w| w.instant(utc_tz));
    out.dedup();
    out.truncate(limit);
    out.into_iter()
        .map(|w| {
            let cancelled = rec.exdates.iter().any(|m| matches(m, &w));
            Occurrence {
                start: w,
                cancelled,
            }
        })
        .collect()
}

fn period_start_beyond(
    rule: &Rule,
    base: NaiveDate,
    step: i64,
    anchor: &Anchor,
    horizon: DateTime<Utc>,
) -> bool {
    let first = match rule.freq {
        Freq::Daily => base.checked_add_signed(Duration::days(step)),
        Freq::Weekly => base.checked_add_signed(Duration::weeks(step)),
        Freq::Monthly => add_months(base.with_day(1), step),
        Freq::Yearly => add_months(base.with_day(1), step * 12),
    };
    match first {
        Some(d) => {
            anchor
                .materialise(d.and_time(NaiveTime::MIN))
                .instant(chrono_tz::UTC)
                > horizon
        }
        None => true,
    }
}

fn add_months(first_of_month: Option<NaiveDate>, months: i64) -> Option<NaiveDate> {
    let d = first_of_month?;
    let total = i64::from(d.year()) * 12 + i64::from(d.month0()) + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = u32::try_from(total.rem_euclid(12)).ok()? + 1;
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The dates of period number `step / interval` of the rule, sorted; `None` if the
/// period cannot be represented.
fn period_dates(rule: &Rule, base: NaiveDate, step: i64) -> Option<Vec<NaiveDate>> {
    let mut dates = match rule.freq {
        Freq::Daily => {
            let d = base.checked_add_signed(Duration::days(step))?;
            if rule.byday.is_empty() || rule.byday.iter().any(|(_, wd)| *wd == d.weekday()) {
                vec![d]
            } else {
                vec![]
            }
        }
        Freq::Weekly => {
            let week = base.checked_add_signed(Duration::weeks(step))?;
            let monday = week - Duration::days(i64::from(week.weekday().num_days_from_monday()));
            if rule.byday.is_empty() {
                vec![week]
            } else {
                rule.byday
                    .iter()
                    .map(|(_, wd)| monday + Duration::days(i64::from(wd.num_days_from_monday())))
                    .collect()
            }
        }
        Freq::Monthly => {
            let first = add_months(base.with_day(1), step)?;
            if rule.byday.is_empty() {
                first.with_day(base.day()).into_iter().collect()
            } else {
                month_weekdays(first, &rule.byday)
            }
        }
        Freq::Yearly => {
            let first = add_months(base.with_day(1), step * 12)?;
            first.with_day(base.day()).into_iter().collect()
        }
    };
    dates.sort();
    dates.dedup();
    Some(dates)
}

fn month_weekdays(first: NaiveDate, byday: &[(i32, Weekday)]) -> Vec<NaiveDate> {
    let days: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| d.month() == first.month())
        .collect();
    let mut out = Vec::new();
    for (n, wd) in byday {
        let same: Vec<NaiveDate> = days
            .iter()
            .copied()
            .filter(|d| d.weekday() == *wd)
            .collect();
        match *n {
            0 => out.extend(same),
            n if n > 0 => out.extend(usize::try_from(n - 1).ok().and_then(|i| same.get(i))),
            n => {
                let back = usize::try_from(-n).unwrap_or(usize::MAX);
                out.extend(same.len().checked_sub(back).and_then(|i| same.get(i)));
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "recurrence_tests.rs"]
mod tests;
