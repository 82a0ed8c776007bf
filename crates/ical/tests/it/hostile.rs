//! Hostile and broken input: bounded work, warnings instead of failures, never a panic.

use super::{run, t};
use calsync_ical::{expand, IcalError, Limits, Window};
use chrono_tz::UTC;
use std::time::Instant;

fn window() -> Window {
    Window {
        from: t("2024-01-01T00:00:00Z"),
        to: t("2025-01-01T00:00:00Z"),
    }
}

const EVENT: &str = "BEGIN:VEVENT\nUID:ok\nDTSTART:20240601T100000Z\nDURATION:PT1H\nEND:VEVENT\n";

#[test]
fn deep_nesting_is_cut_at_the_depth_limit() {
    let mut text = String::from("BEGIN:VCALENDAR\n");
    text.push_str(&"BEGIN:X-DEEP\n".repeat(50_000));
    text.push_str(&"END:X-DEEP\n".repeat(50_000));
    text.push_str(EVENT);
    text.push_str("END:VCALENDAR\n");
    let exp = expand(&text, window(), UTC, &Limits::default()).unwrap();
    assert_eq!(exp.instances.len(), 1);
    assert!(exp.warnings.iter().any(|w| w.contains("nested too deeply")));
}

#[test]
fn a_huge_line_is_dropped_and_the_rest_of_the_feed_survives() {
    let text = format!(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:big\nDTSTART:20240601T100000Z\nDESCRIPTION:{}\nEND:VEVENT\n{EVENT}END:VCALENDAR\n",
        "x".repeat(4 * 1024 * 1024)
    );
    let exp = expand(&text, window(), UTC, &Limits::default()).unwrap();
    assert!(exp.instances.iter().any(|i| i.uid == "ok"));
    assert!(exp.warnings.iter().any(|w| w.contains("line limit")));
}

#[test]
fn an_unbounded_secondly_rule_is_capped_and_returns_quickly() {
    let text =
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:storm\nDTSTART:20231231T000000Z\nDURATION:PT1S\n\
                RRULE:FREQ=SECONDLY\nEND:VEVENT\nEND:VCALENDAR\n";
    let limits = Limits {
        max_instances_per_series: 5_000,
        ..Limits::default()
    };
    let started = Instant::now();
    let exp = expand(text, window(), UTC, &limits).unwrap();
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
    assert!(exp.instances.len() <= 5_000);
    assert!(exp.warnings.iter().any(|w| w.contains("cap")));
}

#[test]
fn many_series_are_cut_at_the_total_instance_cap() {
    let mut text = String::from("BEGIN:VCALENDAR\n");
    for i in 0..50 {
        text.push_str(&format!(
            "BEGIN:VEVENT\nUID:s{i}\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nEND:VEVENT\n"
        ));
    }
    text.push_str("END:VCALENDAR\n");
    let limits = Limits {
        max_instances_total: 1_000,
        ..Limits::default()
    };
    let exp = expand(&text, window(), UTC, &limits).unwrap();
    assert_eq!(exp.instances.len(), 1_000);
    assert!(exp
        .warnings
        .iter()
        .any(|w| w.contains("the rest are dropped")));
}

#[test]
fn garbage_bytes_are_not_an_icalendar_file() {
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(
        expand(&text, window(), UTC, &Limits::default()),
        Err(IcalError::NotICalendar)
    );
    assert_eq!(
        expand("<html>404</html>", window(), UTC, &Limits::default()),
        Err(IcalError::NotICalendar)
    );
}

#[test]
fn a_truncated_file_keeps_its_complete_events() {
    let text = format!("BEGIN:VCALENDAR\n{EVENT}BEGIN:VEVENT\nUID:cut\nDTSTART:2024060");
    let exp = expand(&text, window(), UTC, &Limits::default()).unwrap();
    let uids: Vec<&str> = exp.instances.iter().map(|i| i.uid.as_str()).collect();
    assert_eq!(uids, vec!["ok"]);
    assert!(exp.warnings.iter().any(|w| w.contains("truncated")));
}

