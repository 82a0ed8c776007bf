//! Turns the events of a feed, grouped by UID, into instances within a window: recurrence
//! rules, RDATE, EXDATE, RECURRENCE-ID overrides (including RANGE=THISANDFUTURE) and
//! the caps that keep hostile feeds cheap.

use crate::event::EventSpec;
use crate::output::{self, Found};
use crate::recur::{occurrences, until_local, Walk};
use crate::{BusyInstance, Limits, Window};
use calsync_core::EventStatus;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use std::collections::{BTreeMap, HashSet};

/// Running state of one expansion: output, warnings and the budgets left.
pub(crate) struct Expander<'a> {
    pub window: Window,
    pub limits: &'a Limits,
    /// Every event of the feed, in file order; instances refer to them by index, so no
    /// event is moved or shared once read.
    specs: &'a [EventSpec],
    /// Instances as small records, made into `BusyInstance`s once sorted: sorting and
    /// growing a vector of the full instances was a fifth of the whole expansion.
    found: Vec<Found>,
    /// One event of each group, in the order the groups were expanded; `Found::group`
    /// indexes it.
    group_heads: Vec<usize>,
    pub warnings: Vec<String>,
    steps_left: usize,
    total_warned: bool,
}

impl<'a> Expander<'a> {
    pub fn new(
        window: Window,
        limits: &'a Limits,
        specs: &'a [EventSpec],
        warnings: Vec<String>,
    ) -> Self {
        Expander {
            window,
            limits,
            specs,
            found: Vec::new(),
            group_heads: Vec::new(),
            warnings,
            steps_left: limits.max_steps_total,
            total_warned: false,
        }
    }

    /// The instances, sorted by start, then UID, then instance id (ties keep the order
    /// they were found in), and the warnings.
    pub fn finish(self) -> (Vec<BusyInstance>, Vec<String>) {
        let instances = output::instances(self.found, self.specs, &self.group_heads);
        (instances, self.warnings)
    }

    /// Expands the events of one UID, given as indexes in file order. Groups are
    /// expected in UID order, which keeps sorting the output cheap.
    pub fn expand_group(&mut self, members: &[usize]) {
        let specs = self.specs;
        let Some(uid) = members.first().map(|&i| {
            self.group_heads.push(i);
            specs[i].uid.as_str()
        }) else {
            return;
        };
        // The same event may appear twice (two VCALENDARs, re-exports): the highest
        // SEQUENCE wins, then the later one.
        let master = pick_latest(
            specs,
            members
                .iter()
                .copied()
                .filter(|&i| specs[i].recurrence_id.is_none()),
        );
        let mut overrides: BTreeMap<i64, usize> = BTreeMap::new();
        for &i in members {
            let Some(rid) = specs[i].recurrence_id else {
                continue;
            };
            let key = rid.at.timestamp();
            if overrides
                .get(&key)
                .is_none_or(|&old| specs[old].sequence <= specs[i].sequence)
            {
                overrides.insert(key, i);
            }
        }
        let future: Vec<usize> = overrides
            .values()
            .copied()
            .filter(|&i| specs[i].recurrence_id.is_some_and(|r| r.this_and_future))
            .collect();

        if let Some(master) = master {
            // A cancelled series takes its moved instances with it.
            if specs[master].status == EventStatus::Cancelled {
                return;
            }
            self.expand_master(uid, master, &overrides, &future);
        }
        for (key, &i) in &overrides {
            let o = &specs[i];
            if o.status == EventStatus::Cancelled {
                continue;
            }
            let Some(end) = o.length.end(&o.zone, o.start_local, o.start) else {
                continue;
            };
            let original = DateTime::from_timestamp(*key, 0).unwrap_or(o.start);
            self.push(i, original, o.start, end);
        }
    }

    fn expand_master(
        &mut self,
        uid: &str,
        master: usize,
        overrides: &BTreeMap<i64, usize>,
        future: &[usize],
    ) {
        let specs = self.specs;
        let m = &specs[master];
        let shift = future
            .iter()
            .map(|&f| &specs[f])
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
        let exdates: HashSet<i64> = m.exdates.iter().map(DateTime::timestamp).collect();
        // Most events happen once: their DTSTART is the only candidate.
        if m.rules.is_empty() && m.rdates.is_empty() && m.exrules.is_empty() && max_out > 0 {
            if (skip_before..=stop_after).contains(&m.start_local) {
                self.emit(master, m.start_local, None, &exdates, overrides, future);
            }
            return;
        }
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

        for (local, explicit) in locals {
            if !self.emit(master, local, explicit, &exdates, overrides, future) {
                return;
            }
        }
    }

    /// Adds the instance of the series `master` at `local` (with an RDATE PERIOD's own
    /// length, if any) unless it is excluded or overridden. `false` once the total cap
    /// is reached.
    fn emit(
        &mut self,
        master: usize,
        local: NaiveDateTime,
        explicit: Option<i64>,
        exdates: &HashSet<i64>,
        overrides: &BTreeMap<i64, usize>,
        future: &[usize],
    ) -> bool {
        let specs = self.specs;
        let m = &specs[master];
        if m.exdate_days.contains(&local.date()) {
            return true;
        }
        let Some(start) = m.zone.to_utc(local) else {
            return true;
        };
        if exdates.contains(&start.timestamp()) || overrides.contains_key(&start.timestamp()) {
            return true;
        }
        let end = match explicit {
            Some(secs) => start.checked_add_signed(Duration::seconds(secs)),
            None => m.length.end(&m.zone, local, start),
        };
        let Some(end) = end else { return true };
        // A THISANDFUTURE override reshapes every later instance of the series.
        let later = future
            .iter()
            .rev()
            .find(|&&f| specs[f].recurrence_id.is_some_and(|r| r.at <= start));
        match later {
            Some(&fi) => {
                let f = &specs[fi];
                if f.status == EventStatus::Cancelled {
                    return true;
                }
                let Some(rid) = f.recurrence_id else {
                    return true;
                };
                let f_end = f
                    .length
                    .end(&f.zone, f.start_local, f.start)
                    .unwrap_or(f.start);
                let new_start = start + (f.start - rid.at);
                let new_end = new_start + (f_end - f.start);
                self.push(fi, start, new_start, new_end);
            }
            None => self.push(master, start, start, end),
        }
        !self.total_reached()
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

    /// Adds one instance of `specs[spec]` if it touches the window.
    fn push(
        &mut self,
        spec: usize,
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
            group: u32::try_from(self.group_heads.len().saturating_sub(1)).unwrap_or(u32::MAX),
            seq: self.found.len(),
            spec,
        });
    }
}

fn pick_latest(specs: &[EventSpec], members: impl Iterator<Item = usize>) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in members {
        if best.is_none_or(|b| specs[b].sequence <= specs[i].sequence) {
            best = Some(i);
        }
    }
    best
}
