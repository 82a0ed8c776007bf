//! Time zones of a calendar: which zone a TZID means (IANA, Windows, or the file's own
//! VTIMEZONE) and the conversion of local wall-clock times to UTC and back.

mod vtimezone;
mod windows;

use crate::parse::component::Component;
use crate::parse::value::unescape_text;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use vtimezone::CustomZone;
pub(crate) use windows::windows_to_iana;

/// A zone that local times of a calendar are in.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    Utc,
    Iana(Tz),
    Custom(Arc<CustomZone>),
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Zone::Utc, Zone::Utc) => true,
            (Zone::Iana(a), Zone::Iana(b)) => a == b,
            (Zone::Custom(a), Zone::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Zone {
    /// Seconds east of UTC in force at the UTC instant `utc`.
    pub fn offset_at(&self, utc: NaiveDateTime) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Iana(tz) => i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()),
            Zone::Custom(zone) => zone.offset_at(utc),
        }
    }

    pub fn to_local(&self, utc: DateTime<Utc>) -> Option<NaiveDateTime> {
        let naive = utc.naive_utc();
        naive.checked_add_signed(Duration::seconds(self.offset_at(naive)))
    }

    /// The UTC instant of a local time. An ambiguous time (the repeated hour in autumn)
    /// is the first of the two; a time in the spring gap is read with the offset before
    /// the gap, so 02:30 becomes 03:30 summer time (RFC 5545 section 3.3.5).
    pub fn to_utc(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Utc => return Some(local.and_utc()),
            // One lookup instead of four: this runs for every instance. Gap times take
            // the general path below, which knows the offset before the gap.
            Zone::Iana(tz) => match tz.offset_from_local_datetime(&local) {
                LocalResult::Single(off) => {
                    return Some(local.checked_sub_signed(offset_secs(&off))?.and_utc())
                }
                LocalResult::Ambiguous(a, b) => {
                    let first = local
                        .checked_sub_signed(offset_secs(&a))?
                        .min(local.checked_sub_signed(offset_secs(&b))?);
                    return Some(first.and_utc());
                }
                LocalResult::None => {}
            },
            Zone::Custom(_) => {}
        }
        let day = Duration::days(1);
        let before = self.offset_at(local.checked_sub_signed(day)?);
        let after = self.offset_at(local.checked_add_signed(day)?);
        let mut best: Option<NaiveDateTime> = None;
        for off in [before, after] {
            let candidate = local.checked_sub_signed(Duration::seconds(off))?;
            if self.offset_at(candidate) == off && best.is_none_or(|b| candidate < b) {
                best = Some(candidate);
            }
        }
        let utc = match best {
            Some(u) => u,
            None => local.checked_sub_signed(Duration::seconds(before))?,
        };
        Some(utc.and_utc())
    }
}

fn offset_secs(off: &<Tz as TimeZone>::Offset) -> Duration {
    Duration::seconds(i64::from(off.fix().local_minus_utc()))
}

/// TZIDs kept in `ZoneTable::recent`; real feeds use fewer.
const RECENT_ZONES: usize = 16;

/// The zones one VCALENDAR can refer to.
pub(crate) struct ZoneTable {
    custom: HashMap<String, Arc<CustomZone>>,
    /// Zone of floating times: X-WR-TIMEZONE, else the caller's zone.
    pub floating: Zone,
    /// Whether X-WR-TIMEZONE was given; then UTC-anchored series recur in it.
    pub has_calendar_zone: bool,
    /// Zone whose local days all-day events cover: the caller's zone.
    pub date_zone: Zone,
    /// TZIDs already resolved, as written: a feed names a handful of zones thousands
    /// of times. The first few are scanned (cheaper than hashing), the rest hashed.
    recent: Vec<(String, Zone)>,
    resolved: HashMap<String, Zone>,
}

