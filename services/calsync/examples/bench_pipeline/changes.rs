//! Coworker changes and their latency: a coworker books a new one-hour meeting in an
//! agent's calendar (through the sandbox's admin endpoint, which then pushes to
//! webhook-ingest), and the bench polls `GET /api/availability` until that hour is no
//! longer offered. Latency runs from the moment the sandbox started delivering the push
//! (Google: the sandbox's `X-Sandbox-Notified-At`; Graph: the start of the first
//! delivery attempt of the batch that named the event, from `/_sandbox/deliveries`,
//! so Graph's batching window is not counted) to the first poll that sees the slot gone.
//! Availability is asked at once when the change is committed (see `watch`), and once a
//! second before that as a safety net, so the bench's own load stays small.

use crate::system::{Agent, Provider, Sys};
use crate::watch::Watch;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Availability answers other than 200 while waiting for changes (e.g. 429 from the
/// api's rate limit): each makes a change wait for its next poll.
pub static AVAILABILITY_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A change whose slot is still offered this long after the write is lost.
pub const LOST_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Sample {
    pub provider: Provider,
    pub event_id: String,
    pub written_at: DateTime<Utc>,
    /// Google: when the sandbox handed the push to its delivery task.
    pub notified_at: Option<DateTime<Utc>>,
    /// When the watch saw the event stored by the worker.
    pub stored_at: Option<DateTime<Utc>>,
    pub gone_at: Option<DateTime<Utc>>,
    pub write_error: Option<String>,
}

/// One-hour slot number `k` of an agent: 09:00–17:00 UTC hours, day after day, from
/// `first_day` on; never booked twice, so each change withdraws a slot.
pub fn slot(first_day: NaiveDate, k: u32) -> DateTime<Utc> {
    let day = first_day + ChronoDuration::days(i64::from(k / 8));
    let at = day.and_hms_opt(9 + k % 8, 0, 0).unwrap_or_default();
    Utc.from_utc_datetime(&at)
}

pub struct Changer {
    pub sys: Arc<Sys>,
    pub agents: Arc<Vec<Agent>>,
    pub first_day: NaiveDate,
    /// Poll interval once a change is committed, until its slot is gone.
    pub poll: Duration,
    busy: Vec<AtomicBool>,
    watch: Watch,
}

impl Changer {
    pub fn new(
        sys: Arc<Sys>,
        agents: Arc<Vec<Agent>>,
        first_day: NaiveDate,
        poll: Duration,
    ) -> Self {
        let busy = agents.iter().map(|_| AtomicBool::new(false)).collect();
        let watch = Watch::start(sys.pool.clone(), sys.database_url.clone());
        Self {
            sys,
            agents,
            first_day,
            poll,
            busy,
            watch,
        }
    }

    /// Changes at `rate` per second spread round-robin over `eligible` agents (an agent
    /// still waiting for its previous change is skipped), for `duration` or until
    /// `stop`; then waits for every change to show or be declared lost.
    pub async fn run(
        self: &Arc<Self>,
        eligible: &[usize],
        rate: f64,
        duration: Duration,
        stop: CancellationToken,
    ) -> RunOutcome {
        let mut tasks = tokio::task::JoinSet::new();
        let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = tokio::time::Instant::now();
        let mut next = 0usize;
        let (mut issued, mut skipped) = (0u64, 0u64);
        let mut samples = Vec::new();
        let deadline = started + duration;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            // The next agent with no change in flight.
            let mut picked = None;
            for _ in 0..eligible.len() {
                let a = eligible[next % eligible.len()];
                next += 1;
                if !self.busy[a].swap(true, Ordering::AcqRel) {
                    picked = Some(a);
                    break;
                }
            }
            let Some(a) = picked else {
                skipped += 1;
                continue;
            };
            issued += 1;
            let me = Arc::clone(self);
            tasks.spawn(async move {
                let s = me.change(a).await;
                me.busy[a].store(false, Ordering::Release);
                s
            });
            // Reap finished tasks as we go so the set stays small.
            while let Some(done) = tasks.try_join_next() {
                if let Ok(s) = done {
                    samples.push(s);
                }
            }
        }
        let issuing = started.elapsed();
        while let Some(done) = tasks.join_next().await {
            if let Ok(s) = done {
                samples.push(s);
            }
        }
        RunOutcome {
            samples,
            issued,
            skipped,
            issuing,
        }
    }

    /// One change: book the agent's next slot as a coworker, then poll availability
    /// until the slot is gone (or `LOST_AFTER` passes).
    async fn change(&self, a: usize) -> Sample {
        let agent = &self.agents[a];
        let k = agent.slots.fetch_add(1, Ordering::Relaxed);
        let start = slot(self.first_day, k);
        let written = self.write(agent, start).await;
        let written_at = Utc::now();
        let (event_id, notified_at) = match written {
            Ok(w) => w,
            Err(e) => {
                return Sample {
                    provider: agent.provider,
                    event_id: String::new(),
                    written_at,
                    notified_at: None,
                    stored_at: None,
                    gone_at: None,
                    write_error: Some(format!("{e:#}")),
                }
            }
        };
        let mut committed = self
            .watch
            .committed(agent.specialist, agent.connection, &event_id);
        let began = tokio::time::Instant::now();
        let (mut stored, mut stored_for, mut watching) = (false, Duration::ZERO, true);
        let mut gone_at = None;
        let mut stored_at = None;
        loop {
            if began.elapsed() > LOST_AFTER {
                break;
            }
            if !stored && watching {
                // Until the event is stored, ask the api only once a second (a safety
                // net should the watch miss it).
                tokio::select! {
                    r = &mut committed => match r {
                        Ok(()) => {
                            stored = true;
                            stored_for = began.elapsed();
                            stored_at = Some(Utc::now());
                        }
                        Err(_) => watching = false,
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            } else if !stored {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if let Ok(false) = self.offered(agent, start).await {
                gone_at = Some(Utc::now());
                break;
            }
            if stored {
                // Stored but still offered: poll finely for a second, then back off.
                let wait = if began.elapsed() < stored_for + Duration::from_secs(1) {
                    self.poll
                } else {
                    Duration::from_millis(250)
                };
                tokio::time::sleep(wait).await;
            }
        }
        Sample {
            provider: agent.provider,
            event_id,
            written_at,
            notified_at,
            stored_at,
            gone_at,
            write_error: None,
        }
    }

    async fn write(
        &self,
        agent: &Agent,
        start: DateTime<Utc>,
    ) -> anyhow::Result<(String, Option<DateTime<Utc>>)> {
        let end = start + ChronoDuration::hours(1);
        let sys = &self.sys;
        let resp = match agent.provider {
            Provider::Google => {
                sys.http
                    .post(format!(
                        "{}/_sandbox/calendars/{}/events",
                        sys.google, agent.user
                    ))
                    .json(&json!({
                        "summary": "Front desk",
                        "start": {"dateTime": start.to_rfc3339()},
                        "end": {"dateTime": end.to_rfc3339()},
                    }))
                    .send()
                    .await?
            }
            Provider::Graph => {
                let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
                sys.http
                    .post(format!(
                        "{}/_sandbox/users/{}/events",
                        sys.graph, agent.user
                    ))
                    .json(&json!({
                        "subject": "Front desk",
                        "start": {"dateTime": fmt(start), "timeZone": "UTC"},
                        "end": {"dateTime": fmt(end), "timeZone": "UTC"},
                        "showAs": "busy",
                    }))
                    .send()
                    .await?
            }
        };
        let status = resp.status();
        let notified = resp
            .headers()
            .get("x-sandbox-notified-at")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc));
        let body: Value = resp.json().await?;
        if !status.is_success() {
            anyhow::bail!("coworker write → {status}: {body}");
        }
        let id = body["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no event id in {body}"))?
            .to_owned();
        Ok((id, notified))
    }

    /// Whether the one-hour slot at `start` is offered by `GET /api/availability`.
    async fn offered(&self, agent: &Agent, start: DateTime<Utc>) -> anyhow::Result<bool> {
        let day = start.date_naive();
        let from = Utc.from_utc_datetime(&day.and_hms_opt(9, 0, 0).unwrap_or_default());
        let to = from + ChronoDuration::hours(8);
        let resp = self
            .sys
            .http
            .get(format!("{}/api/availability", self.sys.api))
            .query(&[
                ("specialistId", agent.specialist.to_string()),
                ("from", from.to_rfc3339()),
                ("to", to.to_rfc3339()),
                ("duration", "60".into()),
            ])
            .send()
            .await?;
        if !resp.status().is_success() {
            AVAILABILITY_ERRORS.fetch_add(1, Ordering::Relaxed);
            anyhow::bail!("availability → {}", resp.status());
        }
        let body: Value = resp.json().await?;
        Ok(body["slots"].as_array().into_iter().flatten().any(|s| {
            s["start"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t == start)
        }))
    }
}

