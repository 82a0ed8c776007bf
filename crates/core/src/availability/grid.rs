//! The sweep that walks each block's slot grid against the merged busy intervals.

use crate::time::TimeRange;
use chrono::{DateTime, Duration, Utc};

/// Bounds and spacing shared by every block of one query; `step` is already clamped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    pub earliest_start: DateTime<Utc>,
    pub latest_end: DateTime<Utc>,
    pub duration: Duration,
    pub step: Duration,
}

impl Grid {
    /// Free grid positions of `blocks` (sorted by start) given `busy` (sorted, merged).
    ///
    /// Block starts only grow, so the first busy interval that can touch a block is found by
    /// a pointer that only moves forward; inside a block, a collision jumps straight to the
    /// first grid position after the busy interval ends.
    pub(super) fn free_slots(&self, blocks: &[TimeRange], busy: &[TimeRange]) -> Vec<TimeRange> {
        let mut out = Vec::new();
        let mut first_busy = 0;
        for block in blocks {
            while first_busy < busy.len() && busy[first_busy].end <= block.start {
                first_busy += 1;
            }
            self.block_slots(*block, &busy[first_busy..], &mut out);
        }
        // Only overlapping blocks put slots out of order or twice.
        if !out.is_sorted() {
            out.sort_unstable();
        }
        out.dedup();
        out
    }

    fn block_slots(&self, block: TimeRange, busy: &[TimeRange], out: &mut Vec<TimeRange>) {
        let last_end = block.end.min(self.latest_end);
        // Comparing instants before doing arithmetic keeps every offset below within one
        // block, so the nanosecond counts cannot overflow.
        let fits_from = |start: DateTime<Utc>| {
            start
                .checked_add_signed(self.duration)
                .is_some_and(|end| end <= last_end)
        };
        let lo = self.earliest_start.max(block.start);
        if !fits_from(lo) {
            return;
        }
        let mut k = steps_until(lo - block.start, self.step);
        let mut next_busy = 0;
        loop {
            let start = block.start + self.step * k;
            if !fits_from(start) {
                return;
            }
            let end = start + self.duration;
            while next_busy < busy.len() && busy[next_busy].end <= start {
                next_busy += 1;
            }
            match busy.get(next_busy) {
                Some(b) if b.start < end => {
                    if !fits_from(b.end) {
                        return;
                    }
                    k = steps_until(b.end - block.start, self.step);
                }
                _ => {
                    out.push(TimeRange { start, end });
                    k += 1;
                }
            }
        }
    }
}

/// Smallest `k >= 0` with `k * step >= offset`.
fn steps_until(offset: Duration, step: Duration) -> i32 {
    let (Some(offset), Some(step)) = (offset.num_nanoseconds(), step.num_nanoseconds()) else {
        return 0;
    };
    match (u64::try_from(offset), u64::try_from(step)) {
        (Ok(offset), Ok(step)) if step > 0 => {
            i32::try_from(offset.div_ceil(step)).unwrap_or(i32::MAX)
        }
        _ => 0,
    }
}