impl ZoneTable {
    /// `horizon` bounds how far VTIMEZONE rules are expanded.
    pub fn new(
        calendar: &Component,
        default_tz: Tz,
        horizon: NaiveDateTime,
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut custom = HashMap::new();
        for comp in calendar.children_named("VTIMEZONE") {
            match CustomZone::from_component(comp, horizon, warnings) {
                Some(zone) => {
                    custom.insert(zone.tzid.clone(), Arc::new(zone));
                }
                None => warnings.push(format!(
                    "line {}: VTIMEZONE without usable observances, skipped",
                    comp.line_no
                )),
            }
        }
        let mut table = ZoneTable {
            custom,
            floating: Zone::Iana(default_tz),
            has_calendar_zone: false,
            date_zone: Zone::Iana(default_tz),
            recent: Vec::new(),
            resolved: HashMap::new(),
        };
        if let Some(wr) = calendar.prop("X-WR-TIMEZONE") {
            if let Some(zone) = table.lookup(&wr.value) {
                table.floating = zone;
                table.has_calendar_zone = true;
            } else {
                warnings.push(format!(
                    "line {}: unknown X-WR-TIMEZONE {:?}, using the default zone",
                    wr.line_no, wr.value
                ));
            }
        }
        table
    }

    /// The zone a TZID names. Unknown TZIDs fall back to the floating zone, with one
    /// warning per TZID.
    pub fn resolve(&mut self, tzid: &str, warnings: &mut Vec<String>) -> Zone {
        if let Some((_, zone)) = self.recent.iter().find(|(name, _)| name == tzid) {
            return zone.clone();
        }
        if let Some(zone) = self.resolved.get(tzid) {
            return zone.clone();
        }
        let zone = self.lookup(tzid).unwrap_or_else(|| {
            warnings.push(format!(
                "unknown TZID {tzid:?}, read as the calendar's floating zone"
            ));
            self.floating.clone()
        });
        if self.recent.len() < RECENT_ZONES {
            self.recent.push((tzid.to_string(), zone.clone()));
        } else {
            self.resolved.insert(tzid.to_string(), zone.clone());
        }
        zone
    }

    fn lookup(&self, tzid: &str) -> Option<Zone> {
        let name = tzid.trim().trim_matches('"');
        // Names with commas arrive escaped or not, depending on the writer; the
        // VTIMEZONEs are keyed unescaped.
        let unescaped;
        let name = if name.contains('\\') {
            unescaped = unescape_text(name);
            unescaped.as_str()
        } else {
            name
        };
        if let Some(tz) = iana_or_windows(name) {
            return Some(iana_zone(tz));
        }
        if let Some(zone) = self.custom.get(name) {
            return Some(Zone::Custom(Arc::clone(zone)));
        }
        // Old Thunderbird/Lightning writes "/mozilla.org/20070129_1/Europe/Berlin".
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        for take in [3, 2] {
            if parts.len() > take {
                let tail = parts[parts.len() - take..].join("/");
                if let Ok(tz) = tail.parse::<Tz>() {
                    return Some(iana_zone(tz));
                }
            }
        }
        None
    }
}

/// A TZID or zone name that the IANA database knows, directly or as a Windows name.
pub(crate) fn iana_or_windows(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("Z") || name.eq_ignore_ascii_case("UTC") {
        return Some(Tz::UTC);
    }
    name.parse::<Tz>().ok().or_else(|| windows_to_iana(name))
}

fn iana_zone(tz: Tz) -> Zone {
    match tz {
        Tz::UTC | Tz::Etc__UTC | Tz::Etc__UCT | Tz::Etc__Zulu | Tz::Zulu | Tz::UCT => Zone::Utc,
        other => Zone::Iana(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .unwrap_or_default()
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward_by_the_gap() {
        let berlin = Zone::Iana(Tz::Europe__Berlin);
        let utc = berlin.to_utc(local(2024, 3, 31, 2, 30)).unwrap_or_default();
        assert_eq!(utc.to_rfc3339(), "2024-03-31T01:30:00+00:00");
    }

    #[test]
    fn an_ambiguous_autumn_time_is_the_first_occurrence() {
        let berlin = Zone::Iana(Tz::Europe__Berlin);
        let utc = berlin
            .to_utc(local(2024, 10, 27, 2, 30))
            .unwrap_or_default();
        assert_eq!(utc.to_rfc3339(), "2024-10-27T00:30:00+00:00");
    }

    #[test]
    fn windows_and_iana_names_resolve_to_the_iana_database() {
        assert_eq!(
            iana_or_windows("Tokyo Standard Time"),
            Some(Tz::Asia__Tokyo)
        );
        assert_eq!(
            iana_or_windows("America/New_York"),
            Some(Tz::America__New_York)
        );
        assert_eq!(iana_or_windows("Mars/Olympus"), None);
    }
}
