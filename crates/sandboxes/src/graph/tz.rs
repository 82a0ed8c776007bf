//! Graph's date-time forms: `dateTimeTimeZone` values (a local time plus a Windows or
//! IANA zone name), 7-digit fractions, and the ISO 8601 instants of query parameters.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::error::GraphError;

/// The Windows zone names Outlook uses most, mapped to IANA (CLDR windowsZones, territory 001).
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Coordinated Universal Time", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("Romance Standard Time", "Europe/Paris"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Mountain Standard Time", "America/Denver"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("India Standard Time", "Asia/Calcutta"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
];

/// Resolves a Graph `timeZone` value: IANA names and the Windows names above.
pub fn resolve(zone: &str) -> Option<Tz> {
    if let Some((_, iana)) = WINDOWS_ZONES
        .iter()
        .find(|(win, _)| win.eq_ignore_ascii_case(zone))
    {
        return iana.parse().ok();
    }
    zone.parse().ok()
}

pub fn resolve_or_400(zone: &str) -> Result<Tz, GraphError> {
    resolve(zone).ok_or_else(|| {
        GraphError::bad_request(
            "TimeZoneNotSupportedException",
            format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'."),
        )
    })
}

/// Local wall time in `zone` to an instant; a time in a DST gap moves forward an hour,
/// an ambiguous one takes the earlier instant (Exchange does the same).
pub fn local_to_utc(local: NaiveDateTime, zone: &Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            let later = local + chrono::Duration::hours(1);
            match zone.from_local_datetime(&later) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                LocalResult::None => later.and_utc(),
            }
        }
    }
}

pub fn utc_to_local(instant: DateTime<Utc>, zone: &Tz) -> NaiveDateTime {
    instant.with_timezone(zone).naive_local()
}

/// `2026-01-05T15:00:00.0000000`: Graph's seven fractional digits, no offset.
pub fn format_local(local: NaiveDateTime) -> String {
    format!(
        "{}.{:07}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        local.nanosecond() / 100
    )
}

/// `2026-01-05T15:00:00.0000000Z`, as Graph writes `DateTimeOffset` values.
pub fn format_instant(instant: DateTime<Utc>) -> String {
    format!("{}Z", format_local(instant.naive_utc()))
}

/// A `dateTimeTimeZone.dateTime`: a local time without offset (fractions allowed).
pub fn parse_local(value: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M"))
        .ok()
}

/// An ISO 8601 instant of a query parameter; without an offset it is read as UTC.
pub fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    parse_local(value).map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_zone_names_resolve_to_their_iana_zone() {
        assert_eq!(
            resolve("Pacific Standard Time"),
            Some(chrono_tz::America::Los_Angeles)
        );
        assert_eq!(resolve("Europe/Berlin"), Some(chrono_tz::Europe::Berlin));
        assert_eq!(resolve("Mars/Olympus"), None);
    }

    #[test]
    fn local_times_are_written_with_seven_fraction_digits() {
        let t = parse_local("2026-01-05T15:00:00").map(format_local);
        assert_eq!(t.as_deref(), Some("2026-01-05T15:00:00.0000000"));
    }

    #[test]
    fn a_time_in_a_dst_gap_moves_forward_one_hour() {
        let local = parse_local("2026-03-29T02:30:00");
        let utc = local.map(|l| local_to_utc(l, &chrono_tz::Europe::Berlin));
        assert_eq!(
            utc.map(|u| u.to_rfc3339()).as_deref(),
            Some("2026-03-29T01:30:00+00:00")
        );
    }
}
