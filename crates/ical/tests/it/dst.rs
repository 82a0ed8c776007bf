//! Daylight saving transitions in Europe/Berlin and America/New_York.

use super::{only, run, spans};
use chrono_tz::{America, Europe, Tz};

fn one(body: &str, tz: Tz, from: &str, to: &str) -> Vec<String> {
    let text = format!("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:e\n{body}\nEND:VEVENT\nEND:VCALENDAR\n");
    spans(&run(&text, from, to, tz), "e")
}

#[test]
fn an_all_day_event_on_the_berlin_spring_change_lasts_23_hours() {
    let got = one(
        "DTSTART;VALUE=DATE:20240331",
        Europe::Berlin,
        "2024-03-01T00:00:00Z",
        "2024-04-30T00:00:00Z",
    );
    assert_eq!(got, vec!["2024-03-30T23:00Z..2024-03-31T22:00Z"]);
}

#[test]
fn an_all_day_event_on_the_berlin_autumn_change_lasts_25_hours() {
    let got = one(
        "DTSTART;VALUE=DATE:20241027\nDTEND;VALUE=DATE:20241028",
        Europe::Berlin,
        "2024-10-01T00:00:00Z",
        "2024-11-30T00:00:00Z",
    );
    assert_eq!(got, vec!["2024-10-26T22:00Z..2024-10-27T23:00Z"]);
}

#[test]
fn new_york_all_day_events_on_both_change_days_last_23_and_25_hours() {
    let got = one(
        "DTSTART;VALUE=DATE:20240310\nRDATE;VALUE=DATE:20241103",
        America::New_York,
        "2024-01-01T00:00:00Z",
        "2024-12-31T00:00:00Z",
    );
    assert_eq!(
        got,
        vec![
            "2024-03-10T05:00Z..2024-03-11T04:00Z",
            "2024-11-03T04:00Z..2024-11-04T05:00Z"
        ]
    );
}

#[test]
fn all_day_days_are_days_of_the_callers_zone_not_of_x_wr_timezone() {
    let text = "BEGIN:VCALENDAR\nX-WR-TIMEZONE:America/New_York\nBEGIN:VEVENT\nUID:e\n\
                DTSTART;VALUE=DATE:20240601\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(
        text,
        "2024-05-01T00:00:00Z",
        "2024-07-01T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(&exp, "e"),
        vec!["2024-05-31T22:00Z..2024-06-01T22:00Z"]
    );
}

#[test]
fn a_daily_new_york_meeting_stays_at_9am_local_across_the_spring_change() {
    let got = one(
        "DTSTART;TZID=America/New_York:20240308T090000\nDTEND;TZID=America/New_York:20240308T100000\nRRULE:FREQ=DAILY;COUNT=4",
        America::New_York,
        "2024-03-01T00:00:00Z",
        "2024-03-31T00:00:00Z",
    );
    assert_eq!(
        got,
        vec![
            "2024-03-08T14:00Z..2024-03-08T15:00Z",
            "2024-03-09T14:00Z..2024-03-09T15:00Z",
            "2024-03-10T13:00Z..2024-03-10T14:00Z",
            "2024-03-11T13:00Z..2024-03-11T14:00Z",
        ]
    );
}

#[test]
fn a_start_in_the_spring_gap_is_read_with_the_offset_before_the_gap() {
    let got = one(
        "DTSTART;TZID=Europe/Berlin:20240331T023000\nDURATION:PT30M",
        Europe::Berlin,
        "2024-03-30T00:00:00Z",
        "2024-04-01T00:00:00Z",
    );
    assert_eq!(got, vec!["2024-03-31T01:30Z..2024-03-31T02:00Z"]);
}

#[test]
fn an_ambiguous_autumn_start_is_the_first_of_the_two_times() {
    let got = one(
        "DTSTART;TZID=Europe/Berlin:20241027T023000\nDURATION:PT30M",
        Europe::Berlin,
        "2024-10-26T00:00:00Z",
        "2024-10-28T00:00:00Z",
    );
    assert_eq!(got, vec!["2024-10-27T00:30Z..2024-10-27T01:00Z"]);
}

#[test]
fn a_meeting_spanning_the_spring_change_is_one_hour_shorter_in_elapsed_time() {
    let got = one(
        "DTSTART;TZID=Europe/Berlin:20240331T010000\nDTEND;TZID=Europe/Berlin:20240331T040000",
        Europe::Berlin,
        "2024-03-30T00:00:00Z",
        "2024-04-01T00:00:00Z",
    );
    assert_eq!(got, vec!["2024-03-31T00:00Z..2024-03-31T02:00Z"]);
}

#[test]
fn a_utc_series_without_x_wr_timezone_stays_in_utc() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:e\nDTSTART:20240329T080000Z\nDURATION:PT1H\n\
                RRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(
        text,
        "2024-03-01T00:00:00Z",
        "2024-04-30T00:00:00Z",
        Europe::Berlin,
    );
    let starts: Vec<String> = exp
        .instances
        .iter()
        .map(|i| i.start.format("%dT%H:%M").to_string())
        .collect();
    assert_eq!(starts, vec!["29T08:00", "30T08:00", "31T08:00"]);
}

#[test]
fn a_daily_all_day_series_has_a_23_hour_instance_on_the_change_day() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:e\nDTSTART;VALUE=DATE:20240330\n\
                RRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(
        text,
        "2024-03-01T00:00:00Z",
        "2024-04-30T00:00:00Z",
        Europe::Berlin,
    );
    let hours: Vec<i64> = exp
        .instances
        .iter()
        .map(|i| (i.end - i.start).num_hours())
        .collect();
    assert_eq!(hours, vec![24, 23, 24]);
    assert!(
        only(
            &run(
                text,
                "2024-03-31T12:00:00Z",
                "2024-03-31T13:00:00Z",
                Europe::Berlin
            ),
            "e"
        )
        .all_day
    );
}
