//! Wall-clock → UTC for working-hours blocks: which instant a local time means on the days
//! the clocks change, and the weekly working hours unrolled into UTC blocks over a window.

use super::{AvailabilityError, WorkingHours};
use crate::time::TimeRange;
use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Utc,
};
use chrono_tz::Tz;

/// Which end of a block a wall-clock time is; decides which instance of a repeated time wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Edge {
    Start,
    End,
}

/// No zone's UTC offset reaches this far, so an instant `SEARCH_SPAN_SECS` before a wall time
/// read as UTC is earlier than that wall time everywhere, and one this far after is later.
const SEARCH_SPAN_SECS: i64 = 16 * 3600;

/// The instant a wall-clock time stands for in `tz`.
///
/// - Repeated (fall back): the earlier instance for a start; for an end, the later instance,
///   except an end right where the repeat begins (`02:00` in Berlin on 25 October 2026), which
///   ends the block at the earlier one. So a block is the smallest range holding every instant
///   whose wall clock lies inside it (`00:00–02:00` that day is 2 real hours, not 3).
/// - Skipped (spring forward): the instant the gap closes, for starts and ends alike, so a
///   block keeps exactly the part of it that exists (`02:30–04:00` in Berlin on 29 March 2026
///   runs from 03:00 CEST; `02:00–03:00` that day is empty).
///
/// `None` only when the instant is outside what chrono can represent.
pub(super) fn resolve(tz: Tz, local: NaiveDateTime, edge: Edge) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, later) => {
            let later_end = edge == Edge::End && repeats(tz, local);
            Some(if later_end { later } else { earlier }.with_timezone(&Utc))
        }
        LocalResult::None => gap_end(tz, local),
    }
}

/// Whether the wall time just before `local` occurs twice, i.e. `local` lies inside a repeated
/// stretch rather than at its start, so instants on the second pass still read before it.
fn repeats(tz: Tz, local: NaiveDateTime) -> bool {
    local
        .checked_sub_signed(TimeDelta::nanoseconds(1))
        .is_some_and(|just_before| {
            matches!(
                tz.from_local_datetime(&just_before),
                LocalResult::Ambiguous(..)
            )
        })
}

/// First instant whose wall clock is at or after `local`, found by bisection on whole seconds
/// (tz transitions fall on whole seconds). chrono-tz exposes no transition list, and gaps are
/// rare enough (one or two days a year) that ~17 offset look-ups per gap cost nothing.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let wall = |secs: i64| -> Option<NaiveDateTime> {
        DateTime::from_timestamp(secs, 0).map(|t| t.with_timezone(&tz).naive_local())
    };
    let base = local.and_utc().timestamp();
    // Invariant: wall(lo) < local <= wall(hi).
    let mut lo = base.checked_sub(SEARCH_SPAN_SECS)?;
    let mut hi = base.checked_add(SEARCH_SPAN_SECS)?;
    if wall(lo)? >= local || wall(hi)? < local {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall(mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Validated weekly working hours, bucketed by weekday (index 0 = Monday) and sorted by start, so
/// that unrolling them day by day yields blocks in order of their start.
#[derive(Debug)]
pub(super) struct Week {
    days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl Week {
    pub(super) fn new(hours: &[WorkingHours]) -> Result<Self, AvailabilityError> {
        let mut days: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for h in hours {
            h.check()?;
            days[usize::from(h.weekday - 1)].push((h.start, h.end));
        }
        for day in &mut days {
            day.sort_unstable();
        }
        Ok(Self { days })
    }

    /// Every block, in UTC, that overlaps `window`, unclipped (slots are anchored at a
    /// block's real start even when the window begins later), sorted by start.
    pub(super) fn blocks(&self, tz: Tz, window: TimeRange) -> Vec<TimeRange> {
        // One local day of margin either side: a block on local day D lies within D's wall
        // clock, which may begin before or end after the UTC dates of the window's ends.
        let first = local_date(tz, window.start);
        let first = first.checked_sub_days(Days::new(1)).unwrap_or(first);
        let last = local_date(tz, window.end);
        let last = last.checked_add_days(Days::new(1)).unwrap_or(last);
        let mut out = Vec::new();
        let mut date = first;
        while date <= last {
            let weekday = date.weekday().num_days_from_monday() as usize;
            for &(start, end) in &self.days[weekday] {
                if let Some(block) = block_on(tz, date, start, end) {
                    if block.end > window.start && block.start < window.end {
                        out.push(block);
                    }
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        out
    }
}

fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// One rule on one local date; `None` when nothing of it exists (e.g. it lies in a gap).
fn block_on(tz: Tz, date: NaiveDate, start: NaiveTime, end: NaiveTime) -> Option<TimeRange> {
    let end_local = if end == NaiveTime::MIN {
        date.succ_opt()?.and_time(NaiveTime::MIN)
    } else {
        date.and_time(end)
    };
    let start = resolve(tz, date.and_time(start), Edge::Start)?;
    let end = resolve(tz, end_local, Edge::End)?;
    (start < end).then_some(TimeRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .unwrap_or_default()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_resolves_to_the_instant_the_gap_closes() {
        let t = resolve(
            chrono_tz::Europe::Berlin,
            local(2026, 3, 29, 2, 30),
            Edge::Start,
        );
        assert_eq!(t, Some(utc("2026-03-29T01:00:00Z")));
        let t = resolve(
            chrono_tz::America::New_York,
            local(2026, 3, 8, 2, 0),
            Edge::End,
        );
        assert_eq!(t, Some(utc("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn a_half_hour_gap_is_found_to_the_second() {
        // Lord Howe Island moves from +10:30 to +11:00 at 02:00 local on 4 October 2026.
        let tz = chrono_tz::Australia::Lord_Howe;
        let t = resolve(tz, local(2026, 10, 4, 2, 10), Edge::Start);
        assert_eq!(t, Some(utc("2026-10-03T15:30:00Z")));
        let wall = t.map(|t| t.with_timezone(&tz).time().num_seconds_from_midnight());
        assert_eq!(wall, Some(2 * 3600 + 30 * 60));
    }

    #[test]
    fn a_repeated_time_is_the_earlier_instance_for_a_start_and_the_later_for_an_end() {
        let tz = chrono_tz::America::New_York;
        let at = local(2026, 11, 1, 1, 30);
        assert_eq!(
            resolve(tz, at, Edge::Start),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        assert_eq!(
            resolve(tz, at, Edge::End),
            Some(utc("2026-11-01T06:30:00Z"))
        );
    }

    #[test]
    fn an_end_where_the_repeat_begins_takes_the_earlier_instance() {
        let tz = chrono_tz::Europe::Berlin;
        let at = local(2026, 10, 25, 2, 0);
        assert_eq!(
            resolve(tz, at, Edge::End),
            Some(utc("2026-10-25T00:00:00Z"))
        );
        assert_eq!(
            resolve(tz, at, Edge::Start),
            Some(utc("2026-10-25T00:00:00Z"))
        );
    }

    #[test]
    fn a_day_that_begins_in_a_gap_starts_when_the_gap_closes() {
        // Chile springs forward at midnight: 6 September 2026 begins at 01:00 (-03:00).
        let tz = chrono_tz::America::Santiago;
        let t = resolve(tz, local(2026, 9, 6, 0, 0), Edge::Start);
        assert_eq!(t, Some(utc("2026-09-06T04:00:00Z")));
    }
}
