//! The expansion's output: instances found as small records, put in order, then written
//! out as `BusyInstance`s once each.

use crate::event::EventSpec;
use crate::BusyInstance;
use calsync_core::EventStatus;
use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// One instance before it is written out.
pub(crate) struct Found {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The original start, which names the instance.
    pub original: DateTime<Utc>,
    /// Which group (UID) found it, in the order groups were expanded.
    pub group: u32,
    /// Position in the order found.
    pub seq: usize,
    /// The event it is an instance of, an index into the feed's events.
    pub spec: usize,
}

/// The instances sorted by start, then UID, then instance id, ties in the order found.
/// `group_heads` holds one event of each group, in group order.
pub(crate) fn instances(
    found: Vec<Found>,
    specs: &[EventSpec],
    group_heads: &[usize],
) -> Vec<BusyInstance> {
    let order = sorted_order(&found, specs, group_heads);
    // Written in output order: the events' strings (a few thousand) stay in cache, where
    // moving written instances into place afterwards touched twice as much memory.
    order
        .into_iter()
        .filter_map(|i| found.get(i))
        .map(|f| f.to_instance(specs))
        .collect()
}

/// Indexes of `found` in output order. Sorts packed keys, not the records: comparing
/// records was a tenth of the whole expansion.
fn sorted_order(found: &[Found], specs: &[EventSpec], group_heads: &[usize]) -> Vec<usize> {
    let by_id = |a: &Found, b: &Found| {
        if a.spec == b.spec && a.original == b.original {
            Ordering::Equal
        } else {
            instance_id(&specs[a.spec], a.original).cmp(&instance_id(&specs[b.spec], b.original))
        }
    };
    // Groups are normally expanded in UID order, and then a group's number orders UIDs
    // without comparing strings. Checked, not assumed.
    let in_uid_order = group_heads
        .windows(2)
        .all(|w| specs[w[0]].uid < specs[w[1]].uid);
    if !in_uid_order {
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&found[a], &found[b]);
            (a.start, &specs[a.spec].uid)
                .cmp(&(b.start, &specs[b.spec].uid))
                .then_with(|| by_id(a, b))
        });
        return order;
    }
    let mut keys: Vec<(i64, u32, u32, usize)> = found
        .iter()
        .map(|f| {
            let start = f.start;
            (
                start.timestamp(),
                start.timestamp_subsec_nanos(),
                f.group,
                f.seq,
            )
        })
        .collect();
    keys.sort_unstable();
    let mut order: Vec<usize> = keys.iter().map(|k| k.3).collect();
    // Instances of one UID at the same start are rare; order them by instance id, the
    // order found breaking ties (the sort is stable and they are in that order now).
    let mut run = 0;
    while run < keys.len() {
        let head = (keys[run].0, keys[run].1, keys[run].2);
        let same = |k: &(i64, u32, u32, usize)| (k.0, k.1, k.2) == head;
        let len = keys[run..].iter().take_while(|k| same(k)).count().max(1);
        if len > 1 {
            order[run..run + len].sort_by(|&a, &b| by_id(&found[a], &found[b]));
        }
        run += len;
    }
    order
}

impl Found {
    fn to_instance(&self, specs: &[EventSpec]) -> BusyInstance {
        let spec = &specs[self.spec];
        BusyInstance {
            uid: spec.uid.clone(),
            instance_id: instance_id(spec, self.original),
            start: self.start,
            end: self.end,
            all_day: spec.all_day,
            summary: spec.summary.clone(),
            status: spec.status,
            blocks: spec.status != EventStatus::Cancelled && !spec.free && self.end > self.start,
        }
    }
}

/// UID plus the original start: the date for all-day events, else the UTC time.
fn instance_id(spec: &EventSpec, original: DateTime<Utc>) -> String {
    let mut id = String::with_capacity(spec.uid.len() + 17);
    id.push_str(&spec.uid);
    id.push('/');
    if spec.all_day {
        let day = spec
            .zone
            .to_local(original)
            .unwrap_or_else(|| original.naive_utc());
        push_stamp(&mut id, day, false);
    } else {
        push_stamp(&mut id, original.naive_utc(), true);
    }
    id
}

/// Appends `YYYYMMDD` or `YYYYMMDDTHHMMSSZ`, as chrono's `%Y%m%d[T%H%M%SZ]` would: this
/// runs once per instance, and strftime parsing its pattern each time was a tenth of
/// the whole expansion.
fn push_stamp(out: &mut String, t: NaiveDateTime, with_time: bool) {
    let Ok(year) = u16::try_from(t.year()) else {
        return push_stamp_slow(out, t, with_time);
    };
    if year > 9999 {
        return push_stamp_slow(out, t, with_time);
    }
    let mut buf = *b"00000000T000000Z";
    let mut put = |at: usize, n: u32, width: usize| {
        let mut n = n;
        for i in (at..at + width).rev() {
            if let Some(slot) = buf.get_mut(i) {
                *slot = b'0' + (n % 10) as u8;
            }
            n /= 10;
        }
    };
    put(0, u32::from(year), 4);
    put(4, t.month(), 2);
    put(6, t.day(), 2);
    put(9, t.hour(), 2);
    put(11, t.minute(), 2);
    put(13, t.second(), 2);
    let len = if with_time { 16 } else { 8 };
    match buf.get(..len).map(std::str::from_utf8) {
        Some(Ok(text)) => out.push_str(text),
        _ => push_stamp_slow(out, t, with_time),
    }
}

fn push_stamp_slow(out: &mut String, t: NaiveDateTime, with_time: bool) {
    let pattern = if with_time {
        "%Y%m%dT%H%M%SZ"
    } else {
        "%Y%m%d"
    };
    let _ = write!(out, "{}", t.format(pattern));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_match_chrono_formatting() {
        for text in [
            "2024-03-05T07:08:09",
            "0999-12-31T23:59:59",
            "9999-01-01T00:00:00",
        ] {
            let t: NaiveDateTime = text.parse().unwrap();
            for with_time in [false, true] {
                let mut fast = String::new();
                push_stamp(&mut fast, t, with_time);
                let mut slow = String::new();
                push_stamp_slow(&mut slow, t, with_time);
                assert_eq!(fast, slow);
            }
        }
    }
}
