//! Worked examples of the slot policy on ordinary days, and the helpers the DST examples share.

use super::*;
use chrono_tz::UTC;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap_or_default()
}

pub(super) fn wh(weekday: u8, start: &str, end: &str) -> WorkingHours {
    WorkingHours {
        weekday,
        start: hm(start),
        end: hm(end),
    }
}

pub(super) fn range(start: &str, end: &str) -> TimeRange {
    TimeRange {
        start: t(start),
        end: t(end),
    }
}

pub(super) fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

/// Monday 5 January 2026, whole day in UTC.
pub(super) const MONDAY: (&str, &str) = ("2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z");

pub(super) struct Case<'a> {
    pub(super) tz: Tz,
    pub(super) hours: &'a [WorkingHours],
    pub(super) busy: &'a [TimeRange],
    pub(super) window: TimeRange,
    pub(super) now: DateTime<Utc>,
    pub(super) policy: SlotPolicy,
}

impl<'a> Case<'a> {
    pub(super) fn monday(hours: &'a [WorkingHours], duration: i64) -> Self {
        Self {
            tz: UTC,
            hours,
            busy: &[],
            window: range(MONDAY.0, MONDAY.1),
            now: t("2026-01-01T00:00:00Z"),
            policy: SlotPolicy::new(minutes(duration)),
        }
    }

    pub(super) fn run(&self) -> Result<Vec<TimeRange>, AvailabilityError> {
        compute_slots(&AvailabilityQuery {
            tz: self.tz,
            hours: self.hours,
            busy: self.busy,
            window: self.window,
            now: self.now,
            policy: self.policy,
        })
    }

    pub(super) fn starts(&self) -> Vec<String> {
        let slots = self.run().unwrap_or_default();
        slots
            .iter()
            .map(|s| to_local_rfc3339(s.start, self.tz))
            .collect()
    }
}

fn has(starts: &[String], s: &str) -> bool {
    starts.iter().any(|x| x == s)
}

#[test]
fn nine_to_five_with_hour_slots_offers_ten_and_two_when_free() {
    let hours = [wh(1, "09:00", "17:00")];
    let slots = Case::monday(&hours, 60).run();
    let slots = slots.unwrap_or_default();
    assert_eq!(slots.len(), 15, "09:00, 09:30, … 16:00");
    assert!(slots.contains(&range("2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z")));
    assert!(slots.contains(&range("2026-01-05T14:00:00Z", "2026-01-05T15:00:00Z")));
    assert_eq!(
        slots.last(),
        Some(&range("2026-01-05T16:00:00Z", "2026-01-05T17:00:00Z"))
    );
    assert!(slots.iter().all(|s| s.duration() == minutes(60)));
}

#[test]
fn a_busy_quarter_past_ten_removes_every_slot_it_overlaps() {
    let hours = [wh(1, "09:00", "17:00")];
    let busy = [range("2026-01-05T10:15:00Z", "2026-01-05T10:45:00Z")];
    let starts = Case {
        busy: &busy,
        ..Case::monday(&hours, 60)
    }
    .starts();
    for gone in ["09:30", "10:00", "10:30"] {
        assert!(
            !has(&starts, &format!("2026-01-05T{gone}:00+00:00")),
            "{gone} overlaps"
        );
    }
    assert!(has(&starts, "2026-01-05T09:00:00+00:00"));
    assert!(has(&starts, "2026-01-05T11:00:00+00:00"));
}

#[test]
fn a_busy_interval_that_only_touches_a_slot_leaves_it_free() {
    let hours = [wh(1, "09:00", "17:00")];
    let busy = [range("2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z")];
    let starts = Case {
        busy: &busy,
        ..Case::monday(&hours, 60)
    }
    .starts();
    assert!(has(&starts, "2026-01-05T09:00:00+00:00"));
    assert!(has(&starts, "2026-01-05T11:00:00+00:00"));
    assert!(!has(&starts, "2026-01-05T10:00:00+00:00"));
}

#[test]
fn buffers_widen_each_busy_interval_on_both_sides() {
    let hours = [wh(1, "09:00", "17:00")];
    let busy = [range("2026-01-05T12:00:00Z", "2026-01-05T13:00:00Z")];
    let mut case = Case {
        busy: &busy,
        ..Case::monday(&hours, 60)
    };
    let unbuffered = case.starts();
    assert!(has(&unbuffered, "2026-01-05T11:00:00+00:00"));
    assert!(has(&unbuffered, "2026-01-05T13:00:00+00:00"));
    case.policy.buffer_before = minutes(15);
    case.policy.buffer_after = minutes(15);
    let starts = case.starts();
    assert!(
        !has(&starts, "2026-01-05T11:00:00+00:00"),
        "ends inside the buffer before"
    );
    assert!(
        !has(&starts, "2026-01-05T13:00:00+00:00"),
        "starts inside the buffer after"
    );
    assert!(has(&starts, "2026-01-05T10:30:00+00:00"));
    assert!(has(&starts, "2026-01-05T13:30:00+00:00"));
}

