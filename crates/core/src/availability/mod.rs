//! Availability: a specialist's weekly working hours in their IANA zone, minus busy time,
//! cut into bookable slots on the grid of ARCHITECTURE.md "Slot grid".
//!
//! Rules, all in one place:
//! - A slot is exactly `duration` long. Slots start at the start of a working-hours block and
//!   then every `step` in real (UTC) time, lie entirely inside the block and the query window,
//!   start at or after `now + min_notice`, and overlap no busy interval widened by
//!   `buffer_before`/`buffer_after`. Touching is not overlapping (ranges are half-open).
//! - A `step` longer than `duration` is clamped to `duration`, so no free time falls between
//!   two grid positions unseen.
//! - Working hours are wall-clock times. On the day clocks change a block is the smallest
//!   range holding every instant whose wall clock lies inside it: a skipped start or end moves
//!   to the instant the gap closes (so `02:00–03:00` on a spring-forward day is empty); a
//!   repeated start takes its earlier instance and a repeated end its later one, unless the
//!   end is exactly where the repeat begins (then the earlier: `00:00–02:00` in Berlin on
//!   25 October is 2 hours, and `01:00–04:00` is 4). A `09:00–17:00` block on such a day is still 8 real hours because
//!   both ends are after the change. The slot grid runs in real minutes from the block start.
//! - An `end` of `00:00` means the midnight that ends the day (`22:00–00:00`). A block never
//!   spans midnight: `22:00–02:00` is refused; give it as two blocks on consecutive weekdays.
//!   Overlapping blocks are allowed; a slot both would offer is listed once.
//!
//! Cost: busy intervals are sorted and merged once, then one sweep over the blocks in order,
//! jumping over each busy interval instead of testing grid positions one by one.

#[cfg(test)]
mod dst_tests;
mod grid;
mod local;
#[cfg(test)]
mod props;
mod rfc3339;
#[cfg(test)]
mod tests;

use crate::time::{merge, TimeRange};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use rfc3339::{local_rfc3339, LocalRfc3339};

/// The grid step when the caller gives none.
pub const DEFAULT_STEP: Duration = Duration::minutes(30);
/// Shortest slot and shortest step: finer grids only inflate responses.
pub const MIN_SLOT_DURATION: Duration = Duration::minutes(1);
/// Longest slot; a block never exceeds a (25-hour) day, so longer slots could never fit.
pub const MAX_SLOT_DURATION: Duration = Duration::hours(24);
/// Longest query window: a quarter of a year bounds the work one request can ask for.
pub const MAX_WINDOW: Duration = Duration::days(93);
/// Longest buffer before or after a busy interval.
pub const MAX_BUFFER: Duration = Duration::hours(24);
/// Longest minimum notice.
pub const MAX_MIN_NOTICE: Duration = Duration::days(365);

/// One weekly working-hours block in the specialist's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    /// ISO weekday, Monday = 1 … Sunday = 7.
    pub weekday: u8,
    pub start: NaiveTime,
    /// `00:00` means the midnight ending the day.
    pub end: NaiveTime,
}

impl WorkingHours {
    fn ends_at_midnight(&self) -> bool {
        self.end == NaiveTime::MIN
    }

    /// A block as clients give it: an ISO weekday and `"HH:MM"` wall-clock times, checked
    /// by the rules the slot computation applies (so what is stored can always be used).
    pub fn parse(weekday: i64, start: &str, end: &str) -> Result<Self, AvailabilityError> {
        let weekday = u8::try_from(weekday)
            .ok()
            .filter(|d| (1..=7).contains(d))
            .ok_or(AvailabilityError::InvalidWeekday { weekday })?;
        let hours = Self {
            weekday,
            start: clock(start)?,
            end: clock(end)?,
        };
        hours.check()?;
        Ok(hours)
    }

