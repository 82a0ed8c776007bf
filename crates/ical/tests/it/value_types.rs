//! Every combination of start (DATE, floating, zoned, UTC) and end (DATE, DATE-TIME in
//! each form, DURATION, none), each with the interval a reader would expect. A DATE is
//! local midnight in the caller's zone; a floating time is in X-WR-TIMEZONE, else the
//! caller's zone; every DATE-TIME end is the instant it names, whatever the start's form.

use super::run;
use chrono_tz::Europe::Berlin;

const D: &str = "DTSTART;VALUE=DATE:20240305";
const F: &str = "DTSTART:20240305T090000";
const Z: &str = "DTSTART;TZID=America/New_York:20240305T090000";
const U: &str = "DTSTART:20240305T090000Z";

const END_D: &str = "DTEND;VALUE=DATE:20240306";
const END_F: &str = "DTEND:20240305T170000";
const END_Z: &str = "DTEND;TZID=America/New_York:20240305T170000";
const END_U: &str = "DTEND:20240305T170000Z";
const PT2H: &str = "DURATION:PT2H";
const P1D: &str = "DURATION:P1D";
const P1DT2H: &str = "DURATION:P1DT2H";
const NONE: &str = "";

/// The one instance of an event with these lines, as "start..end" (UTC, minutes) and
/// whether it blocks.
fn interval(cal_props: &str, start: &str, end: &str) -> (String, bool) {
    let text = format!(
        "BEGIN:VCALENDAR\r\n{cal_props}BEGIN:VEVENT\r\nUID:e\r\n{start}\r\n{end}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let exp = run(
        &text,
        "2024-02-01T00:00:00Z",
        "2024-05-01T00:00:00Z",
        Berlin,
    );
    assert!(exp.warnings.is_empty(), "{start} {end}: {:?}", exp.warnings);
    assert_eq!(exp.instances.len(), 1, "{start} {end}: {:?}", exp.instances);
    let i = &exp.instances[0];
    let span = format!(
        "{}..{}",
        i.start.format("%Y-%m-%dT%H:%MZ"),
        i.end.format("%Y-%m-%dT%H:%MZ")
    );
    (span, i.blocks)
}

