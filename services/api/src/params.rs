//! Parsing of query and body values into typed ones, each failure a 400 that names the
//! parameter, so clients learn exactly what to fix.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::bad_request(
            "missing_parameter",
            format!("{name} is required"),
        )),
    }
}

pub fn uuid(value: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value.trim())
        .map_err(|_| ApiError::bad_request("invalid_parameter", format!("{name} must be a UUID")))
}

/// An optional UUID parameter; absent or blank is `None`.
pub fn optional_uuid(value: &Option<String>, name: &str) -> Result<Option<Uuid>, ApiError> {
    value
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| uuid(s, name))
        .transpose()
}

/// RFC 3339 with an offset. A `+` left unencoded in a query string arrives as a space;
/// reading it back as `+` accepts what a hand-typed URL means.
pub fn time(value: &str, name: &str) -> Result<DateTime<Utc>, ApiError> {
    let v = value.trim();
    DateTime::parse_from_rfc3339(v)
        .or_else(|e| {
            if v.contains(' ') {
                DateTime::parse_from_rfc3339(&v.replace(' ', "+"))
            } else {
                Err(e)
            }
        })
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{name} must be an RFC 3339 time with an offset, e.g. 2026-03-02T09:00:00+01:00"),
            )
        })
}

pub fn minutes(value: &str, name: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|m| *m > 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{name} must be a positive whole number of minutes"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plus_turned_into_a_space_by_a_query_string_is_read_back() {
        let a = time("2026-03-02T09:00:00 01:00", "from").map_err(|e| e.to_string());
        let b = time("2026-03-02T08:00:00Z", "from").map_err(|e| e.to_string());
        assert_eq!(a, b);
    }

    #[test]
    fn garbage_values_are_refused_with_the_parameter_name() {
        let e = time("yesterday", "from")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("from"), "{e}");
        assert!(minutes("0", "duration").is_err());
        assert!(minutes("-5", "duration").is_err());
        assert!(uuid("nope", "specialistId").is_err());
        assert!(required(&Some("  ".into()), "to").is_err());
    }
}
