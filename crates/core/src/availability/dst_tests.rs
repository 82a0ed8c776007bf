//! Worked examples on the days clocks change: Berlin and New York in 2026, Chile at midnight.

use super::tests::{minutes, range, t, wh, Case};
use super::*;
use chrono_tz::{America::New_York, Europe::Berlin, UTC};

/// A Sunday (the four 2026 clock changes all fall on one) with hourly slots in `tz`.
fn sunday(tz: Tz, day: &str, hours: &[WorkingHours]) -> Vec<String> {
    let from = t(&format!("{day}T00:00:00Z")) - Duration::days(1);
    let case = Case {
        tz,
        hours,
        busy: &[],
        window: TimeRange {
            start: from,
            end: from + Duration::days(3),
        },
        now: from - Duration::days(1),
        policy: SlotPolicy {
            step: minutes(60),
            ..SlotPolicy::new(minutes(60))
        },
    };
    case.starts()
}

#[test]
fn berlin_spring_forward_keeps_nine_to_five_at_eight_real_hours() {
    let starts = sunday(Berlin, "2026-03-29", &[wh(7, "09:00", "17:00")]);
    assert_eq!(starts.len(), 8);
    assert_eq!(starts[0], "2026-03-29T09:00:00+02:00");
    assert_eq!(starts[7], "2026-03-29T16:00:00+02:00");
}

#[test]
fn berlin_spring_forward_shrinks_blocks_to_the_hours_that_exist() {
    assert!(sunday(Berlin, "2026-03-29", &[wh(7, "02:00", "03:00")]).is_empty());
    let starts = sunday(Berlin, "2026-03-29", &[wh(7, "01:00", "04:00")]);
    assert_eq!(
        starts,
        ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]
    );
    let starts = sunday(Berlin, "2026-03-29", &[wh(7, "02:30", "04:00")]);
    assert_eq!(
        starts,
        ["2026-03-29T03:00:00+02:00"],
        "the start moves to the end of the gap"
    );
}

#[test]
fn berlin_fall_back_covers_the_repeated_hour_twice() {
    let starts = sunday(Berlin, "2026-10-25", &[wh(7, "09:00", "17:00")]);
    assert_eq!(starts.len(), 8);
    assert_eq!(starts[0], "2026-10-25T09:00:00+01:00");
    let starts = sunday(Berlin, "2026-10-25", &[wh(7, "01:00", "04:00")]);
    let expected = [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ];
    assert_eq!(starts, expected);
    let starts = sunday(Berlin, "2026-10-25", &[wh(7, "00:00", "02:00")]);
    assert_eq!(
        starts,
        ["2026-10-25T00:00:00+02:00", "2026-10-25T01:00:00+02:00"],
        "ends at the first 02:00"
    );
}

#[test]
fn new_york_spring_forward_loses_the_two_oclock_hour() {
    let starts = sunday(New_York, "2026-03-08", &[wh(7, "09:00", "17:00")]);
    assert_eq!(starts.len(), 8);
    assert_eq!(starts[0], "2026-03-08T09:00:00-04:00");
    let starts = sunday(New_York, "2026-03-08", &[wh(7, "01:00", "04:00")]);
    assert_eq!(
        starts,
        ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"]
    );
}

#[test]
fn new_york_fall_back_makes_midnight_to_three_four_real_hours() {
    let starts = sunday(New_York, "2026-11-01", &[wh(7, "09:00", "17:00")]);
    assert_eq!(starts.len(), 8);
    assert_eq!(starts[0], "2026-11-01T09:00:00-05:00");
    let starts = sunday(New_York, "2026-11-01", &[wh(7, "00:00", "03:00")]);
    let expected = [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ];
    assert_eq!(starts, expected);
}

#[test]
fn a_slot_is_rendered_with_the_specialists_offset_of_that_day() {
    assert_eq!(
        to_local_rfc3339(t("2026-03-30T08:00:00Z"), Berlin),
        "2026-03-30T10:00:00+02:00"
    );
    assert_eq!(
        to_local_rfc3339(t("2026-01-05T09:00:00Z"), Berlin),
        "2026-01-05T10:00:00+01:00"
    );
    assert_eq!(
        to_local_rfc3339(t("2026-01-05T09:00:00Z"), UTC),
        "2026-01-05T09:00:00+00:00"
    );
}

#[test]
fn working_intervals_are_clipped_to_the_window_and_merged() {
    let hours = [
        wh(1, "09:00", "12:00"),
        wh(1, "12:00", "17:00"),
        wh(2, "09:00", "10:00"),
    ];
    let window = range("2026-01-05T10:00:00Z", "2026-01-06T09:30:00Z");
    let blocks = working_intervals(Berlin, &hours, window);
    let expected = vec![
        range("2026-01-05T10:00:00Z", "2026-01-05T16:00:00Z"),
        range("2026-01-06T08:00:00Z", "2026-01-06T09:00:00Z"),
    ];
    assert_eq!(blocks, Ok(expected));
}

#[test]
fn a_block_ending_where_the_repeated_hour_begins_ends_at_its_first_pass() {
    // Chile falls back at Saturday 24:00 (-03) to 23:00 (-04) on 4 April 2026.
    let hours = [wh(6, "21:00", "23:00")];
    let santiago = chrono_tz::America::Santiago;
    let window = range("2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z");
    let blocks = working_intervals(santiago, &hours, window);
    assert_eq!(
        blocks,
        Ok(vec![range("2026-04-05T00:00:00Z", "2026-04-05T02:00:00Z")])
    );
}
