//! Coworkers at work: random inserts, moves, deletes, free/busy flips, all-day events
//! and recurring series (and, on Graph, edits and cancellations of single occurrences)
//! in the agents' sandbox calendars. Every write pushes to the agent's webhook like any
//! change at the provider. The choice of agent and change is drawn from the seeded RNG;
//! what the calendars then hold is read back from the sandboxes, not from here.

use crate::system::{Agent, Prov, System};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Changes land on days `first_day() .. first_day() + DAYS`; series run at most 6 weeks.
pub const DAYS: i64 = 14;
/// Above this many events an agent's coworkers rather move and delete than insert.
const CROWDED: usize = 20;

pub fn first_day() -> NaiveDate {
    (Utc::now() + Duration::days(1)).date_naive()
}

#[derive(Debug, Clone)]
struct Item {
    id: String,
    series: bool,
    all_day: bool,
}

pub struct Workload {
    rng: StdRng,
    day0: NaiveDate,
    agents: Vec<(Agent, Vec<Item>)>,
    /// Changes made, by kind.
    pub counts: BTreeMap<&'static str, u64>,
    /// Changes a sandbox refused (a bug in this generator, reported, never ignored).
    pub refused: Vec<String>,
    pub last_change: Option<tokio::time::Instant>,
}

fn at(day: NaiveDate, minutes: i64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        + Duration::minutes(minutes)
}

fn google_time(t: DateTime<Utc>, series: bool) -> Value {
    if series {
        json!({"dateTime": t.to_rfc3339(), "timeZone": "UTC"})
    } else {
        json!({"dateTime": t.to_rfc3339()})
    }
}

fn graph_time(t: DateTime<Utc>) -> Value {
    json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"})
}

fn graph_weekday(d: NaiveDate) -> &'static str {
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ][d.weekday().num_days_from_monday() as usize]
}

impl Workload {
    pub fn new(seed: u64, agents: &[Agent]) -> Self {
        use rand::SeedableRng;
        Self {
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_c0de),
            day0: first_day(),
            agents: agents.iter().map(|a| (a.clone(), Vec::new())).collect(),
            counts: BTreeMap::new(),
            refused: Vec::new(),
            last_change: None,
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// A random start on the quarter hour between 06:00 and 20:00 of a random day, and
    /// a length of 15 minutes to 3 hours.
    fn when(&mut self) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = self.day0 + Duration::days(self.rng.gen_range(0..DAYS));
        let start = at(day, self.rng.gen_range(24..80) * 15);
        let len = *[15, 30, 45, 60, 60, 90, 120, 180]
            .choose(&mut self.rng)
            .unwrap_or(&60);
        (start, start + Duration::minutes(len))
    }

    /// One random change for one random agent.
    pub fn step(&mut self, sys: &System) {
        let a = self.rng.gen_range(0..self.agents.len());
        let (agent, items) = (self.agents[a].0.clone(), self.agents[a].1.clone());
        let crowded = items.len() >= CROWDED;
        let roll = self.rng.gen_range(0..100);
        let kind = match roll {
            _ if items.is_empty() => "insert",
            0..=24 if !crowded => "insert",
            25..=31 if !crowded => "all-day",
            32..=39 if !crowded => "recurring",
            0..=19 => "move",
            20..=39 => "delete",
            40..=59 => "move",
            60..=74 => "free/busy",
            75..=84 if agent.prov == Prov::Graph => "occurrence",
            75..=84 => "move",
            _ => "delete",
        };
        let result = match agent.prov {
            Prov::Google => self.google(sys, &agent, a, kind, &items),
            Prov::Graph => self.graph(sys, &agent, a, kind, &items),
        };
        match result {
            Ok(kind) => {
                *self.counts.entry(kind).or_default() += 1;
                self.last_change = Some(tokio::time::Instant::now());
            }
            Err(e) => self
                .refused
                .push(format!("{kind} for {}: {e:#}", agent.user)),
        }
    }

    fn pick(&mut self, items: &[Item]) -> Item {
        items[self.rng.gen_range(0..items.len())].clone()
    }

    fn forget(&mut self, a: usize, id: &str) {
        self.agents[a].1.retain(|i| i.id != id);
    }

