//! Turns the events of a feed, grouped by UID, into instances within a window: recurrence
//! rules, RDATE, EXDATE, RECURRENCE-ID overrides (including RANGE=THISANDFUTURE) and
//! the caps that keep hostile feeds cheap.

use crate::event::EventSpec;
use crate::recur::{occurrences, until_local, Walk};
use crate::{BusyInstance, Limits, Window};
use calsync_core::EventStatus;
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::rc::Rc;

/// Running state of one expansion: output, warnings and the budgets left.
pub(crate) struct Expander<'a> {
    pub window: Window,
    pub limits: &'a Limits,
    /// Instances as small records, made into `BusyInstance`s once sorted: sorting and
    /// growing a vector of the full instances was a fifth of the whole expansion.
    found: Vec<Found>,
    /// UIDs of the groups in the order they were expanded; `Found::group` indexes it.
    group_uids: Vec<String>,
    pub warnings: Vec<String>,
    steps_left: usize,
    total_warned: bool,
}

/// One instance before it is written out.
struct Found {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The original start, which names the instance.
    original: DateTime<Utc>,
    group: u32,
    /// Position in the order found.
    seq: usize,
    spec: Rc<EventSpec>,
}

/// All events sharing one UID.
#[derive(Default)]
pub(crate) struct Group {
    pub masters: Vec<EventSpec>,
    pub overrides: Vec<EventSpec>,
}

impl<'a> Expander<'a> {
    pub fn new(window: Window, limits: &'a Limits, warnings: Vec<String>) -> Self {
        Expander {
            window,
            limits,
            found: Vec::new(),
            group_uids: Vec::new(),
            warnings,
            steps_left: limits.max_steps_total,
            total_warned: false,
        }
    }

    /// The instances, sorted by start, then UID, then instance id (ties keep the order
    /// they were found in), and the warnings.
    pub fn finish(self) -> (Vec<BusyInstance>, Vec<String>) {
        let Expander {
            found,
            group_uids,
            warnings,
            ..
        } = self;
        let order = sorted_order(&found, &group_uids);
        // Built in the order found, where neighbours share an event and its strings are
        // in cache, then moved into place.
        let mut instances: Vec<BusyInstance> = found.iter().map(Found::to_instance).collect();
        drop(found);
        permute(&mut instances, order);
        (instances, warnings)
    }

    pub fn expand_group(&mut self, uid: &str, group: Group) {
        self.group_uids.push(uid.to_string());
        // The same event may appear twice (two VCALENDARs, re-exports): the highest
        // SEQUENCE wins, then the later one.
        let master = pick_latest(group.masters).map(Rc::new);
        let mut overrides: BTreeMap<i64, Rc<EventSpec>> = BTreeMap::new();
        for o in group.overrides {
            let Some(rid) = o.recurrence_id else { continue };
            let key = rid.at.timestamp();
            if overrides
                .get(&key)
                .is_none_or(|old| old.sequence <= o.sequence)
            {
                overrides.insert(key, Rc::new(o));
            }
        }
        let future: Vec<&Rc<EventSpec>> = overrides
            .values()
            .filter(|o| o.recurrence_id.is_some_and(|r| r.this_and_future))
            .collect();

        if let Some(master) = &master {
            // A cancelled series takes its moved instances with it.
            if master.status == EventStatus::Cancelled {
                return;
            }
            self.expand_master(uid, master, &overrides, &future);
        }
        for (key, o) in &overrides {
            if o.status == EventStatus::Cancelled {
                continue;
            }
            let Some(end) = o.length.end(&o.zone, o.start_local, o.start) else {
                continue;
            };
            let original = DateTime::from_timestamp(*key, 0).unwrap_or(o.start);
            self.push(o, original, o.start, end);
        }
    }