fn check(cal_props: &str, table: &[(&str, &str, &str)]) {
    let mut wrong = Vec::new();
    for (start, end, want) in table {
        let (got, blocks) = interval(cal_props, start, end);
        if got != *want {
            wrong.push(format!("{start} + {end:?}: got {got}, want {want}"));
        }
        let (a, b) = want.split_once("..").unwrap_or_default();
        assert_eq!(
            blocks,
            a != b,
            "{start} + {end:?}: zero length blocks nothing"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_start_and_end_form_combines_into_the_expected_interval() {
    check(
        "",
        &[
            (D, END_D, "2024-03-04T23:00Z..2024-03-05T23:00Z"),
            (D, END_F, "2024-03-04T23:00Z..2024-03-05T16:00Z"),
            (D, END_Z, "2024-03-04T23:00Z..2024-03-05T22:00Z"),
            (D, END_U, "2024-03-04T23:00Z..2024-03-05T17:00Z"),
            (D, PT2H, "2024-03-04T23:00Z..2024-03-05T01:00Z"),
            (D, P1D, "2024-03-04T23:00Z..2024-03-05T23:00Z"),
            (D, P1DT2H, "2024-03-04T23:00Z..2024-03-06T01:00Z"),
            (D, NONE, "2024-03-04T23:00Z..2024-03-05T23:00Z"),
            (F, END_D, "2024-03-05T08:00Z..2024-03-05T23:00Z"),
            (F, END_F, "2024-03-05T08:00Z..2024-03-05T16:00Z"),
            (F, END_Z, "2024-03-05T08:00Z..2024-03-05T22:00Z"),
            (F, END_U, "2024-03-05T08:00Z..2024-03-05T17:00Z"),
            (F, PT2H, "2024-03-05T08:00Z..2024-03-05T10:00Z"),
            (F, P1D, "2024-03-05T08:00Z..2024-03-06T08:00Z"),
            (F, P1DT2H, "2024-03-05T08:00Z..2024-03-06T10:00Z"),
            (F, NONE, "2024-03-05T08:00Z..2024-03-05T08:00Z"),
            (Z, END_D, "2024-03-05T14:00Z..2024-03-05T23:00Z"),
            (Z, END_F, "2024-03-05T14:00Z..2024-03-05T16:00Z"),
            (Z, END_Z, "2024-03-05T14:00Z..2024-03-05T22:00Z"),
            (Z, END_U, "2024-03-05T14:00Z..2024-03-05T17:00Z"),
            (Z, PT2H, "2024-03-05T14:00Z..2024-03-05T16:00Z"),
            (Z, P1D, "2024-03-05T14:00Z..2024-03-06T14:00Z"),
            (Z, P1DT2H, "2024-03-05T14:00Z..2024-03-06T16:00Z"),
            (Z, NONE, "2024-03-05T14:00Z..2024-03-05T14:00Z"),
            (U, END_D, "2024-03-05T09:00Z..2024-03-05T23:00Z"),
            (U, END_F, "2024-03-05T09:00Z..2024-03-05T16:00Z"),
            (U, END_Z, "2024-03-05T09:00Z..2024-03-05T22:00Z"),
            (U, END_U, "2024-03-05T09:00Z..2024-03-05T17:00Z"),
            (U, PT2H, "2024-03-05T09:00Z..2024-03-05T11:00Z"),
            (U, P1D, "2024-03-05T09:00Z..2024-03-06T09:00Z"),
            (U, P1DT2H, "2024-03-05T09:00Z..2024-03-06T11:00Z"),
            (U, NONE, "2024-03-05T09:00Z..2024-03-05T09:00Z"),
        ],
    );
}

#[test]
fn with_a_calendar_zone_floating_times_move_and_dates_stay_in_the_callers_zone() {
    // Floating times are New York time here; DATEs remain Berlin days.
    check(
        "X-WR-TIMEZONE:America/New_York\r\n",
        &[
            (D, END_D, "2024-03-04T23:00Z..2024-03-05T23:00Z"),
            (D, END_F, "2024-03-04T23:00Z..2024-03-05T22:00Z"),
            (D, PT2H, "2024-03-04T23:00Z..2024-03-05T01:00Z"),
            (F, END_D, "2024-03-05T14:00Z..2024-03-05T23:00Z"),
            (F, END_F, "2024-03-05T14:00Z..2024-03-05T22:00Z"),
            (F, END_U, "2024-03-05T14:00Z..2024-03-05T17:00Z"),
            (F, P1D, "2024-03-05T14:00Z..2024-03-06T14:00Z"),
            (Z, END_F, "2024-03-05T14:00Z..2024-03-05T22:00Z"),
            (U, END_F, "2024-03-05T09:00Z..2024-03-05T22:00Z"),
            (U, END_D, "2024-03-05T09:00Z..2024-03-05T23:00Z"),
        ],
    );
}

#[test]
fn on_a_dst_day_dates_and_day_durations_follow_the_local_day() {
    const D_DST: &str = "DTSTART;VALUE=DATE:20240331";
    const U_DST: &str = "DTSTART:20240331T090000Z";
    check(
        "",
        &[
            (
                D_DST,
                "DTEND;VALUE=DATE:20240401",
                "2024-03-30T23:00Z..2024-03-31T22:00Z",
            ),
            (D_DST, P1D, "2024-03-30T23:00Z..2024-03-31T22:00Z"),
            (D_DST, NONE, "2024-03-30T23:00Z..2024-03-31T22:00Z"),
            (D_DST, PT2H, "2024-03-30T23:00Z..2024-03-31T01:00Z"),
            (
                D_DST,
                "DTEND:20240331T120000",
                "2024-03-30T23:00Z..2024-03-31T10:00Z",
            ),
            (
                D_DST,
                "DTEND:20240331T120000Z",
                "2024-03-30T23:00Z..2024-03-31T12:00Z",
            ),
            (
                U_DST,
                "DTEND;VALUE=DATE:20240401",
                "2024-03-31T09:00Z..2024-03-31T22:00Z",
            ),
        ],
    );
}

#[test]
fn a_weekly_all_day_series_with_a_timed_utc_end_keeps_that_length_each_week() {
    let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:s\r\nDTSTART;VALUE=DATE:20240305\r\n\
                DTEND:20240305T120000Z\r\nRRULE:FREQ=WEEKLY;COUNT=2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let exp = run(text, "2024-02-01T00:00:00Z", "2024-05-01T00:00:00Z", Berlin);
    assert_eq!(
        super::spans(&exp, "s"),
        vec![
            "2024-03-04T23:00Z..2024-03-05T12:00Z",
            "2024-03-11T23:00Z..2024-03-12T12:00Z",
        ]
    );
}
