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
    let mut out = Vec::with_capacity(order.len());
    out.extend(
        order
            .into_iter()
            .filter_map(|i| found.get(i))
            .map(|f| f.to_instance(specs)),
    );
    out
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
    // Runs of instances of one UID at the same start are rare; they are ordered by
    // instance id, the order found breaking ties (it is their order after the sort).
    let (mut order, runs) = match packed_keys(found) {
        Some(mut keys) => {
            keys.sort_unstable();
            let runs = tie_runs(&keys, |a, b| a >> 32 == b >> 32);
            let order = keys.iter().map(|k| (k & u128::from(u32::MAX)) as usize);
            (order.collect::<Vec<_>>(), runs)
        }
        None => {
            let mut keys: Vec<(DateTime<Utc>, u32, usize)> =
                found.iter().map(|f| (f.start, f.group, f.seq)).collect();
            keys.sort_unstable();
            let runs = tie_runs(&keys, |a, b| (a.0, a.1) == (b.0, b.1));
            (keys.into_iter().map(|k| k.2).collect(), runs)
        }
    };
    for (at, len) in runs {
        if let Some(run) = order.get_mut(at..at + len) {
            run.sort_by(|&a, &b| by_id(&found[a], &found[b]));
        }
    }
    order
}

/// Where runs of more than one equal key start in sorted `keys`, and their lengths.
fn tie_runs<K>(keys: &[K], same: impl Fn(&K, &K) -> bool) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while let Some(head) = keys.get(at) {
        let len = keys[at..]
            .iter()
            .take_while(|k| same(k, head))
            .count()
            .max(1);
        if len > 1 {
            runs.push((at, len));
        }
        at += len;
    }
    runs
}

/// Sort keys as single integers, start seconds then group then position: comparing
/// tuples was most of the sort. `None` when a value does not fit, then tuples are used.
fn packed_keys(found: &[Found]) -> Option<Vec<u128>> {
    found
        .iter()
        .map(|f| {
            // Parsed times are whole seconds; a fraction would be lost in the key.
            if f.start.timestamp_subsec_nanos() != 0 {
                return None;
            }
            // Biased so that the unsigned order is the signed one.
            let secs = (f.start.timestamp() as u64) ^ (1 << 63);
            let seq = u32::try_from(f.seq).ok()?;
            Some(u128::from(secs) << 64 | u128::from(f.group) << 32 | u128::from(seq))
        })
        .collect()
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
    let d = |n: u32, place: u32| b'0' + (n / place % 10) as u8;
    let (y, mo, da) = (u32::from(year), t.month(), t.day());
    let (h, mi, se) = (t.hour(), t.minute(), t.second());
    let buf = [
        d(y, 1000),
        d(y, 100),
        d(y, 10),
        d(y, 1),
        d(mo, 10),
        d(mo, 1),
        d(da, 10),
        d(da, 1),
        b'T',
        d(h, 10),
        d(h, 1),
        d(mi, 10),
        d(mi, 1),
        d(se, 10),
        d(se, 1),
        b'Z',
    ];
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