    fn expand_master(
        &mut self,
        uid: &str,
        m: &Rc<EventSpec>,
        overrides: &BTreeMap<i64, Rc<EventSpec>>,
        future: &[&Rc<EventSpec>],
    ) {
        let shift = future
            .iter()
            .filter_map(|f| {
                f.recurrence_id
                    .map(|r| (f.start - r.at).num_seconds().abs())
            })
            .max()
            .unwrap_or(0);
        let margin = Duration::seconds(
            m.length
                .bound_secs()
                .saturating_add(shift)
                .min(i64::from(i32::MAX)),
        ) + Duration::days(2);
        let from = self.window.from.naive_utc();
        let to = self.window.to.naive_utc();
        let (Some(skip_before), Some(stop_after)) = (
            from.checked_sub_signed(margin),
            to.checked_add_signed(Duration::seconds(shift) + Duration::days(2)),
        ) else {
            return;
        };
        let max_out = self.limits.max_instances_per_series;
        let mut locals: Vec<(NaiveDateTime, Option<i64>)> = Vec::new();
        if (skip_before..=stop_after).contains(&m.start_local) {
            locals.push((m.start_local, None));
        }
        for rule in &m.rules {
            let until = rule
                .until
                .and_then(|raw| until_local(raw, |u| m.zone.to_local(u.and_utc())));
            let walk = Walk {
                skip_before,
                stop_after,
                max_out,
                max_steps: self.limits.max_steps_per_series.min(self.steps_left),
            };
            match occurrences(rule, m.start_local, until, &walk) {
                Ok(occ) => {
                    self.steps_left = self.steps_left.saturating_sub(occ.steps.max(1));
                    if occ.truncated {
                        self.warnings.push(format!(
                            "series {uid:?}: expansion stopped at the instance or step cap"
                        ));
                    }
                    locals.extend(occ.times.into_iter().map(|t| (t, None)));
                }
                Err(e) => self
                    .warnings
                    .push(format!("series {uid:?}: RRULE ignored: {e}")),
            }
        }
        locals.extend(
            m.rdates
                .iter()
                .filter(|(t, _)| (skip_before..=stop_after).contains(t)),
        );
        locals.sort_by_key(|(t, _)| *t);
        locals.dedup_by_key(|(t, _)| *t);
        if !m.exrules.is_empty() {
            let excluded = self.excluded(uid, m, skip_before, stop_after);
            locals.retain(|(t, _)| !excluded.contains(t));
        }
        if locals.len() > max_out {
            self.warnings.push(format!(
                "series {uid:?}: more than {max_out} instances, cut"
            ));
            locals.truncate(max_out);
        }

        let exdates: HashSet<i64> = m.exdates.iter().map(DateTime::timestamp).collect();
        for (local, explicit) in locals {
            if m.exdate_days.contains(&local.date()) {
                continue;
            }
            let Some(start) = m.zone.to_utc(local) else {
                continue;
            };
            if exdates.contains(&start.timestamp()) || overrides.contains_key(&start.timestamp()) {
                continue;
            }
            let end = match explicit {
                Some(secs) => start.checked_add_signed(Duration::seconds(secs)),
                None => m.length.end(&m.zone, local, start),
            };
            let Some(end) = end else { continue };
            // A THISANDFUTURE override reshapes every later instance of the series.
            let later = future
                .iter()
                .rev()
                .find(|f| f.recurrence_id.is_some_and(|r| r.at <= start));
            match later {
                Some(f) => {
                    if f.status == EventStatus::Cancelled {
                        continue;
                    }
                    let Some(rid) = f.recurrence_id else { continue };
                    let f_end = f
                        .length
                        .end(&f.zone, f.start_local, f.start)
                        .unwrap_or(f.start);
                    let new_start = start + (f.start - rid.at);
                    let new_end = new_start + (f_end - f.start);
                    self.push(f, start, new_start, new_end);
                }
                None => self.push(m, start, start, end),
            }
            if self.total_reached() {
                return;
            }
        }
    }

