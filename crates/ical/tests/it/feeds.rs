//! Exports shaped like Google, Outlook / Office 365, iCloud, Nextcloud and Thunderbird.

use super::{fixture, only, run, spans};
use calsync_core::EventStatus;
use chrono_tz::{America, Europe};
use std::time::Duration;

#[test]
fn google_utc_series_follow_the_calendar_zone_across_dst_with_moves_cancels_and_exdates() {
    let exp = run(
        &fixture("google.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-15T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(&exp, "weekly-standup@google.com"),
        vec![
            "2024-03-04T08:00Z..2024-03-04T09:00Z",
            "2024-03-11T08:00Z..2024-03-11T09:00Z",
            "2024-03-18T13:00Z..2024-03-18T14:00Z",
            "2024-04-08T07:00Z..2024-04-08T08:00Z",
        ]
    );
    let moved = exp
        .instances
        .iter()
        .find(|i| i.summary.as_deref() == Some("Weekly standup (moved)"));
    assert_eq!(
        moved.map(|i| i.instance_id.as_str()),
        Some("weekly-standup@google.com/20240318T080000Z")
    );
}

#[test]
fn google_all_day_floating_and_foreign_zone_events_land_where_expected() {
    let exp = run(
        &fixture("google.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-15T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(&exp, "holiday@google.com"),
        vec!["2024-03-28T23:00Z..2024-03-29T23:00Z"]
    );
    let offsite = only(&exp, "offsite@google.com");
    assert!(
        offsite.all_day && !offsite.blocks,
        "transparent all-day is shown, not busy"
    );
    assert_eq!(
        spans(&exp, "floating@google.com"),
        vec!["2024-03-20T09:00Z..2024-03-20T09:30Z"]
    );
    let ny = only(&exp, "ny-client@google.com");
    assert_eq!(ny.start, super::t("2024-03-12T13:00:00Z"));
    assert_eq!(ny.status, EventStatus::Tentative);
    assert!(ny.blocks, "tentative is busy");
    assert!(exp.warnings.is_empty(), "{:?}", exp.warnings);
}

#[test]
fn google_instances_are_sorted_by_start_and_have_unique_ids() {
    let exp = run(
        &fixture("google.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-15T00:00:00Z",
        Europe::Berlin,
    );
    assert!(exp.instances.windows(2).all(|w| w[0].start <= w[1].start));
    let mut ids: Vec<&str> = exp
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[test]
fn outlook_windows_zone_names_use_iana_rules_not_the_embedded_vtimezone() {
    let exp = run(
        &fixture("outlook.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-15T00:00:00Z",
        Europe::Berlin,
    );
    let uid = "040000008200E00074C5B7101A82E00800000000A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5";
    assert_eq!(
        spans(&exp, uid),
        vec![
            "2024-03-05T09:00Z..2024-03-05T10:00Z",
            "2024-03-12T09:00Z..2024-03-12T10:00Z",
            "2024-03-19T09:00Z..2024-03-19T10:00Z",
            "2024-03-26T09:00Z..2024-03-26T10:00Z",
            "2024-04-02T08:00Z..2024-04-02T09:00Z",
            "2024-04-09T08:00Z..2024-04-09T09:00Z",
        ]
    );
    assert_eq!(exp.refresh_interval, Some(Duration::from_secs(30 * 60)));
}

#[test]
fn outlook_custom_vtimezone_rules_decide_offsets_of_other_tzids() {
    let exp = run(
        &fixture("outlook.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-15T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(
            &exp,
            "040000008200E00074C5B7101A82E008000000001111111111111111"
        ),
        vec![
            "2024-03-09T14:00Z..2024-03-09T14:30Z",
            "2024-03-10T13:00Z..2024-03-10T13:30Z",
            "2024-03-11T13:00Z..2024-03-11T13:30Z",
        ]
    );
}

#[test]
fn outlook_free_tentative_and_all_day_events_are_classified() {
    let exp = run(
        &fixture("outlook.ics"),
        "2024-03-01T00:00:00Z",
        "2024-04-15T00:00:00Z",
        Europe::Berlin,
    );
    let boston = only(
        &exp,
        "040000008200E00074C5B7101A82E008000000002222222222222222",
    );
    assert_eq!(boston.start, super::t("2024-03-15T13:00:00Z"));
    assert!(boston.blocks);
    let lunch = only(
        &exp,
        "040000008200E00074C5B7101A82E008000000003333333333333333",
    );
    assert!(!lunch.blocks);
    assert_eq!(
        spans(
            &exp,
            "040000008200E00074C5B7101A82E008000000004444444444444444"
        ),
        vec!["2024-03-31T22:00Z..2024-04-01T22:00Z"]
    );
}

#[test]
fn icloud_daily_series_keeps_local_time_across_the_autumn_change() {
    let exp = run(
        &fixture("icloud.ics"),
        "2024-10-20T00:00:00Z",
        "2024-11-15T00:00:00Z",
        Europe::Berlin,
    );
    let physio = spans(&exp, "5F1C2A4E-8D3B-4C1A-9E2F-1234567890AB");
    assert_eq!(physio.len(), 10);
    assert_eq!(physio[0], "2024-10-21T07:00Z..2024-10-21T08:30Z");
    assert_eq!(physio[5], "2024-10-26T07:00Z..2024-10-26T08:30Z");
    assert_eq!(physio[6], "2024-10-27T08:00Z..2024-10-27T09:30Z");
    assert_eq!(physio[9], "2024-10-30T08:00Z..2024-10-30T09:30Z");
}

#[test]
fn icloud_rdates_with_duration_and_a_multi_day_all_day_event_expand() {
    let exp = run(
        &fixture("icloud.ics"),
        "2024-10-20T00:00:00Z",
        "2024-11-15T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(&exp, "7A2B3C4D-0000-4000-8000-ABCDEFABCDEF"),
        vec![
            "2024-10-26T13:00Z..2024-10-26T15:00Z",
            "2024-11-02T11:00Z..2024-11-02T13:00Z",
            "2024-11-09T11:00Z..2024-11-09T13:00Z",
        ]
    );
    assert_eq!(
        spans(&exp, "9C8D7E6F-1111-4222-8333-444455556666"),
        vec!["2024-10-25T22:00Z..2024-10-28T23:00Z"]
    );
    assert!(exp.warnings.is_empty(), "{:?}", exp.warnings);
}

#[test]
fn nextcloud_file_with_two_calendars_expands_both_and_skips_the_broken_event() {
    let exp = run(
        &fixture("nextcloud.ics"),
        "2024-01-01T00:00:00Z",
        "2024-04-01T00:00:00Z",
        America::New_York,
    );
    assert_eq!(
        spans(&exp, "a1b2c3d4-e5f6-4a5b-9c8d-0e1f2a3b4c5d"),
        vec![
            "2024-01-09T19:00Z..2024-01-09T20:00Z",
            "2024-03-12T18:00Z..2024-03-12T19:00Z"
        ]
    );
    assert_eq!(
        spans(&exp, "f0e1d2c3-b4a5-4968-8776-655443322110"),
        vec![
            "2024-03-05T13:00Z..2024-03-05T13:30Z",
            "2024-03-07T13:00Z..2024-03-07T13:30Z",
            "2024-03-12T12:00Z..2024-03-12T12:30Z",
            "2024-03-14T12:00Z..2024-03-14T12:30Z",
        ]
    );
    assert!(spans(&exp, "broken-1@nextcloud").is_empty());
    assert_eq!(exp.warnings.len(), 1, "{:?}", exp.warnings);
    assert!(exp.warnings[0].contains("DTSTART"));
    assert_eq!(exp.refresh_interval, Some(Duration::from_secs(4 * 3600)));
}

#[test]
fn nextcloud_event_without_end_is_listed_but_blocks_nothing() {
    let exp = run(
        &fixture("nextcloud.ics"),
        "2024-01-01T00:00:00Z",
        "2024-04-01T00:00:00Z",
        America::New_York,
    );
    let reminder = only(&exp, "deadbeef-0000-4000-8000-000000000001");
    assert_eq!(reminder.start, reminder.end);
    assert!(!reminder.blocks);
}

#[test]
fn thunderbird_this_and_future_override_moves_the_rest_of_the_series() {
    let exp = run(
        &fixture("thunderbird.ics"),
        "2024-03-01T00:00:00Z",
        "2024-05-01T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(&exp, "3b6f1c2e-4d5a-4e6b-8c7d-9e0f1a2b3c4d"),
        vec![
            "2024-03-06T17:00Z..2024-03-06T18:30Z",
            "2024-03-13T17:00Z..2024-03-13T18:30Z",
            "2024-03-20T17:00Z..2024-03-20T18:30Z",
            "2024-03-27T17:00Z..2024-03-27T18:30Z",
            "2024-04-03T17:00Z..2024-04-03T18:00Z",
            "2024-04-10T17:00Z..2024-04-10T18:00Z",
            "2024-04-17T17:00Z..2024-04-17T18:00Z",
            "2024-04-24T17:00Z..2024-04-24T18:00Z",
        ]
    );
    let ids: Vec<&str> = exp
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    assert!(
        ids.contains(&"3b6f1c2e-4d5a-4e6b-8c7d-9e0f1a2b3c4d/20240410T160000Z"),
        "{ids:?}"
    );
}

#[test]
fn thunderbird_cancelled_events_vanish_and_tentative_ones_block() {
    let exp = run(
        &fixture("thunderbird.ics"),
        "2024-03-01T00:00:00Z",
        "2024-05-01T00:00:00Z",
        Europe::Berlin,
    );
    assert!(spans(&exp, "c4nc3113d-0000-4000-8000-000000000000").is_empty());
    let maybe = only(&exp, "tentative-tb@local");
    assert!(maybe.blocks);
    assert_eq!(maybe.status, EventStatus::Tentative);
}

#[test]
fn busy_json_lists_only_blocking_instances_in_utc() {
    let json = calsync_ical::busy_json(
        &fixture("outlook.ics"),
        super::t("2024-03-14T00:00:00Z"),
        super::t("2024-03-16T00:00:00Z"),
        Europe::Berlin,
    )
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"busy": [{
            "uid": "040000008200E00074C5B7101A82E008000000002222222222222222",
            "start": "2024-03-15T13:00:00Z",
            "end": "2024-03-15T14:00:00Z"
        }]})
    );
}

#[test]
fn an_iana_tzid_ignores_a_wrong_vtimezone_of_the_same_name() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Europe/Berlin\nBEGIN:STANDARD\nDTSTART:19700101T000000\n\
                TZOFFSETFROM:+0500\nTZOFFSETTO:+0500\nEND:STANDARD\nEND:VTIMEZONE\nBEGIN:VEVENT\nUID:e\n\
                DTSTART;TZID=Europe/Berlin:20240701T090000\nDURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(
        text,
        "2024-06-01T00:00:00Z",
        "2024-08-01T00:00:00Z",
        America::New_York,
    );
    assert_eq!(
        spans(&exp, "e"),
        vec!["2024-07-01T07:00Z..2024-07-01T08:00Z"]
    );
}

#[test]
fn an_unknown_tzid_without_vtimezone_is_read_as_floating_with_a_warning() {
    let text = "BEGIN:VCALENDAR\nX-WR-TIMEZONE:Asia/Tokyo\nBEGIN:VEVENT\nUID:e\n\
                DTSTART;TZID=Somewhere Odd:20240701T090000\nDURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n";
    let exp = run(
        text,
        "2024-06-01T00:00:00Z",
        "2024-08-01T00:00:00Z",
        Europe::Berlin,
    );
    assert_eq!(
        spans(&exp, "e"),
        vec!["2024-07-01T00:00Z..2024-07-01T01:00Z"]
    );
    assert_eq!(exp.warnings.len(), 1);
}
