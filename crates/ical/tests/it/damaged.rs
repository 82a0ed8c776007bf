//! RRULEs damaged by exporters: the readable parts are kept (with a warning), never the
//! whole series dropped, since a dropped series frees busy time to double-book.

use super::{fixture, run, spans};
use chrono_tz::Europe::Berlin;

fn january() -> calsync_ical::Expansion {
    run(
        &fixture("damaged-rrule.ics"),
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        Berlin,
    )
}

fn warnings_about<'a>(exp: &'a calsync_ical::Expansion, needle: &str) -> Vec<&'a String> {
    exp.warnings.iter().filter(|w| w.contains(needle)).collect()
}

#[test]
fn a_doubled_rrule_prefix_and_a_garbage_part_keep_the_weekly_series() {
    let exp = january();
    let got = spans(&exp, "sl-7f3e1c20-series-mo-tu@salonline");
    assert_eq!(got.len(), 8, "{got:?}");
    assert_eq!(got[0], "2026-01-05T08:00Z..2026-01-05T09:00Z");
    assert_eq!(got[1], "2026-01-06T08:00Z..2026-01-06T09:00Z");
    assert_eq!(got[7], "2026-01-27T08:00Z..2026-01-27T09:00Z");
    assert_eq!(
        warnings_about(&exp, "AnythingRandom").len(),
        1,
        "{:?}",
        exp.warnings
    );
    assert_eq!(
        warnings_about(&exp, "repeated").len(),
        1,
        "{:?}",
        exp.warnings
    );
}

#[test]
fn an_unknown_part_is_dropped_and_a_dashed_until_still_ends_the_series() {
    let exp = january();
    assert_eq!(
        spans(&exp, "sl-7f3e1c21-series-we@salonline"),
        vec![
            "2026-01-07T13:00Z..2026-01-07T14:00Z",
            "2026-01-14T13:00Z..2026-01-14T14:00Z",
            "2026-01-21T13:00Z..2026-01-21T14:00Z",
        ]
    );
    assert_eq!(warnings_about(&exp, "X-SL-SERIES-ID").len(), 1);
    assert_eq!(warnings_about(&exp, "UNTIL").len(), 1);
}

#[test]
fn a_bad_byday_item_is_dropped_and_the_good_one_kept() {
    let exp = run(
        &fixture("damaged-rrule.ics"),
        "2026-01-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
        Berlin,
    );
    assert_eq!(
        spans(&exp, "sl-7f3e1c22-monthly@salonline"),
        vec![
            "2026-01-05T15:00Z..2026-01-05T16:00Z",
            "2026-02-02T15:00Z..2026-02-02T16:00Z",
            "2026-03-02T15:00Z..2026-03-02T16:00Z",
        ]
    );
    assert_eq!(
        warnings_about(&exp, "\"XX\"").len(),
        1,
        "{:?}",
        exp.warnings
    );
}

#[test]
fn a_rule_whose_freq_is_lost_leaves_the_event_as_one_occurrence_with_a_warning() {
    let exp = january();
    assert_eq!(
        spans(&exp, "sl-7f3e1c23-no-freq@salonline"),
        vec!["2026-01-09T10:00Z..2026-01-09T11:00Z"]
    );
    let w = warnings_about(&exp, "no readable FREQ");
    assert_eq!(w.len(), 1, "{:?}", exp.warnings);
    assert!(w[0].contains("RRULE ignored"), "{w:?}");
}

#[test]
fn a_clean_series_in_the_same_feed_is_untouched_and_unwarned() {
    let exp = january();
    assert_eq!(
        spans(&exp, "sl-7f3e1c24-clean@salonline"),
        vec![
            "2026-01-08T07:00Z..2026-01-08T07:30Z",
            "2026-01-15T07:00Z..2026-01-15T07:30Z",
        ]
    );
    // One warning per repair, each naming a damaged rule's line; none for this one.
    assert_eq!(exp.warnings.len(), 6, "{:#?}", exp.warnings);
    assert!(
        exp.warnings
            .iter()
            .all(|w| ["line 12:", "line 20:", "line 28:", "line 36:"]
                .iter()
                .any(|l| w.starts_with(l))),
        "{:#?}",
        exp.warnings
    );
}

#[test]
fn out_of_range_values_are_dropped_rather_than_losing_the_series() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:r\nDTSTART:20260105T090000Z\nDURATION:PT1H\n\
                RRULE:FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=5;BYHOUR=9,25\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(text, "2026-01-01T00:00:00Z", "2026-01-20T00:00:00Z", Berlin);
    assert_eq!(
        spans(&exp, "r"),
        vec![
            "2026-01-05T09:00Z..2026-01-05T10:00Z",
            "2026-01-12T09:00Z..2026-01-12T10:00Z",
            "2026-01-19T09:00Z..2026-01-19T10:00Z",
        ]
    );
    assert_eq!(exp.warnings.len(), 2, "{:?}", exp.warnings);
}

#[test]
fn the_cli_answer_blocks_the_recovered_series() {
    let json = calsync_ical::busy_json(
        &fixture("damaged-rrule.ics"),
        super::t("2026-01-12T00:00:00Z"),
        super::t("2026-01-13T00:00:00Z"),
        Berlin,
    )
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"busy": [{
            "uid": "sl-7f3e1c20-series-mo-tu@salonline",
            "start": "2026-01-12T08:00:00Z",
            "end": "2026-01-12T09:00:00Z"
        }]})
    );
}
