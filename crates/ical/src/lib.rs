//! ICS (RFC 5545) parsing and recurrence expansion into busy intervals within a window.
#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
mod event;
mod expand;
mod output;
mod parse;
mod recur;
mod tz;

use calsync_core::EventStatus;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use expand::Expander;
use parse::component::{build_tree, Component, TreeLimits};
use parse::lexer::content_lines;
use parse::value::parse_duration;
use tz::ZoneTable;

/// The span of time instances are wanted for: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One instance of an event, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyInstance {
    pub uid: String,
    /// UID plus the instance's original start: unique per instance and stable across
    /// fetches, even when the instance was moved.
    pub instance_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    pub summary: Option<String>,
    pub status: EventStatus,
    /// Whether the instance makes its owner unavailable (not TRANSPARENT, not zero
    /// length; TENTATIVE blocks).
    pub blocks: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Sorted by start, then UID. Cancelled instances are left out; free ones are kept
    /// with `blocks == false` so the agent's portal can show them.
    pub instances: Vec<BusyInstance>,
    /// What was skipped or guessed, one line each.
    pub warnings: Vec<String>,
    /// How often the feed asks to be fetched: RFC 7986 `REFRESH-INTERVAL` (e.g.
    /// `REFRESH-INTERVAL;VALUE=DURATION:PT1H`), else Microsoft's `X-PUBLISHED-TTL`, from
    /// the first VCALENDAR that has a readable, positive one. Data to show in the
    /// operator status, nothing more: it never makes calsync poll less often, because a
    /// publisher's hour-long (or week-long) TTL must not delay seeing a new booking.
    pub refresh_interval: Option<std::time::Duration>,
}

/// Caps that bound the work a hostile feed can cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    /// Longest logical (unfolded) line kept.
    pub max_line_len: usize,
    pub max_depth: usize,
    pub max_components: usize,
    pub max_instances_per_series: usize,
    pub max_instances_total: usize,
    /// Recurrence steps one series may take, counted from its DTSTART.
    pub max_steps_per_series: usize,
    pub max_steps_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 20 * 1024 * 1024,
            max_line_len: 256 * 1024,
            max_depth: 8,
            max_components: 200_000,
            max_instances_per_series: 10_000,
            max_instances_total: 500_000,
            max_steps_per_series: 1_000_000,
            max_steps_total: 20_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IcalError {
    #[error("not an iCalendar file: no BEGIN:VCALENDAR found")]
    NotICalendar,
    #[error("feed is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("window ends ({to}) before it starts ({from})")]
    InvalidWindow {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// Warnings kept; a hostile feed could otherwise produce one per line.
const MAX_WARNINGS: usize = 1_000;

/// How far past the window VTIMEZONE rules are expanded.
const ZONE_HORIZON_DAYS: i64 = 800;

/// Expands every event of `input` into its instances overlapping `window`. Floating times
/// are read in X-WR-TIMEZONE if the calendar has one, else in `default_tz`; all-day
/// events cover local days of `default_tz`.
pub fn expand(
    input: &str,
    window: Window,
    default_tz: chrono_tz::Tz,
    limits: &Limits,
) -> Result<Expansion, IcalError> {
    if window.to < window.from {
        return Err(IcalError::InvalidWindow {
            from: window.from,
            to: window.to,
        });
    }
    if input.len() > limits.max_bytes {
        return Err(IcalError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let mut warnings = Vec::new();
    let mut tree_warnings = Vec::new();
    let lines = content_lines(input, limits.max_line_len, &mut warnings);
    let tree_limits = TreeLimits {
        max_depth: limits.max_depth,
        max_components: limits.max_components,
    };
    let calendars = build_tree(lines, &tree_limits, &mut tree_warnings);
    // Lexing and building the tree run interleaved; their warnings are listed apart, the
    // lexer's first.
    warnings.append(&mut tree_warnings);
    if calendars.is_empty() {
        return Err(IcalError::NotICalendar);
    }
    let horizon = window
        .to
        .naive_utc()
        .checked_add_signed(Duration::days(ZONE_HORIZON_DAYS))
        .unwrap_or(window.to.naive_utc());

    let mut specs = Vec::new();
    let mut refresh_interval = None;
    for cal in &calendars {
        refresh_interval = refresh_interval.or_else(|| refresh_of(cal));
        let mut zones = ZoneTable::new(cal, default_tz, horizon, &mut warnings);
        for comp in cal.children_named("VEVENT") {
            match event::read_event(comp, &mut zones, &mut warnings) {
                Ok(spec) => specs.push(spec),
                Err(why) => warnings.push(format!("line {}: VEVENT skipped: {why}", comp.line_no)),
            }
        }
    }
    drop(calendars);

    // Events grouped by UID, groups in UID order, each group's events in file order (the
    // sort is stable): the later of two equal copies wins.
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by(|&a, &b| specs[a].uid.cmp(&specs[b].uid));
    let mut expander = Expander::new(window, limits, &specs, warnings);
    for group in order.chunk_by(|&a, &b| specs[a].uid == specs[b].uid) {
        expander.expand_group(group);
    }
    let (instances, mut warnings) = expander.finish();
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS;
        warnings.truncate(MAX_WARNINGS);
        warnings.push(format!("... and {more} more warnings"));
    }
    Ok(Expansion {
        instances,
        warnings,
        refresh_interval,
    })
}

fn refresh_of(cal: &Component) -> Option<std::time::Duration> {
    ["REFRESH-INTERVAL", "X-PUBLISHED-TTL"]
        .iter()
        .find_map(|name| {
            let d = parse_duration(&cal.prop(name)?.value)?;
            let secs = d.days.checked_mul(86_400)?.checked_add(d.secs)?;
            u64::try_from(secs)
                .ok()
                .filter(|s| *s > 0)
                .map(std::time::Duration::from_secs)
        })
}

/// The `calsync ics busy` answer: `{"busy":[{"uid","start","end"}]}` with UTC RFC 3339
/// times, only blocking instances overlapping `[from, to)`, sorted by start then UID.
pub fn busy_json(
    input: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Result<serde_json::Value, IcalError> {
    let expansion = expand(input, Window { from, to }, tz, &Limits::default())?;
    let busy: Vec<serde_json::Value> = expansion
        .instances
        .iter()
        .filter(|i| i.blocks && i.start < to && i.end > from)
        .map(|i| {
            serde_json::json!({
                "uid": i.uid,
                "start": i.start.to_rfc3339_opts(SecondsFormat::Secs, true),
                "end": i.end.to_rfc3339_opts(SecondsFormat::Secs, true),
            })
        })
        .collect();
    Ok(serde_json::json!({ "busy": busy }))
}

/// Resolves a zone name given by a user: an IANA name or a Windows name.
pub fn parse_zone(name: &str) -> Option<chrono_tz::Tz> {
    tz::iana_or_windows(name)
}