pub struct RunOutcome {
    pub samples: Vec<Sample>,
    pub issued: u64,
    /// Ticks with every eligible agent still waiting for its previous change.
    pub skipped: u64,
    pub issuing: Duration,
}

/// Count, lost and latency percentiles of a run.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub count: usize,
    pub lost: usize,
    pub write_errors: usize,
    /// Changes whose push the sandbox never recorded (timed from the write instead).
    pub no_push: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub achieved_rate: f64,
    /// Push start → the event stored (the pipeline up to the worker's commit).
    pub stored_p50_ms: f64,
    pub stored_p99_ms: f64,
    /// The event stored → the slot gone from availability (the api and the bench's poll).
    pub shown_p50_ms: f64,
    pub shown_p99_ms: f64,
}

pub fn latency(run: &RunOutcome, graph_starts: &HashMap<String, DateTime<Utc>>) -> Latency {
    let mut ms = Vec::with_capacity(run.samples.len());
    let (mut stored_ms, mut shown_ms) = (Vec::new(), Vec::new());
    let span = |a: DateTime<Utc>, b: DateTime<Utc>| {
        ((b - a).num_microseconds().unwrap_or(0).max(0)) as f64 / 1000.0
    };
    let mut out = Latency {
        count: run.samples.len(),
        achieved_rate: run.issued as f64 / run.issuing.as_secs_f64().max(1e-9),
        ..Latency::default()
    };
    for s in &run.samples {
        if s.write_error.is_some() {
            out.write_errors += 1;
            continue;
        }
        let Some(gone) = s.gone_at else {
            out.lost += 1;
            continue;
        };
        let pushed = match s.provider {
            Provider::Google => s.notified_at,
            Provider::Graph => graph_starts.get(&s.event_id).copied(),
        };
        let from = pushed.unwrap_or_else(|| {
            out.no_push += 1;
            s.written_at
        });
        ms.push(span(from, gone));
        if let Some(stored) = s.stored_at {
            stored_ms.push(span(from, stored));
            shown_ms.push(span(stored, gone));
        }
    }
    stored_ms.sort_by(f64::total_cmp);
    shown_ms.sort_by(f64::total_cmp);
    out.stored_p50_ms = percentile(&stored_ms, 0.50);
    out.stored_p99_ms = percentile(&stored_ms, 0.99);
    out.shown_p50_ms = percentile(&shown_ms, 0.50);
    out.shown_p99_ms = percentile(&shown_ms, 0.99);
    ms.sort_by(f64::total_cmp);
    out.p50_ms = percentile(&ms, 0.50);
    out.p99_ms = percentile(&ms, 0.99);
    out.max_ms = ms.last().copied().unwrap_or(0.0);
    out
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
