//! Event start/end values (`{date}` or `{dateTime, timeZone}`): parsing with Google's
//! validation messages, normalised output, and the instants used for filtering.

use super::error::ApiError;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum When {
    /// All-day: a calendar date (for `end`, exclusive).
    Date(NaiveDate),
    /// A moment, with the zone it was written in when one was named.
    At {
        dt: DateTime<FixedOffset>,
        tz: Option<Tz>,
    },
}

impl When {
    /// The instant this value stands for; dates are midnight in the calendar's zone.
    pub fn instant(&self, cal_tz: Tz) -> DateTime<Utc> {
        match self {
            When::At { dt, .. } => dt.with_timezone(&Utc),
            When::Date(d) => local_to_utc(cal_tz, d.and_time(NaiveTime::MIN)),
        }
    }

    pub fn is_date(&self) -> bool {
        matches!(self, When::Date(_))
    }

    pub fn to_json(&self) -> Value {
        match self {
            When::Date(d) => json!({"date": d.format("%Y-%m-%d").to_string()}),
            When::At { dt, tz: Some(tz) } => json!({
                "dateTime": dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                "timeZone": tz.name(),
            }),
            When::At { dt, tz: None } => {
                json!({"dateTime": dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string()})
            }
        }
    }

    /// The suffix Google gives instance ids: `20260105T090000Z` or `20260105`.
    pub fn instance_suffix(&self) -> String {
        match self {
            When::Date(d) => d.format("%Y%m%d").to_string(),
            When::At { dt, .. } => dt.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string(),
        }
    }
}

/// Resolves a local wall-clock time; in a DST gap the later mapping is taken, in an
/// overlap the earlier one (what Google shows in its UI).
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let shifted = local + chrono::Duration::hours(1);
            tz.from_local_datetime(&shifted)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&local))
        }
    }
}

pub(crate) fn parse_tz(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// Parses `start` or `end` (`which`) of an event body.
pub(crate) fn parse_when(value: Option<&Value>, which: &str) -> Result<When, ApiError> {
    let obj = match value {
        None | Some(Value::Null) => {
            return Err(ApiError::required(format!("Missing {which} time.")))
        }
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ApiError::invalid(format!("Invalid {which} time."))),
    };
    let tz = match obj.get("timeZone") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(parse_tz(name).ok_or_else(|| {
            ApiError::invalid(format!("Invalid time zone definition for {which} time."))
        })?),
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "Invalid time zone definition for {which} time."
            )))
        }
    };
    let date = obj.get("date").filter(|v| !v.is_null());
    let date_time = obj.get("dateTime").filter(|v| !v.is_null());
    match (date, date_time) {
        (Some(_), Some(_)) => Err(ApiError::invalid(format!(
            "Invalid {which} time: set either date or dateTime, not both."
        ))),
        (None, None) => Err(ApiError::required(format!("Missing {which} time."))),
        (Some(d), None) => {
            let d = d
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
            d.map(When::Date)
                .ok_or_else(|| ApiError::invalid(format!("Invalid {which} time.")))
        }
        (None, Some(dt)) => {
            let s = dt
                .as_str()
                .ok_or_else(|| ApiError::invalid(format!("Invalid {which} time.")))?;
            if let Ok(parsed) = DateTime::parse_from_rfc3339(s) {
                let dt = match tz {
                    Some(tz) => parsed.with_timezone(&tz).fixed_offset(),
                    None => parsed,
                };
                return Ok(When::At { dt, tz });
            }
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .map_err(|_| ApiError::invalid(format!("Invalid {which} time.")))?;
            let tz = tz.ok_or_else(|| {
                ApiError::required(format!("Missing time zone definition for {which} time."))
            })?;
            let dt = local_to_utc(tz, naive).with_timezone(&tz).fixed_offset();
            Ok(When::At { dt, tz: Some(tz) })
        }
    }
}

/// Parses an RFC 3339 query parameter (`timeMin`, `timeMax`, `updatedMin`): Google
/// requires the offset.
pub(crate) fn parse_query_time(param: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::new(400, "global", "badRequest", "Bad Request").at("parameter", param)
        })
}

pub(crate) fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
