//! Unit tests of the RRULE subset: each rule part against hand-computed dates.
#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn at(s: &str, tz: &str) -> When {
    crate::google::when::parse_when(Some(&json!({"dateTime": s, "timeZone": tz})), "start").unwrap()
}

fn starts(lines: Value, start: &When, horizon: &str) -> Vec<String> {
    let rec = parse(&lines).unwrap();
    let horizon = DateTime::parse_from_rfc3339(horizon)
        .unwrap()
        .with_timezone(&Utc);
    expand(&rec, start, horizon, 1000)
        .into_iter()
        .filter(|o| !o.cancelled)
        .map(|o| o.start.instance_suffix())
        .collect()
}

#[test]
fn daily_with_interval_stops_at_until_inclusive() {
    let got = starts(
        json!(["RRULE:FREQ=DAILY;INTERVAL=3;UNTIL=20260107T090000Z"]),
        &at("2026-01-01T09:00:00", "UTC"),
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        vec!["20260101T090000Z", "20260104T090000Z", "20260107T090000Z"]
    );
}

#[test]
fn weekly_byday_on_several_days_skips_days_before_the_first_start() {
    let got = starts(
        json!(["RRULE:FREQ=WEEKLY;COUNT=4;BYDAY=MO,WE"]),
        &at("2026-01-07T10:00:00", "UTC"),
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        vec![
            "20260107T100000Z",
            "20260112T100000Z",
            "20260114T100000Z",
            "20260119T100000Z"
        ]
    );
}

#[test]
fn monthly_last_friday_and_exdate_removes_one() {
    let got = starts(
        json!([
            "RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=-1FR",
            "EXDATE:20260227T120000Z"
        ]),
        &at("2026-01-30T12:00:00", "UTC"),
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(got, vec!["20260130T120000Z", "20260327T120000Z"]);
}

#[test]
fn an_open_series_stops_at_the_horizon() {
    let got = starts(
        json!(["RRULE:FREQ=DAILY"]),
        &at("2026-01-01T09:00:00", "UTC"),
        "2026-01-03T09:00:00Z",
    );
    assert_eq!(got, vec!["20260101T090000Z", "20260102T090000Z"]);
}

#[test]
fn unsupported_rule_parts_are_refused() {
    for bad in [
        "RRULE:FREQ=DAILY;BYSETPOS=1",
        "RRULE:FREQ=HOURLY",
        "RRULE:COUNT=2",
        "FOO:BAR",
    ] {
        assert!(parse(&json!([bad])).is_err(), "{bad}");
    }
}
