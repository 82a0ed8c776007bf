//! Graph's `patternedRecurrence` (daily, weekly, absoluteMonthly; endDate, numbered,
//! noEnd): parsing with Graph's validation and expansion into occurrence dates.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::Value;

use super::error::GraphError;

/// Expansion stops after this many days from the series start, whatever the range says.
const MAX_EXPANSION_DAYS: i64 = 366 * 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternKind {
    Daily,
    Weekly,
    AbsoluteMonthly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RangeEnd {
    EndDate(NaiveDate),
    Numbered(u32),
    NoEnd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recurrence {
    kind: PatternKind,
    interval: u32,
    days_of_week: Vec<Weekday>,
    day_of_month: u32,
    first_day_of_week: Weekday,
    pub start_date: NaiveDate,
    end: RangeEnd,
    /// The value as given, returned on the series master.
    pub raw: Value,
}

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("ErrorPropertyValidationFailure", message)
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

fn date_field(obj: &Value, key: &str) -> Result<Option<NaiveDate>, GraphError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "0001-01-01" => Ok(None),
        Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| bad(format!("Invalid date '{s}' for '{key}'."))),
        Some(_) => Err(bad(format!("'{key}' must be a date string."))),
    }
}

impl Recurrence {
    /// Parses `recurrence`; `event_start` is the master's local start date.
    pub fn parse(raw: &Value, event_start: NaiveDate) -> Result<Self, GraphError> {
        let pattern = raw
            .get("pattern")
            .ok_or_else(|| bad("Recurrence pattern is required."))?;
        let range = raw
            .get("range")
            .ok_or_else(|| bad("Recurrence range is required."))?;
        let kind = match pattern.get("type").and_then(Value::as_str) {
            Some("daily") => PatternKind::Daily,
            Some("weekly") => PatternKind::Weekly,
            Some("absoluteMonthly") => PatternKind::AbsoluteMonthly,
            Some(other) => {
                return Err(bad(format!(
                    "The sandbox does not implement recurrence pattern type '{other}'."
                )))
            }
            None => return Err(bad("Recurrence pattern type is required.")),
        };
        let interval = pattern.get("interval").and_then(Value::as_u64).unwrap_or(1);
        let interval = u32::try_from(interval)
            .ok()
            .filter(|i| (1..=999).contains(i))
            .ok_or_else(|| bad("Recurrence pattern interval must be between 1 and 999."))?;
        let days_of_week = match pattern.get("daysOfWeek") {
            Some(Value::Array(days)) => days
                .iter()
                .map(|d| d.as_str().and_then(weekday))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("Invalid value in daysOfWeek."))?,
            _ => Vec::new(),
        };
        if kind == PatternKind::Weekly && days_of_week.is_empty() {
            return Err(bad("A weekly recurrence pattern needs daysOfWeek."));
        }
        let day_of_month = pattern
            .get("dayOfMonth")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let day_of_month = u32::try_from(day_of_month).unwrap_or(0);
        if kind == PatternKind::AbsoluteMonthly && !(1..=31).contains(&day_of_month) {
            return Err(bad(
                "An absoluteMonthly pattern needs dayOfMonth between 1 and 31.",
            ));
        }
        let first_day_of_week = pattern
            .get("firstDayOfWeek")
            .and_then(Value::as_str)
            .and_then(weekday)
            .unwrap_or(Weekday::Sun);
        let start_date = date_field(range, "startDate")?.unwrap_or(event_start);
        let end = match range.get("type").and_then(Value::as_str) {
            Some("endDate") => RangeEnd::EndDate(
                date_field(range, "endDate")?
                    .ok_or_else(|| bad("An endDate range needs endDate."))?,
            ),
            Some("numbered") => {
                let n = range
                    .get("numberOfOccurrences")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("A numbered range needs numberOfOccurrences > 0."))?;
                RangeEnd::Numbered(n)
            }
            Some("noEnd") => RangeEnd::NoEnd,
            _ => {
                return Err(bad(
                    "Recurrence range type must be endDate, numbered or noEnd.",
                ))
            }
        };
        if let RangeEnd::EndDate(end) = end {
            if end < start_date {
                return Err(bad("The recurrence range endDate is before its startDate."));
            }
        }
        Ok(Self {
            kind,
            interval,
            days_of_week,
            day_of_month,
            first_day_of_week,
            start_date,
            end,
            raw: raw.clone(),
        })
    }

    fn matches(&self, date: NaiveDate) -> bool {
        let interval = i64::from(self.interval);
        match self.kind {
            PatternKind::Daily => (date - self.start_date).num_days() % interval == 0,
            PatternKind::Weekly => {
                let week_start = |d: NaiveDate| {
                    let back = (7 + d.weekday().num_days_from_monday()
                        - self.first_day_of_week.num_days_from_monday())
                        % 7;
                    d - Duration::days(i64::from(back))
                };
                let weeks = (week_start(date) - week_start(self.start_date)).num_days() / 7;
                weeks % interval == 0 && self.days_of_week.contains(&date.weekday())
            }
            PatternKind::AbsoluteMonthly => {
                let months = (date.year() - self.start_date.year()) * 12 + date.month() as i32
                    - self.start_date.month() as i32;
                date.day() == self.day_of_month && i64::from(months) % interval == 0
            }
        }
    }

    /// Occurrence dates in order, from the range start up to `until` (inclusive).
    pub fn dates_until(&self, until: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut date = self.start_date;
        let last = self.start_date + Duration::days(MAX_EXPANSION_DAYS);
        while date <= until && date <= last {
            match self.end {
                RangeEnd::EndDate(end) if date > end => break,
                RangeEnd::Numbered(n) if out.len() >= n as usize => break,
                _ => {}
            }
            if self.matches(date) {
                out.push(date);
            }
            date += Duration::days(1);
        }
        out
    }

    pub fn is_occurrence(&self, date: NaiveDate) -> bool {
        self.dates_until(date).last() == Some(&date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn a_weekly_pattern_every_other_week_skips_the_weeks_between() {
        let raw = json!({
            "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "wednesday"]},
            "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 4}
        });
        let r = Recurrence::parse(&raw, d("2026-01-05")).map(|r| r.dates_until(d("2026-12-31")));
        assert_eq!(
            r.ok(),
            Some(vec![
                d("2026-01-05"),
                d("2026-01-07"),
                d("2026-01-19"),
                d("2026-01-21")
            ])
        );
    }

    #[test]
    fn a_daily_pattern_stops_at_its_end_date() {
        let raw = json!({
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "endDate", "startDate": "2026-01-05", "endDate": "2026-01-07"}
        });
        let r = Recurrence::parse(&raw, d("2026-01-05")).map(|r| r.dates_until(d("2026-12-31")));
        assert_eq!(r.map(|v| v.len()).ok(), Some(3));
    }

    #[test]
    fn an_unsupported_pattern_is_refused() {
        let raw = json!({"pattern": {"type": "relativeYearly"}, "range": {"type": "noEnd"}});
        assert!(Recurrence::parse(&raw, d("2026-01-05")).is_err());
    }
}
