//! Integration tests of calsync-ical: real-world-shaped feeds, the RFC 5545 recurrence
//! examples, DST, hostile input, the CLI, and a never-panics property.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod damaged;
mod dst;
mod exrule;
mod feeds;
mod hostile;
mod order;
mod props;
mod refresh;
mod rfc;
mod tzid;
mod value_types;

use calsync_ical::{expand, BusyInstance, Expansion, Limits, Window};
use chrono::{DateTime, Utc};

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

pub fn run(text: &str, from: &str, to: &str, tz: chrono_tz::Tz) -> Expansion {
    let window = Window {
        from: t(from),
        to: t(to),
    };
    expand(text, window, tz, &Limits::default()).unwrap_or_else(|e| panic!("expand: {e}"))
}

/// "start..end" of each instance of `uid`, minutes precision, UTC.
pub fn spans(exp: &Expansion, uid: &str) -> Vec<String> {
    exp.instances
        .iter()
        .filter(|i| i.uid == uid)
        .map(|i| {
            format!(
                "{}..{}",
                i.start.format("%Y-%m-%dT%H:%MZ"),
                i.end.format("%Y-%m-%dT%H:%MZ")
            )
        })
        .collect()
}

pub fn only<'a>(exp: &'a Expansion, uid: &str) -> &'a BusyInstance {
    let found: Vec<&BusyInstance> = exp.instances.iter().filter(|i| i.uid == uid).collect();
    assert_eq!(found.len(), 1, "exactly one instance of {uid}: {found:?}");
    found[0]
}