    /// A block must start before it ends (an end of `00:00` is the midnight ending the
    /// day) and lie on an ISO weekday.
    pub fn check(&self) -> Result<(), AvailabilityError> {
        if !(1..=7).contains(&self.weekday) {
            return Err(AvailabilityError::InvalidWeekday {
                weekday: i64::from(self.weekday),
            });
        }
        if !self.ends_at_midnight() && self.start >= self.end {
            return Err(AvailabilityError::InvalidHours {
                weekday: self.weekday,
                start: self.start,
                end: self.end,
            });
        }
        Ok(())
    }
}

/// `"HH:MM"`, exactly: `9:00`, `09:00:00` and `24:00` are refused rather than guessed.
fn clock(value: &str) -> Result<NaiveTime, AvailabilityError> {
    let v = value.trim();
    let well_formed = v.len() == 5 && v.as_bytes().get(2) == Some(&b':');
    well_formed
        .then(|| NaiveTime::parse_from_str(v, "%H:%M").ok())
        .flatten()
        .ok_or_else(|| AvailabilityError::InvalidClock {
            value: v.chars().take(20).collect(),
        })
}

/// The query window `[from, to)`, refused when empty or longer than `MAX_WINDOW`.
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<TimeRange, AvailabilityError> {
    let w = TimeRange {
        start: from,
        end: to,
    };
    validate_window(w)?;
    Ok(w)
}

/// A slot duration in whole minutes, refused outside 1 minute to 24 hours.
pub fn slot_duration(minutes: i64) -> Result<Duration, AvailabilityError> {
    let d = Duration::try_minutes(minutes).unwrap_or(Duration::MAX);
    if d < MIN_SLOT_DURATION || d > MAX_SLOT_DURATION {
        return Err(AvailabilityError::InvalidDuration { minutes });
    }
    Ok(d)
}

/// How slots are cut. All durations must be non-negative; see the `MIN_`/`MAX_` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPolicy {
    pub duration: Duration,
    /// Distance between grid positions; clamped to `duration` when longer.
    pub step: Duration,
    pub buffer_before: Duration,
    pub buffer_after: Duration,
    pub min_notice: Duration,
}

impl SlotPolicy {
    /// `duration`-long slots on the default step, without buffers or notice.
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            step: DEFAULT_STEP,
            buffer_before: Duration::zero(),
            buffer_after: Duration::zero(),
            min_notice: Duration::zero(),
        }
    }

    /// Checks the limits and applies the step clamp.
    fn validated(&self) -> Result<Self, AvailabilityError> {
        let d = self.duration;
        if d < MIN_SLOT_DURATION || d > MAX_SLOT_DURATION {
            return Err(AvailabilityError::InvalidDuration {
                minutes: d.num_minutes(),
            });
        }
        if self.step < MIN_SLOT_DURATION {
            return Err(AvailabilityError::InvalidStep {
                minutes: self.step.num_minutes(),
            });
        }
        for (name, b) in [("before", self.buffer_before), ("after", self.buffer_after)] {
            if b < Duration::zero() || b > MAX_BUFFER {
                return Err(AvailabilityError::InvalidBuffer {
                    which: name,
                    minutes: b.num_minutes(),
                });
            }
        }
        if self.min_notice < Duration::zero() || self.min_notice > MAX_MIN_NOTICE {
            return Err(AvailabilityError::InvalidMinNotice {
                minutes: self.min_notice.num_minutes(),
            });
        }
        Ok(Self {
            step: self.step.min(d),
            ..*self
        })
    }
}

/// Everything one specialist's slot computation needs.
#[derive(Debug, Clone, Copy)]
pub struct AvailabilityQuery<'a> {
    pub tz: Tz,
    pub hours: &'a [WorkingHours],
    /// Confirmed appointments and blocking external events; any order, may overlap.
    pub busy: &'a [TimeRange],
    pub window: TimeRange,
    pub now: DateTime<Utc>,
    pub policy: SlotPolicy,
}

