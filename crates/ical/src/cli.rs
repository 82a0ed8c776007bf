//! `calsync ics busy FILE --from T --to T [--tz ZONE]`: prints the busy JSON of a file.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use std::io::Write;
use std::path::Path;

/// Runs the subcommand; returns the process exit code: 0 on success, 2 for malformed
/// input or bad arguments, with exactly one line on stderr.
pub fn run_busy_cli(file: &Path, from: &str, to: &str, tz: Option<&str>) -> i32 {
    match busy(file, from, to, tz) {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
                eprintln!("error: cannot write to stdout");
                return 2;
            }
            0
        }
        Err(message) => {
            eprintln!("error: {}", message.replace('\n', " "));
            2
        }
    }
}

fn busy(file: &Path, from: &str, to: &str, tz: Option<&str>) -> Result<String, String> {
    let zone = match tz {
        Some(name) => {
            crate::parse_zone(name).ok_or_else(|| format!("unknown time zone {name:?}"))?
        }
        None => chrono_tz::UTC,
    };
    let from = parse_instant(from, zone)
        .ok_or_else(|| format!("--from {from:?} is not an RFC 3339 time"))?;
    let to =
        parse_instant(to, zone).ok_or_else(|| format!("--to {to:?} is not an RFC 3339 time"))?;
    if to <= from {
        return Err("--to must be after --from".to_string());
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let json =
        crate::busy_json(&text, from, to, zone).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::to_string(&json).map_err(|e| e.to_string())
}

/// RFC 3339, or a bare date meaning local midnight in `zone`.
fn parse_instant(s: &str, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    crate::tz::Zone::Iana(zone).to_utc(date.and_time(NaiveTime::MIN))
}