    /// The local times the series' EXRULEs generate between the walk's bounds. Cut
    /// short by a cap, an EXRULE removes less, never more: the safe side for busy time.
    fn excluded(
        &mut self,
        uid: &str,
        m: &EventSpec,
        skip_before: NaiveDateTime,
        stop_after: NaiveDateTime,
    ) -> HashSet<NaiveDateTime> {
        let mut excluded = HashSet::new();
        for rule in &m.exrules {
            let until = rule
                .until
                .and_then(|raw| until_local(raw, |u| m.zone.to_local(u.and_utc())));
            let walk = Walk {
                skip_before,
                stop_after,
                max_out: self.limits.max_instances_per_series,
                max_steps: self.limits.max_steps_per_series.min(self.steps_left),
            };
            match occurrences(rule, m.start_local, until, &walk) {
                Ok(occ) => {
                    self.steps_left = self.steps_left.saturating_sub(occ.steps.max(1));
                    if occ.truncated {
                        self.warnings.push(format!(
                            "series {uid:?}: EXRULE stopped at the instance or step cap"
                        ));
                    }
                    excluded.extend(occ.times);
                }
                Err(e) => self
                    .warnings
                    .push(format!("series {uid:?}: EXRULE ignored: {e}")),
            }
        }
        excluded
    }

    fn total_reached(&mut self) -> bool {
        if self.found.len() < self.limits.max_instances_total {
            return false;
        }
        if !self.total_warned {
            self.total_warned = true;
            self.warnings.push(format!(
                "more than {} instances in the window, the rest are dropped",
                self.limits.max_instances_total
            ));
        }
        true
    }

    /// Adds one instance if it touches the window.
    fn push(
        &mut self,
        spec: &Rc<EventSpec>,
        original: DateTime<Utc>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        let end = end.max(start);
        let w = self.window;
        let overlaps = if end == start {
            w.from <= start && start < w.to
        } else {
            start < w.to && end > w.from
        };
        if !overlaps || self.total_reached() {
            return;
        }
        self.found.push(Found {
            start,
            end,
            original,
            group: u32::try_from(self.group_uids.len().saturating_sub(1)).unwrap_or(u32::MAX),
            seq: self.found.len(),
            spec: Rc::clone(spec),
        });
    }
}

/// Indexes of `found` in output order. Sorts packed keys, not the records: comparing
/// records was a tenth of the whole expansion.
fn sorted_order(found: &[Found], group_uids: &[String]) -> Vec<usize> {
    let by_id = |a: &Found, b: &Found| {
        if Rc::ptr_eq(&a.spec, &b.spec) && a.original == b.original {
            Ordering::Equal
        } else {
            instance_id(&a.spec, a.original).cmp(&instance_id(&b.spec, b.original))
        }
    };
    // Groups are normally expanded in UID order (they come from a BTreeMap), and then a
    // group's number orders UIDs without comparing strings. Checked, not assumed.
    if !group_uids.windows(2).all(|w| w[0] < w[1]) {
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&found[a], &found[b]);
            (a.start, &a.spec.uid)
                .cmp(&(b.start, &b.spec.uid))
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

/// Rearranges `items` so that position `k` holds what was at `order[k]`, by swaps along
/// the permutation's cycles. `order` must be a permutation of the indexes of `items`.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..order.len() {
        let mut at = start;
        while let Some(&from) = order.get(at) {
            if let Some(slot) = order.get_mut(at) {
                *slot = at;
            }
            if from == start || from == at || from >= items.len() {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

impl Found {
    fn to_instance(&self) -> BusyInstance {
        let spec = &self.spec;
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

fn pick_latest(mut specs: Vec<EventSpec>) -> Option<EventSpec> {
    let mut best: Option<EventSpec> = None;
    for s in specs.drain(..) {
        if best.as_ref().is_none_or(|b| b.sequence <= s.sequence) {
            best = Some(s);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_moves_each_item_to_its_sorted_place() {
        let mut items = vec!['a', 'b', 'c', 'd', 'e', 'f'];
        permute(&mut items, vec![3, 0, 5, 1, 2, 4]);
        assert_eq!(items, vec!['d', 'a', 'f', 'b', 'c', 'e']);
    }

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
