//! Benchmark of `expand` on a generated feed of 10,000 events, 1,000 of them recurring
//! series (with EXDATEs, and moved or cancelled instances as separate RECURRENCE-ID
//! VEVENTs), over a one-year window.
//!
//! The printed digest covers every instance and warning, so a change that should not
//! alter the output can be checked against the digest printed before it.
//!
//! `cargo bench -p calsync-ical --bench expand` times several runs. Flags (after `--`):
//! `--write PATH` writes the feed and exits (for comparisons with other libraries);
//! `--once PATH` expands that file once and prints the instance count (for peak-memory
//! measurement with /usr/bin/time -v).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_ical::{expand, Limits, Window};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;
use std::time::Instant;

const EVENTS: usize = 10_000;
const SERIES: usize = 1_000;
pub const WINDOW_FROM: &str = "2024-01-01T00:00:00Z";
pub const WINDOW_TO: &str = "2025-01-01T00:00:00Z";

/// Deterministic pseudo-random numbers, so every run benchmarks the same feed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const VTIMEZONES: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n\
TZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n\
TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n\
END:STANDARD\r\nEND:VTIMEZONE\r\n";

/// A feed shaped like a busy agent's multi-year export.
pub fn generate() -> String {
    let mut rng = Lcg(42);
    let mut out =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//bench//EN\r\n");
    out.push_str(VTIMEZONES);
    let zones = ["Europe/Berlin", "America/New_York"];
    // Written after the loop, without drawing from `rng`, so the first 10,000 events stay
    // the feed earlier figures were measured on.
    let mut overrides = String::new();
    let rules = [
        "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "FREQ=DAILY;COUNT=200",
        "FREQ=MONTHLY;BYDAY=2TU",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;UNTIL=20250101T000000Z",
        "FREQ=YEARLY;BYMONTH=3,9;BYMONTHDAY=15",
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
    ];
    for i in 0..EVENTS {
        let year = 2023 + rng.next(3);
        let (month, day, hour) = (1 + rng.next(12), 1 + rng.next(28), 7 + rng.next(10));
        let stamp = format!(
            "{year}{month:02}{day:02}T{hour:02}{:02}00",
            rng.next(4) * 15
        );
        let _ = write!(
            out,
            "BEGIN:VEVENT\r\nUID:bench-{i}@calsync\r\nDTSTAMP:20240101T000000Z\r\n"
        );
        let _ = write!(out, "SUMMARY:Event {i}\\, generated\r\n");
        if i < SERIES {
            let start_year = 2022 + rng.next(3);
            let zone = zones[i % 2];
            let _ = write!(
                out,
                "DTSTART;TZID={zone}:{start_year}{month:02}{day:02}T{hour:02}0000\r\nDURATION:PT45M\r\nRRULE:{}\r\n",
                rules[i % rules.len()]
            );
            if i % 3 == 0 {
                let _ = write!(
                    out,
                    "EXDATE;TZID={zone}:2024{month:02}{day:02}T{hour:02}0000\r\n"
                );
            }
            write_overrides(&mut overrides, i, zone, hour);
        } else {
            match i % 4 {
                0 => {
                    let _ = write!(out, "DTSTART;VALUE=DATE:{}\r\n", &stamp[..8]);
                }
                1 => {
                    let _ = write!(
                        out,
                        "DTSTART:{stamp}Z\r\nDTEND:{year}{month:02}{day:02}T{:02}0000Z\r\n",
                        hour + 1
                    );
                }
                _ => {
                    let zone = zones[i % 2];
                    let _ = write!(out, "DTSTART;TZID={zone}:{stamp}\r\nDURATION:PT1H\r\n");
                }
            }
            if i % 10 == 0 {
                out.push_str("TRANSP:TRANSPARENT\r\n");
            }
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str(&overrides);
    out.push_str("END:VCALENDAR\r\n");
    out
}

/// Moved and cancelled instances of the weekly Monday and weekday series, on Mondays of
/// late 2024 (instances of both rules once the series has started).
fn write_overrides(out: &mut String, i: usize, zone: &str, hour: u64) {
    // Rules 0 and 5 of `generate`: weekly on MO,WE,FR and daily on weekdays.
    if !matches!(i % 6, 0 | 5) {
        return;
    }
    let monday = ["20241104", "20241111", "20241118", "20241125", "20241202"][i % 5];
    let _ = write!(
        out,
        "BEGIN:VEVENT\r\nUID:bench-{i}@calsync\r\nDTSTAMP:20240101T000000Z\r\nSEQUENCE:1\r\n\
         RECURRENCE-ID;TZID={zone}:{monday}T{hour:02}0000\r\n"
    );
    if matches!(i % 4, 0) {
        out.push_str("STATUS:CANCELLED\r\n");
    }
    let _ = write!(
        out,
        "DTSTART;TZID={zone}:{monday}T{:02}3000\r\nDURATION:PT45M\r\nSUMMARY:Moved {i}\r\nEND:VEVENT\r\n",
        hour + 2
    );
}

/// FNV-1a over every instance and warning: equal digests, equal output.
fn digest(exp: &calsync_ical::Expansion) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for i in &exp.instances {
        eat(&format!(
            "{}|{}|{}|{}|{}|{:?}|{:?}|{}",
            i.uid, i.instance_id, i.start, i.end, i.all_day, i.summary, i.status, i.blocks
        ));
    }
    for w in &exp.warnings {
        eat(w);
    }
    h
}

fn window() -> Window {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    Window {
        from: t(WINDOW_FROM),
        to: t(WINDOW_TO),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(path) = flag("--write") {
        std::fs::write(&path, generate()).unwrap();
        println!("wrote {path}");
        return;
    }
    if let Some(path) = flag("--once") {
        let text = std::fs::read_to_string(&path).unwrap();
        let started = Instant::now();
        let exp = expand(
            &text,
            window(),
            chrono_tz::Europe::Berlin,
            &Limits::default(),
        )
        .unwrap();
        println!(
            "instances={} digest={:016x} seconds={:.3}",
            exp.instances.len(),
            digest(&exp),
            started.elapsed().as_secs_f64()
        );
        return;
    }
    let text = generate();
    let mut times = Vec::new();
    let mut count = 0;
    let mut sum = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let exp = expand(
            &text,
            window(),
            chrono_tz::Europe::Berlin,
            &Limits::default(),
        )
        .unwrap();
        times.push(started.elapsed().as_secs_f64());
        count = exp.instances.len();
        sum = digest(&exp);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "expand: {} bytes, {EVENTS} events ({SERIES} series), window {WINDOW_FROM}..{WINDOW_TO}: \
         {count} instances (digest {sum:016x}); min {:.3}s median {:.3}s",
        text.len(),
        times[0],
        times[times.len() / 2]
    );
}