    fn google(
        &mut self,
        sys: &System,
        agent: &Agent,
        a: usize,
        kind: &'static str,
        items: &[Item],
    ) -> anyhow::Result<&'static str> {
        let g = &sys.google;
        let user = agent.user.as_str();
        match kind {
            "insert" => {
                let (s, e) = self.when();
                let mut body = json!({"summary": "Coworker booking", "start": google_time(s, false), "end": google_time(e, false)});
                match self.rng.gen_range(0..10) {
                    0 => body["transparency"] = json!("transparent"),
                    1 => body["status"] = json!("tentative"),
                    _ => {}
                }
                let id = g.insert_event(user, body)?;
                self.agents[a].1.push(Item {
                    id,
                    series: false,
                    all_day: false,
                });
            }
            "all-day" => {
                let day = self.day0 + Duration::days(self.rng.gen_range(0..DAYS));
                let days = self.rng.gen_range(1..=2);
                let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
                let body = json!({"summary": "Away", "start": {"date": fmt(day)}, "end": {"date": fmt(day + Duration::days(days))}});
                let id = g.insert_event(user, body)?;
                self.agents[a].1.push(Item {
                    id,
                    series: false,
                    all_day: true,
                });
            }
            "recurring" => {
                let (s, e) = self.when();
                let rule = if self.rng.gen_bool(0.5) {
                    format!("RRULE:FREQ=DAILY;COUNT={}", self.rng.gen_range(2..=6))
                } else {
                    format!("RRULE:FREQ=WEEKLY;COUNT={}", self.rng.gen_range(2..=4))
                };
                let body = json!({"summary": "Standing meeting", "start": google_time(s, true), "end": google_time(e, true), "recurrence": [rule]});
                let id = g.insert_event(user, body)?;
                self.agents[a].1.push(Item {
                    id,
                    series: true,
                    all_day: false,
                });
            }
            "move" => {
                let it = self.pick(items);
                let patch = if it.all_day {
                    let day = self.day0 + Duration::days(self.rng.gen_range(0..DAYS));
                    let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
                    json!({"start": {"date": fmt(day)}, "end": {"date": fmt(day + Duration::days(1))}})
                } else if it.series && self.rng.gen_bool(0.3) {
                    // Another rhythm for the series: instances come and go.
                    json!({"recurrence": [format!("RRULE:FREQ=DAILY;COUNT={}", self.rng.gen_range(1..=5))]})
                } else {
                    let (s, e) = self.when();
                    json!({"start": google_time(s, it.series), "end": google_time(e, it.series)})
                };
                g.patch_event(user, &it.id, patch)?;
            }
            "free/busy" => {
                let it = self.pick(items);
                let now = g
                    .event(user, &it.id)
                    .and_then(|e| e["transparency"].as_str().map(str::to_owned));
                let next = if now.as_deref() == Some("transparent") {
                    "opaque"
                } else {
                    "transparent"
                };
                g.patch_event(user, &it.id, json!({"transparency": next}))?;
            }
            _ => {
                let it = self.pick(items);
                g.delete_event(user, &it.id)?;
                self.forget(a, &it.id);
                return Ok("delete");
            }
        }
        Ok(kind)
    }

    fn graph(
        &mut self,
        sys: &System,
        agent: &Agent,
        a: usize,
        kind: &'static str,
        items: &[Item],
    ) -> anyhow::Result<&'static str> {
        let m = &sys.graph;
        let user = agent.user.as_str();
        let show_as = |rng: &mut StdRng| {
            *[
                "busy",
                "busy",
                "busy",
                "tentative",
                "oof",
                "free",
                "workingElsewhere",
            ]
            .choose(rng)
            .unwrap_or(&"busy")
        };
        match kind {
            "insert" => {
                let (s, e) = self.when();
                let body = json!({"subject": "Coworker booking", "start": graph_time(s), "end": graph_time(e), "showAs": show_as(&mut self.rng)});
                let id = m.create_event(user, body)?;
                self.agents[a].1.push(Item {
                    id,
                    series: false,
                    all_day: false,
                });
            }
            "all-day" => {
                let day = self.day0 + Duration::days(self.rng.gen_range(0..DAYS));
                let days = self.rng.gen_range(1..=2);
                let body = json!({"subject": "Away", "isAllDay": true, "showAs": "oof",
                    "start": graph_time(at(day, 0)), "end": graph_time(at(day + Duration::days(days), 0))});
                let id = m.create_event(user, body)?;
                self.agents[a].1.push(Item {
                    id,
                    series: false,
                    all_day: true,
                });
            }
            "recurring" => {
                let (s, e) = self.when();
                let date = s.date_naive();
                let pattern = if self.rng.gen_bool(0.5) {
                    json!({"type": "daily", "interval": 1})
                } else {
                    json!({"type": "weekly", "interval": 1, "daysOfWeek": [graph_weekday(date)]})
                };
                let body = json!({"subject": "Standing meeting", "start": graph_time(s), "end": graph_time(e), "showAs": "busy",
                    "recurrence": {"pattern": pattern, "range": {"type": "numbered", "startDate": date.format("%Y-%m-%d").to_string(),
                        "numberOfOccurrences": self.rng.gen_range(2..=5)}}});
                let id = m.create_event(user, body)?;
                self.agents[a].1.push(Item {
                    id,
                    series: true,
                    all_day: false,
                });
            }
            "move" => {
                let it = self.pick(items);
                let patch = if it.all_day {
                    let day = self.day0 + Duration::days(self.rng.gen_range(0..DAYS));
                    json!({"start": graph_time(at(day, 0)), "end": graph_time(at(day + Duration::days(1), 0))})
                } else if it.series {
                    // The series keeps its days; its meetings move within the day.
                    let Some(master) = m.get_event(user, &it.id) else {
                        anyhow::bail!("series {} is gone", it.id);
                    };
                    let start = master["start"]["dateTime"].as_str().unwrap_or_default();
                    let day = NaiveDate::parse_from_str(&start[..10.min(start.len())], "%Y-%m-%d")?;
                    let s = at(day, self.rng.gen_range(24..80) * 15);
                    let len = self.rng.gen_range(1..=8) * 15;
                    json!({"start": graph_time(s), "end": graph_time(s + Duration::minutes(len))})
                } else {
                    let (s, e) = self.when();
                    json!({"start": graph_time(s), "end": graph_time(e)})
                };
                m.update_event(user, &it.id, patch)?;
            }
            "free/busy" => {
                let it = self.pick(items);
                let next = show_as(&mut self.rng);
                m.update_event(user, &it.id, json!({"showAs": next}))?;
            }
            "occurrence" => {
                // One meeting of a series is moved or cancelled (it becomes an exception).
                let Some(series) = items.iter().find(|i| i.series).cloned() else {
                    return self.graph(sys, agent, a, "move", items);
                };
                let from = at(self.day0, 0) - Duration::days(1);
                let view = m.calendar_view(user, from, from + Duration::days(60));
                let occurrences: Vec<&Value> = view
                    .iter()
                    .filter(|v| v["seriesMasterId"].as_str() == Some(series.id.as_str()))
                    .collect();
                let Some(occ) = occurrences.choose(&mut self.rng) else {
                    return self.graph(sys, agent, a, "move", items);
                };
                let id = occ["id"].as_str().unwrap_or_default().to_owned();
                if self.rng.gen_bool(0.5) {
                    m.delete_event(user, &id)?;
                } else {
                    let start = occ["start"]["dateTime"].as_str().unwrap_or_default();
                    let day = NaiveDate::parse_from_str(&start[..10.min(start.len())], "%Y-%m-%d")?;
                    let s = at(day, self.rng.gen_range(24..80) * 15);
                    m.update_event(
                        user,
                        &id,
                        json!({"start": graph_time(s), "end": graph_time(s + Duration::minutes(30)), "showAs": show_as(&mut self.rng)}),
                    )?;
                }
            }
            _ => {
                let it = self.pick(items);
                if !it.series && self.rng.gen_bool(0.3) {
                    // Cancelled by the organiser: gone from the view, like a delete.
                    m.update_event(user, &it.id, json!({"isCancelled": true}))?;
                } else {
                    m.delete_event(user, &it.id)?;
                }
                self.forget(a, &it.id);
                return Ok("delete");
            }
        }
        Ok(kind)
    }
}
