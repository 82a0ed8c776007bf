//! The comparison with the truth: for every connection, the events calsync stores
//! (`external_events`: id, interval, all-day, whether it blocks) against the instances
//! the sandbox holds now, and the slots `GET /api/availability` offers against the slots
//! the truth leaves free. The truth is read from the sandboxes, never from what the
//! workload meant to do.

use crate::system::{Agent, Prov, System};
use crate::workload::DAYS;
use anyhow::{anyhow, bail};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

/// What matters of one event instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    pub blocks: bool,
}

pub type Events = BTreeMap<String, Span>;

/// The compared range: the day before the first changed day, through series' ends.
pub fn window(day0: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = midnight(day0 - Duration::days(1));
    (from, from + Duration::days(60))
}

/// The availability range asked for: every day changes land on, and series' tails.
fn slot_range(day0: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = midnight(day0);
    (from, from + Duration::days(DAYS + 30))
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn overlaps(s: &Span, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    s.start < to && s.end > from
}

fn google_time(v: &Value) -> anyhow::Result<(DateTime<Utc>, bool)> {
    if let Some(d) = v["date"].as_str() {
        return Ok((midnight(NaiveDate::parse_from_str(d, "%Y-%m-%d")?), true));
    }
    let t = v["dateTime"]
        .as_str()
        .ok_or_else(|| anyhow!("no date or dateTime in {v}"))?;
    Ok((DateTime::parse_from_rfc3339(t)?.with_timezone(&Utc), false))
}

fn graph_time(v: &Value) -> anyhow::Result<DateTime<Utc>> {
    let t = v["dateTime"]
        .as_str()
        .ok_or_else(|| anyhow!("no dateTime in {v}"))?;
    if v["timeZone"].as_str() != Some("UTC") {
        bail!("truth asked in UTC, got {v}");
    }
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")?;
    Ok(Utc.from_utc_datetime(&naive))
}

/// The sandbox's truth for one agent. Busy rules as providers.md and the architecture
/// put them: Google `transparent` is free (tentative blocks, the default policy);
/// Graph `showAs` free and workingElsewhere, and a declined answer, are free.
pub fn truth(sys: &System, agent: &Agent, day0: NaiveDate) -> anyhow::Result<Events> {
    let (from, to) = window(day0);
    let mut out = Events::new();
    match agent.prov {
        Prov::Google => {
            for e in sys.google.instances_between(&agent.user, from, to) {
                let id = e["id"].as_str().ok_or_else(|| anyhow!("no id: {e}"))?;
                let (start, all_day) = google_time(&e["start"])?;
                let (end, _) = google_time(&e["end"])?;
                let blocks = e["transparency"].as_str() != Some("transparent");
                out.insert(
                    id.to_owned(),
                    Span {
                        start,
                        end,
                        all_day,
                        blocks,
                    },
                );
            }
        }
        Prov::Graph => {
            for e in sys.graph.calendar_view(&agent.user, from, to) {
                let id = e["id"].as_str().ok_or_else(|| anyhow!("no id: {e}"))?;
                let free = matches!(e["showAs"].as_str(), Some("free" | "workingElsewhere"))
                    || e["responseStatus"]["response"].as_str() == Some("declined");
                out.insert(
                    id.to_owned(),
                    Span {
                        start: graph_time(&e["start"])?,
                        end: graph_time(&e["end"])?,
                        all_day: e["isAllDay"].as_bool().unwrap_or(false),
                        blocks: !free,
                    },
                );
            }
        }
    }
    out.retain(|_, s| overlaps(s, from, to));
    Ok(out)
}

/// What calsync stores for the agent's connection, in the same range.
pub async fn stored(sys: &System, agent: &Agent, day0: NaiveDate) -> anyhow::Result<Events> {
    let (from, to) = window(day0);
    let mut out = Events::new();
    for r in sys.events(agent.connection).await? {
        let s = Span {
            start: r.starts_at,
            end: r.ends_at,
            all_day: r.all_day,
            blocks: r.blocks_availability,
        };
        if overlaps(&s, from, to) {
            out.insert(r.provider_event_id, s);
        }
    }
    Ok(out)
}

/// A readable difference, or `None` when equal.
pub fn diff(truth: &Events, stored: &Events) -> Option<String> {
    let mut lines = Vec::new();
    for (id, t) in truth {
        match stored.get(id) {
            None => lines.push(format!("  missing {id}: {t:?}")),
            Some(s) if s != t => lines.push(format!("  differs {id}: stored {s:?}, truth {t:?}")),
            Some(_) => {}
        }
    }
    for (id, s) in stored {
        if !truth.contains_key(id) {
            lines.push(format!("  extra {id}: {s:?}"));
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Slot starts the truth leaves free: 08:00–18:00 UTC every day, 60 minutes, a start
/// every 30 minutes (the default step), none overlapping a blocking event.
fn expected_slots(truth: &Events, day0: NaiveDate) -> BTreeSet<DateTime<Utc>> {
    let (from, to) = slot_range(day0);
    let busy: Vec<&Span> = truth.values().filter(|s| s.blocks).collect();
    let mut out = BTreeSet::new();
    let mut day = from;
    while day < to {
        for k in 0..=18 {
            let s = day + Duration::minutes(8 * 60 + 30 * k);
            let e = s + Duration::minutes(60);
            if !busy.iter().any(|b| b.start < e && b.end > s) {
                out.insert(s);
            }
        }
        day += Duration::days(1);
    }
    out
}

async fn offered_slots(
    sys: &System,
    agent: &Agent,
    day0: NaiveDate,
) -> anyhow::Result<BTreeSet<DateTime<Utc>>> {
    let (from, to) = slot_range(day0);
    let resp = sys
        .http
        .get(format!("{}/api/availability", sys.api_url))
        .query(&[
            ("specialistId", agent.specialist.to_string()),
            ("from", from.to_rfc3339()),
            ("to", to.to_rfc3339()),
            ("duration", "60".into()),
        ])
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    if !status.is_success() {
        bail!("availability → {status}: {body}");
    }
    body["slots"]
        .as_array()
        .ok_or_else(|| anyhow!("no slots in {body}"))?
        .iter()
        .map(|s| {
            let start = s["start"]
                .as_str()
                .ok_or_else(|| anyhow!("slot without start"))?;
            Ok(DateTime::parse_from_rfc3339(start)?.with_timezone(&Utc))
        })
        .collect()
}

/// Availability against the truth: `None` when equal, else what differs.
pub async fn check_slots(
    sys: &System,
    agent: &Agent,
    day0: NaiveDate,
) -> anyhow::Result<Option<String>> {
    let truth = truth(sys, agent, day0)?;
    let expected = expected_slots(&truth, day0);
    let offered = offered_slots(sys, agent, day0).await?;
    if expected == offered {
        return Ok(None);
    }
    let withheld: Vec<_> = expected.difference(&offered).take(5).collect();
    let wrongly: Vec<_> = offered.difference(&expected).take(5).collect();
    Ok(Some(format!(
        "  free but not offered: {withheld:?}\n  offered but busy: {wrongly:?}"
    )))
}

#[derive(Debug, Clone)]
pub struct AgentResult {
    pub agent: Agent,
    /// Since the reference instant (the last fault or change); `None`: not converged.
    pub converged_after: Option<std::time::Duration>,
    pub events: usize,
    pub events_diff: Option<String>,
    pub slots_diff: Option<String>,
}

impl AgentResult {
    pub fn ok(&self) -> bool {
        self.converged_after.is_some() && self.events_diff.is_none() && self.slots_diff.is_none()
    }
}

/// Waits until every agent's stored events equal the truth (or `timeout` after
/// `reference`), noting when each first did; then checks availability, and that
/// nothing changed back since.
pub async fn converge(
    sys: &System,
    agents: &[Agent],
    day0: NaiveDate,
    reference: Instant,
    timeout: std::time::Duration,
) -> Vec<AgentResult> {
    let deadline = reference + timeout;
    let mut results: Vec<AgentResult> = agents
        .iter()
        .map(|a| AgentResult {
            agent: a.clone(),
            converged_after: None,
            events: 0,
            events_diff: Some("not compared yet".into()),
            slots_diff: None,
        })
        .collect();
    loop {
        for r in results.iter_mut().filter(|r| r.converged_after.is_none()) {
            let compared = async {
                let t = truth(sys, &r.agent, day0)?;
                let s = stored(sys, &r.agent, day0).await?;
                anyhow::Ok((t.len(), diff(&t, &s)))
            }
            .await;
            match compared {
                Ok((n, None)) => {
                    r.events = n;
                    r.events_diff = None;
                    r.converged_after = Some(Instant::now().saturating_duration_since(reference));
                }
                Ok((n, d)) => {
                    r.events = n;
                    r.events_diff = d;
                }
                Err(e) => r.events_diff = Some(format!("  comparison failed: {e:#}")),
            }
        }
        if results.iter().all(|r| r.converged_after.is_some()) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // Availability is read through the api, which answers from what is stored; a few
    // tries cover an api still reconnecting to its database.
    for r in results.iter_mut() {
        let mut last = None;
        for _ in 0..10 {
            match check_slots(sys, &r.agent, day0).await {
                Ok(None) => {
                    last = None;
                    break;
                }
                Ok(Some(d)) => last = Some(d),
                Err(e) => last = Some(format!("  availability failed: {e:#}")),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        r.slots_diff = last;
    }
    // Stable: what converged stays converged.
    for r in results.iter_mut().filter(|r| r.converged_after.is_some()) {
        let again = async {
            let t = truth(sys, &r.agent, day0)?;
            let s = stored(sys, &r.agent, day0).await?;
            anyhow::Ok(diff(&t, &s))
        }
        .await;
        match again {
            Ok(None) => {}
            Ok(Some(d)) => {
                r.converged_after = None;
                r.events_diff = Some(format!("  changed back after converging:\n{d}"));
            }
            Err(e) => r.events_diff = Some(format!("  comparison failed: {e:#}")),
        }
    }
    results
}