#[test]
fn a_feed_over_the_size_limit_is_refused() {
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let text = format!("BEGIN:VCALENDAR\n{EVENT}{EVENT}END:VCALENDAR\n");
    assert!(matches!(
        expand(&text, window(), UTC, &limits),
        Err(IcalError::TooLarge { .. })
    ));
}

#[test]
fn a_broken_event_is_skipped_with_a_warning_and_others_are_kept() {
    let text = format!(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:bad-start\nDTSTART:20240631T100000Z\nRRULE:FREQ=DAILY\nEND:VEVENT\n\
         BEGIN:VEVENT\nUID:no-start\nSUMMARY:x\nEND:VEVENT\n{EVENT}END:VCALENDAR\n"
    );
    let exp = run(&text, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", UTC);
    let uids: Vec<&str> = exp.instances.iter().map(|i| i.uid.as_str()).collect();
    assert_eq!(uids, vec!["ok"]);
    assert_eq!(exp.warnings.len(), 2, "{:?}", exp.warnings);
}

#[test]
fn rules_that_never_match_and_extreme_values_end_without_instances() {
    for rule in [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4",
        "FREQ=DAILY;INTERVAL=65535",
        "FREQ=YEARLY;COUNT=4294967295;BYSETPOS=-366;BYYEARDAY=-366",
        "FREQ=WEEKLY;UNTIL=19000101T000000Z",
    ] {
        let text = format!(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:r\nDTSTART:20240601T100000Z\nDURATION:PT1H\nRRULE:{rule}\nEND:VEVENT\nEND:VCALENDAR\n"
        );
        let started = Instant::now();
        let exp = expand(&text, window(), UTC, &Limits::default()).unwrap();
        assert!(exp.instances.len() <= 2, "{rule}: {:?}", exp.instances);
        assert!(
            started.elapsed().as_secs() < 20,
            "{rule} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_window_that_ends_before_it_starts_is_an_error() {
    let w = Window {
        from: t("2025-01-01T00:00:00Z"),
        to: t("2024-01-01T00:00:00Z"),
    };
    assert!(matches!(
        expand("BEGIN:VCALENDAR\n", w, UTC, &Limits::default()),
        Err(IcalError::InvalidWindow { .. })
    ));
}

#[test]
fn warnings_are_capped_for_feeds_full_of_junk() {
    let mut text = String::from("BEGIN:VCALENDAR\n");
    text.push_str(&"this is not a content line\n".repeat(5_000));
    text.push_str(EVENT);
    text.push_str("END:VCALENDAR\n");
    let exp = expand(&text, window(), UTC, &Limits::default()).unwrap();
    assert_eq!(exp.instances.len(), 1);
    assert_eq!(exp.warnings.len(), 1_001);
    assert!(exp.warnings[1_000].contains("more warnings"));
}

#[test]
fn a_non_ascii_byday_found_by_fuzzing_is_dropped_with_a_warning_not_a_panic() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:f\nDTSTART:20240601T100000Z\nRRULE:FREQ=WEEKLY;BYDAY=1\u{20ac},M\u{fffd}\n\
                END:VEVENT\nEND:VCALENDAR\n";
    let exp = expand(text, window(), UTC, &Limits::default()).unwrap();
    // Without its unreadable BYDAY the series recurs on its DTSTART's weekday, Saturday.
    assert_eq!(exp.instances.len(), 31);
    assert!(exp
        .instances
        .iter()
        .all(|i| i.start.format("%a %H:%M").to_string() == "Sat 10:00"));
    assert!(
        exp.warnings.iter().any(|w| w.contains("BYDAY")),
        "{:?}",
        exp.warnings
    );
}

#[test]
fn every_fuzz_corpus_seed_expands_in_several_zones_without_panicking() {
    let dir = format!("{}/fuzz/corpus/expand", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for tz in [
            UTC,
            chrono_tz::Europe::Berlin,
            chrono_tz::Australia::Lord_Howe,
        ] {
            let _ = expand(&text, window(), tz, &Limits::default());
        }
        seen += 1;
    }
    assert!(seen >= 15, "{seen} seeds in {dir}");
}