#[test]
fn overlapping_and_unsorted_busy_intervals_are_all_respected() {
    let hours = [wh(1, "09:00", "17:00")];
    let busy = [
        range("2026-01-05T15:00:00Z", "2026-01-05T16:00:00Z"),
        range("2026-01-05T09:00:00Z", "2026-01-05T11:00:00Z"),
        range("2026-01-05T10:30:00Z", "2026-01-05T12:00:00Z"),
        range("2026-01-05T13:00:00Z", "2026-01-05T13:00:00Z"),
    ];
    let case = Case {
        busy: &busy,
        ..Case::monday(&hours, 60)
    };
    let slots = case.run().unwrap_or_default();
    let starts: Vec<_> = slots
        .iter()
        .map(|s| s.start.format("%H:%M").to_string())
        .collect();
    assert_eq!(
        starts,
        ["12:00", "12:30", "13:00", "13:30", "14:00", "16:00"]
    );
}

#[test]
fn an_empty_busy_interval_blocks_nothing_even_with_buffers() {
    let hours = [wh(1, "09:00", "17:00")];
    let busy = [range("2026-01-05T12:00:00Z", "2026-01-05T12:00:00Z")];
    let mut case = Case {
        busy: &busy,
        ..Case::monday(&hours, 60)
    };
    case.policy.buffer_before = minutes(30);
    case.policy.buffer_after = minutes(30);
    assert_eq!(case.starts().len(), 15);
}

#[test]
fn minimum_notice_drops_early_slots_but_keeps_the_grid_anchored_at_the_block_start() {
    let hours = [wh(1, "09:00", "17:00")];
    let mut case = Case::monday(&hours, 60);
    case.now = t("2026-01-05T09:10:00Z");
    case.policy.min_notice = minutes(60);
    let starts = case.starts();
    assert_eq!(
        starts.first().map(String::as_str),
        Some("2026-01-05T10:30:00+00:00")
    );
}

#[test]
fn a_window_starting_mid_block_keeps_the_grid_of_the_block() {
    let hours = [wh(1, "09:00", "17:00")];
    let mut case = Case::monday(&hours, 60);
    case.window = range("2026-01-05T09:10:00Z", "2026-01-05T12:30:00Z");
    let starts = case.starts();
    assert_eq!(
        starts.first().map(String::as_str),
        Some("2026-01-05T09:30:00+00:00")
    );
    assert_eq!(
        starts.last().map(String::as_str),
        Some("2026-01-05T11:30:00+00:00")
    );
}

#[test]
fn a_step_longer_than_the_duration_is_clamped_to_the_duration() {
    let hours = [wh(1, "09:00", "17:00")];
    let mut case = Case::monday(&hours, 45);
    case.policy.step = minutes(120);
    let slots = case.run().unwrap_or_default();
    assert_eq!(slots.len(), 10, "starts 09:00 + k·45min for k = 0..=9");
    assert!(slots.windows(2).all(|w| w[0].end == w[1].start));
}

#[test]
fn several_blocks_a_day_each_start_their_own_grid() {
    let hours = [wh(1, "13:00", "17:00"), wh(1, "09:00", "12:00")];
    let mut case = Case::monday(&hours, 60);
    case.policy.step = minutes(60);
    let slots = case.run().unwrap_or_default();
    let starts: Vec<_> = slots
        .iter()
        .map(|s| s.start.format("%H").to_string())
        .collect();
    assert_eq!(starts, ["09", "10", "11", "13", "14", "15", "16"]);
}

#[test]
fn overlapping_rules_list_each_slot_once_in_order() {
    let hours = [wh(1, "09:00", "12:00"), wh(1, "10:00", "13:00")];
    let slots = Case::monday(&hours, 60).run().unwrap_or_default();
    assert!(
        slots.windows(2).all(|w| w[0] < w[1]),
        "sorted and without duplicates"
    );
    assert_eq!(slots.len(), 7, "09:00 … 12:00 every 30 minutes");
}

#[test]
fn a_block_ending_at_midnight_runs_to_the_end_of_its_day() {
    let hours = [wh(1, "22:00", "00:00")];
    let slots = Case::monday(&hours, 60).run().unwrap_or_default();
    assert_eq!(
        slots.last(),
        Some(&range("2026-01-05T23:00:00Z", "2026-01-06T00:00:00Z"))
    );
    assert_eq!(slots.len(), 3);
}

