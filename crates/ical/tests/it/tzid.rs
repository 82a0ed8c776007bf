//! TZIDs that are Outlook / Exchange display names with commas: escaped (`\,`) in the
//! VTIMEZONE, quoted in the event's parameters, sometimes neither.

use super::{fixture, run, spans};
use chrono_tz::UTC;

const SERIES: &str = "040000008200E00074C5B7101A82E00800000000D0C3E2A5F35ADC0100000000000000001000000058C1D7D1E9A5F4498DF8D3C7A4E8B1F2";
const BERLIN: &str = "040000008200E00074C5B7101A82E00800000000E1D4F3B6046BED01000000000000000010000000AAAABBBBCCCCDDDDEEEEFFFF00001111";
const TORONTO: &str = "040000008200E00074C5B7101A82E00800000000F2E504C7157CFE01000000000000000010000000123456789ABCDEF0123456789ABCDEF";

fn december() -> calsync_ical::Expansion {
    run(
        &fixture("exchange-display-names.ics"),
        "2026-11-30T00:00:00Z",
        "2027-01-01T00:00:00Z",
        UTC,
    )
}

#[test]
fn a_quoted_tzid_with_commas_uses_the_vtimezone_written_with_escaped_commas() {
    let exp = december();
    assert_eq!(
        spans(&exp, SERIES),
        vec![
            "2026-12-01T02:00Z..2026-12-01T03:00Z",
            "2026-12-15T07:00Z..2026-12-15T08:00Z",
            "2026-12-22T02:00Z..2026-12-22T03:00Z",
        ],
        "EXDATE and RECURRENCE-ID carry the same quoted TZID and must match instances"
    );
}

#[test]
fn display_names_with_commas_and_dst_rules_follow_their_vtimezone() {
    let exp = december();
    assert_eq!(
        spans(&exp, BERLIN),
        vec!["2026-12-02T15:00Z..2026-12-02T16:00Z"]
    );
    assert_eq!(
        spans(&exp, TORONTO),
        vec!["2026-12-03T14:00Z..2026-12-03T14:30Z"]
    );
}

#[test]
fn an_unquoted_tzid_with_escaped_commas_is_read_whole() {
    let exp = december();
    assert_eq!(
        spans(&exp, "unquoted-display-name@exchange"),
        vec!["2026-12-04T02:00Z..2026-12-04T02:30Z"]
    );
}

#[test]
fn no_display_name_is_reported_as_an_unknown_zone() {
    let exp = december();
    assert!(
        exp.warnings.iter().all(|w| !w.contains("TZID")),
        "{:?}",
        exp.warnings
    );
}

#[test]
fn a_display_name_tzid_without_its_vtimezone_still_falls_back_with_a_warning() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:lonely\n\
                DTSTART;TZID=\"(UTC+07:00) Bangkok, Hanoi, Jakarta\":20261201T090000\n\
                DURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(text, "2026-11-30T00:00:00Z", "2027-01-01T00:00:00Z", UTC);
    assert_eq!(
        spans(&exp, "lonely"),
        vec!["2026-12-01T09:00Z..2026-12-01T10:00Z"]
    );
    assert_eq!(exp.warnings.len(), 1, "{:?}", exp.warnings);
}

#[test]
fn an_escaped_windows_zone_name_still_uses_the_iana_database() {
    // The file's VTIMEZONE of this name is wrong on purpose: Windows names use IANA rules.
    let text = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:SE Asia Standard Time\nBEGIN:STANDARD\n\
                DTSTART:16010101T000000\nTZOFFSETFROM:+0300\nTZOFFSETTO:+0300\nEND:STANDARD\n\
                END:VTIMEZONE\nBEGIN:VEVENT\nUID:win\n\
                DTSTART;TZID=\"SE Asia Standard Time\":20261201T090000\nDURATION:PT1H\n\
                END:VEVENT\nEND:VCALENDAR\n";
    let exp = run(text, "2026-11-30T00:00:00Z", "2027-01-01T00:00:00Z", UTC);
    assert_eq!(
        spans(&exp, "win"),
        vec!["2026-12-01T02:00Z..2026-12-01T03:00Z"]
    );
}

#[test]
fn escaped_commas_inside_the_quotes_match_the_same_vtimezone() {
    let text = fixture("exchange-display-names.ics").replace(
        "DTSTART;TZID=\"(UTC+07:00) Bangkok, Hanoi, Jakarta\":20261201T090000",
        "DTSTART;TZID=\"(UTC+07:00) Bangkok\\, Hanoi\\, Jakarta\":20261201T090000",
    );
    let exp = run(&text, "2026-11-30T00:00:00Z", "2026-12-02T00:00:00Z", UTC);
    assert_eq!(
        spans(&exp, SERIES),
        vec!["2026-12-01T02:00Z..2026-12-01T03:00Z"]
    );
}
