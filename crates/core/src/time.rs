//! Half-open UTC time ranges `[start, end)` and the interval arithmetic availability needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// A range; `None` when `end` is before `start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (start <= end).then_some(Self { start, end })
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Half-open overlap: touching ranges (one ends when the next starts) do not overlap.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &TimeRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn duration(&self) -> chrono::Duration {
        self.end - self.start
    }
}

/// Sorts and merges overlapping or touching ranges; empty ranges are dropped.
pub fn merge(mut ranges: Vec<TimeRange>) -> Vec<TimeRange> {
    ranges.retain(|r| !r.is_empty());
    ranges.sort();
    let mut out: Vec<TimeRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => {
                if r.end > last.end {
                    last.end = r.end;
                }
            }
            _ => out.push(r),
        }
    }
    out
}

/// A UTC time as RFC 3339 with whole seconds and `Z`, the API's spelling of instants
/// that belong to no specialist's zone (webhook expiry, last sync).
pub fn rfc3339_utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn r(a: u32, b: u32) -> TimeRange {
        let t = |h| {
            Utc.with_ymd_and_hms(2026, 1, 5, h, 0, 0)
                .single()
                .unwrap_or_default()
        };
        TimeRange {
            start: t(a),
            end: t(b),
        }
    }

    #[test]
    fn touching_ranges_do_not_overlap_but_do_merge() {
        assert!(!r(9, 10).overlaps(&r(10, 11)));
        assert!(r(9, 11).overlaps(&r(10, 12)));
        assert_eq!(
            merge(vec![r(10, 11), r(9, 10), r(13, 14), r(13, 13)]),
            vec![r(9, 11), r(13, 14)]
        );
    }
}
