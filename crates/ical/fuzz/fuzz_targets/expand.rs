//! Fuzz target: `expand` must never panic, whatever the bytes, window or zone.
#![no_main]

use calsync_ical::{expand, Limits, Window};
use chrono::DateTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the caller's zone and the window's start, so DST paths in
    // several zones are reached from one corpus.
    let (selector, rest) = match data.split_first() {
        Some((s, r)) => (*s, r),
        None => (0, data),
    };
    let zones = [
        chrono_tz::UTC,
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Lord_Howe,
    ];
    let tz = zones[usize::from(selector) % zones.len()];
    let from_secs = 1_577_836_800 + i64::from(selector) * 7 * 86_400; // from 2020-01-01 on
    let (Some(from), Some(to)) = (
        DateTime::from_timestamp(from_secs, 0),
        DateTime::from_timestamp(from_secs + 400 * 86_400, 0),
    ) else {
        return;
    };
    let limits = Limits {
        max_instances_per_series: 2_000,
        max_steps_per_series: 50_000,
        max_steps_total: 500_000,
        ..Limits::default()
    };
    let text = String::from_utf8_lossy(rest);
    let _ = expand(&text, Window { from, to }, tz, &limits);
});