#[test]
fn a_block_spanning_midnight_is_refused() {
    let hours = [wh(1, "22:00", "02:00")];
    let err = Case::monday(&hours, 60).run();
    assert!(matches!(
        err,
        Err(AvailabilityError::InvalidHours { weekday: 1, .. })
    ));
}

#[test]
fn malformed_queries_are_refused_with_the_matching_error() {
    let hours = [wh(1, "09:00", "17:00")];
    let base = || Case::monday(&hours, 60);
    let run = |f: &dyn Fn(&mut Case)| {
        let mut case = base();
        f(&mut case);
        case.run()
    };
    let empty = run(&|c| c.window = range(MONDAY.1, MONDAY.1));
    assert!(matches!(empty, Err(AvailabilityError::EmptyWindow { .. })));
    let long = run(&|c| c.window = range("2026-01-01T00:00:00Z", "2026-04-05T00:00:00Z"));
    assert_eq!(long, Err(AvailabilityError::WindowTooLong { days: 94 }));
    let zero = run(&|c| c.policy.duration = Duration::zero());
    assert_eq!(zero, Err(AvailabilityError::InvalidDuration { minutes: 0 }));
    let day_and_a_bit = run(&|c| c.policy.duration = minutes(24 * 60 + 1));
    assert_eq!(
        day_and_a_bit,
        Err(AvailabilityError::InvalidDuration { minutes: 1441 })
    );
    let step = run(&|c| c.policy.step = Duration::zero());
    assert_eq!(step, Err(AvailabilityError::InvalidStep { minutes: 0 }));
    let buffer = run(&|c| c.policy.buffer_after = minutes(-5));
    assert!(matches!(
        buffer,
        Err(AvailabilityError::InvalidBuffer { which: "after", .. })
    ));
    let notice = run(&|c| c.policy.min_notice = Duration::days(400));
    assert!(matches!(
        notice,
        Err(AvailabilityError::InvalidMinNotice { .. })
    ));
    let bad_day = [wh(8, "09:00", "17:00")];
    let day = Case::monday(&bad_day, 60).run();
    assert_eq!(day, Err(AvailabilityError::InvalidWeekday { weekday: 8 }));
    let backwards = [wh(3, "17:00", "09:00")];
    assert!(matches!(
        Case::monday(&backwards, 60).run(),
        Err(AvailabilityError::InvalidHours { .. })
    ));
    let empty_block = [wh(3, "09:00", "09:00")];
    assert!(matches!(
        Case::monday(&empty_block, 60).run(),
        Err(AvailabilityError::InvalidHours { .. })
    ));
}

#[test]
fn working_hours_are_parsed_from_client_text_by_the_slot_rules() {
    let ok = WorkingHours::parse(7, "13:30", "17:00");
    assert_eq!(
        ok.map(|h| (h.weekday, h.start)),
        Ok((7, NaiveTime::from_hms_opt(13, 30, 0).unwrap_or_default()))
    );
    // An end of 00:00 is the midnight ending the day, as the slot computation reads it.
    assert!(WorkingHours::parse(1, "22:00", "00:00").is_ok());
    assert_eq!(
        WorkingHours::parse(0, "09:00", "12:00"),
        Err(AvailabilityError::InvalidWeekday { weekday: 0 })
    );
    assert!(WorkingHours::parse(8, "09:00", "12:00").is_err());
    assert!(WorkingHours::parse(i64::MAX, "09:00", "12:00").is_err());
    assert!(matches!(
        WorkingHours::parse(1, "12:00", "09:00"),
        Err(AvailabilityError::InvalidHours { .. })
    ));
    assert!(WorkingHours::parse(1, "09:00", "09:00").is_err());
    for bad in ["9am", "9:00", "24:00", "09:00:00", ""] {
        assert!(
            matches!(
                WorkingHours::parse(1, bad, "17:00"),
                Err(AvailabilityError::InvalidClock { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn windows_and_durations_are_checked_once_here() {
    use crate::availability::{slot_duration, window};
    let from = Utc::now();
    assert!(window(from, from).is_err());
    assert!(window(from, from + Duration::days(94)).is_err());
    assert!(window(from, from + Duration::days(1)).is_ok());
    assert!(slot_duration(0).is_err());
    assert!(slot_duration(24 * 60 + 1).is_err());
    assert!(slot_duration(i64::MAX).is_err());
    assert_eq!(slot_duration(30), Ok(Duration::minutes(30)));
}