/// A query the caller must fix; each variant is a client error (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AvailabilityError {
    #[error("the window is empty: from {from} is not before to {to}")]
    EmptyWindow {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("the window is {days} days long; at most {} are allowed", MAX_WINDOW.num_days())]
    WindowTooLong { days: i64 },
    #[error("slot duration of {minutes} minutes is outside 1 minute to 24 hours")]
    InvalidDuration { minutes: i64 },
    #[error("slot step of {minutes} minutes is shorter than 1 minute")]
    InvalidStep { minutes: i64 },
    #[error("buffer {which} of {minutes} minutes is negative or longer than 24 hours")]
    InvalidBuffer { which: &'static str, minutes: i64 },
    #[error("minimum notice of {minutes} minutes is negative or longer than 365 days")]
    InvalidMinNotice { minutes: i64 },
    #[error("weekday {weekday} is not 1 (Monday) to 7 (Sunday)")]
    InvalidWeekday { weekday: i64 },
    #[error("time {value:?} is not a wall-clock time as \"HH:MM\"")]
    InvalidClock { value: String },
    #[error("working hours on weekday {weekday} start at {start} but end at {end}; a block may not span midnight")]
    InvalidHours {
        weekday: u8,
        start: NaiveTime,
        end: NaiveTime,
    },
}

fn validate_window(window: TimeRange) -> Result<(), AvailabilityError> {
    if window.start >= window.end {
        return Err(AvailabilityError::EmptyWindow {
            from: window.start,
            to: window.end,
        });
    }
    let length = window.end - window.start;
    if length > MAX_WINDOW {
        return Err(AvailabilityError::WindowTooLong {
            days: length.num_days(),
        });
    }
    Ok(())
}

/// The free slots of one specialist in `q.window`, sorted by start.
pub fn compute_slots(q: &AvailabilityQuery<'_>) -> Result<Vec<TimeRange>, AvailabilityError> {
    let policy = q.policy.validated()?;
    validate_window(q.window)?;
    let blocks = local::Week::new(q.hours)?.blocks(q.tz, q.window);
    // A notice reaching past what chrono can represent leaves nothing bookable.
    let Some(earliest) = q.now.checked_add_signed(policy.min_notice) else {
        return Ok(Vec::new());
    };
    let busy = buffered_busy(q.busy, policy.buffer_before, policy.buffer_after);
    let grid = grid::Grid {
        earliest_start: earliest.max(q.window.start),
        latest_end: q.window.end,
        duration: policy.duration,
        step: policy.step,
    };
    Ok(grid.free_slots(&blocks, &busy))
}

/// The working blocks of `hours` as UTC ranges clipped to `window`, merged and sorted: what
/// the agent portal shades as working time.
pub fn working_intervals(
    tz: Tz,
    hours: &[WorkingHours],
    window: TimeRange,
) -> Result<Vec<TimeRange>, AvailabilityError> {
    validate_window(window)?;
    let blocks = local::Week::new(hours)?.blocks(tz, window);
    let clipped = blocks.into_iter().map(|b| TimeRange {
        start: b.start.max(window.start),
        end: b.end.min(window.end),
    });
    Ok(merge(clipped.collect()))
}

/// Busy intervals widened by the buffers, sorted and merged. Empty intervals block nothing,
/// so they gain no buffer either.
fn buffered_busy(busy: &[TimeRange], before: Duration, after: Duration) -> Vec<TimeRange> {
    let widened = busy.iter().filter(|b| !b.is_empty()).map(|b| TimeRange {
        start: b
            .start
            .checked_sub_signed(before)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        end: b
            .end
            .checked_add_signed(after)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    });
    merge(widened.collect())
}

/// `t` as RFC 3339 with the offset `tz` has at that instant, e.g. `2026-03-30T10:00:00+02:00`.
pub fn to_local_rfc3339(t: DateTime<Utc>, tz: Tz) -> String {
    local_rfc3339(t, tz).as_str().to_owned()
}
