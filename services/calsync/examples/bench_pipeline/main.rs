//! The load generator of `scripts/bench-pipeline.sh` (issue 11, items 1 and 4). It drives
//! a running `calsync up` (release build, provider sandboxes) from the outside, as the
//! marketplace, the agents, their coworkers and the providers would:
//!
//! - setup: `--agents` specialists (half Google, half Graph), each connected through
//!   the real OAuth flow (connect → the sandbox's consent page → callback);
//! - ingest: webhook-ingest alone: the bare `GET /healthz` at its maximum rate, valid
//!   Google pushes at their maximum rate (with publisher confirms), `/healthz` again,
//!   then pushes at a fixed `--fixed-rate` for their latency;
//! - steady: coworker changes at `--rate` per second over the agents for
//!   `--steady-secs`; each change's latency from the push to the slot's withdrawal;
//! - storm: `--storm-pushes` valid pushes for one connection as fast as they go, while
//!   other agents keep changing at `--storm-background-rate`; then the same with a
//!   second sync-worker process (`calsync serve worker`), checking from both workers'
//!   logs that no connection was ever synced twice at once;
//! - resident memory of every service at the end.
//!
//! It prints a table with MET / MISSED against the targets and exits non-zero
//! only when the benchmark could not run; missed targets are results, not failures.

mod changes;
mod raw;
mod system;
mod watch;

use anyhow::{anyhow, bail, Context};
use changes::{Changer, Latency};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use system::{metric_sum, Agent, Provider, Sys};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Parser, Debug, Clone)]
#[command(about = "calsync pipeline benchmark (run it through scripts/bench-pipeline.sh)")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    api: String,
    #[arg(long, default_value = "http://127.0.0.1:18081")]
    ingest: String,
    #[arg(long, default_value = "http://127.0.0.1:18082")]
    worker: String,
    #[arg(long, default_value = "http://127.0.0.1:8091")]
    google: String,
    #[arg(long, default_value = "http://127.0.0.1:8092")]
    graph: String,
    #[arg(long, env = "CALSYNC__API__OPERATOR_TOKEN")]
    operator_token: String,
    #[arg(long, env = "CALSYNC__DATABASE__URL")]
    database_url: String,
    #[arg(
        long,
        env = "CALSYNC__AMQP__URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    #[arg(long, env = "CALSYNC__AMQP__PREFIX")]
    amqp_prefix: String,
    /// Agents to connect, half Google and half Graph.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// OAuth connects in flight at once during setup. The api's callback holds a pooled
    /// database connection while opening the webhook (which takes another), so more
    /// than half its pool size in flight can starve it (503 "database unavailable").
    #[arg(long, default_value_t = 6)]
    connect_concurrency: usize,
    /// Coworker changes per second in the steady phase.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    #[arg(long, default_value_t = 60)]
    steady_secs: u64,
    #[arg(long, default_value_t = 20_000)]
    storm_pushes: u64,
    /// Coworker changes per second on the other agents during a storm.
    #[arg(long, default_value_t = 20.0)]
    storm_background_rate: f64,
    /// Length of each ingest-alone rate phase.
    #[arg(long, default_value_t = 10)]
    blast_secs: u64,
    /// Pushes per second of the fixed-rate ingest phase (its p99 is a target).
    #[arg(long, default_value_t = 5000.0)]
    fixed_rate: f64,
    /// Client connections of the rate phases.
    #[arg(long, default_value_t = 64)]
    blast_connections: usize,
    /// Availability poll interval while a change is young (the latency resolution).
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Phases to run, comma separated: ingest, steady, storm, workers.
    #[arg(long, default_value = "ingest,steady,storm,workers")]
    phases: String,
    /// The calsync binary, to start the second sync-worker (`calsync serve worker`).
    #[arg(long)]
    calsync_bin: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:18083")]
    worker2_bind: String,
    #[arg(long, default_value = "worker2.log")]
    worker2_log: PathBuf,
    /// Output of `calsync up` (the first worker's sync log lines are read from it).
    #[arg(long)]
    up_log: Option<PathBuf>,
    /// Process id of `calsync up` (its children are the services).
    #[arg(long)]
    up_pid: Option<u32>,
    /// Where to write every result as JSON.
    #[arg(long)]
    results_json: Option<PathBuf>,
    /// Delete this run's queues and exchange, then exit (after `calsync up` stopped).
    #[arg(long)]
    cleanup: bool,
}

/// One line of the results table.
struct Row {
    section: &'static str,
    metric: String,
    value: String,
    target: String,
    verdict: Option<bool>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    json: serde_json::Map<String, Value>,
    notes: Vec<String>,
}

impl Report {
    fn row(&mut self, section: &'static str, metric: impl Into<String>, value: impl Into<String>) {
        self.rows.push(Row {
            section,
            metric: metric.into(),
            value: value.into(),
            target: String::new(),
            verdict: None,
        });
    }

    fn check(
        &mut self,
        section: &'static str,
        metric: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.rows.push(Row {
            section,
            metric: metric.into(),
            value: value.into(),
            target: target.into(),
            verdict: Some(met),
        });
    }

    fn latency(&mut self, section: &'static str, what: &str, l: &Latency) {
        self.row(
            section,
            format!("{what}: changes / lost / write errors"),
            format!("{} / {} / {}", l.count, l.lost, l.write_errors),
        );
        self.row(
            section,
            format!("{what}: p50 / p99 / max"),
            format!("{:.1} / {:.1} / {:.1} ms", l.p50_ms, l.p99_ms, l.max_ms),
        );
        self.row(
            section,
            format!("{what}: push → stored p50 / p99; stored → slot gone p50 / p99"),
            format!(
                "{:.1} / {:.1} ms; {:.1} / {:.1} ms",
                l.stored_p50_ms, l.stored_p99_ms, l.shown_p50_ms, l.shown_p99_ms
            ),
        );
        if l.no_push > 0 {
            self.notes.push(format!(
                "{section}/{what}: {} changes had no push recorded by the sandbox; timed from the write",
                l.no_push
            ));
        }
    }

    fn print(&self) {
        let w_metric = self
            .rows
            .iter()
            .map(|r| r.metric.chars().count())
            .max()
            .unwrap_or(10);
        println!();
        println!("==================== calsync pipeline benchmark ====================");
        let mut section = "";
        for r in &self.rows {
            if r.section != section {
                section = r.section;
                println!("\n[{section}]");
            }
            let verdict = match r.verdict {
                Some(true) => "MET",
                Some(false) => "MISSED",
                None => "",
            };
            let target = if r.target.is_empty() {
                String::new()
            } else {
                format!("   (target {})", r.target)
            };
            println!(
                "  {verdict:<6}  {:<w_metric$}  {}{target}",
                r.metric, r.value
            );
        }
        if !self.notes.is_empty() {
            println!("\nnotes:");
            for n in &self.notes {
                println!("  - {n}");
            }
        }
        let checked: Vec<&Row> = self.rows.iter().filter(|r| r.verdict.is_some()).collect();
        let missed: Vec<&Row> = checked
            .iter()
            .copied()
            .filter(|r| r.verdict == Some(false))
            .collect();
        println!(
            "\ntargets: {} checked, {} MET, {} MISSED",
            checked.len(),
            checked.len() - missed.len(),
            missed.len()
        );
        for r in missed {
            println!(
                "  MISSED: [{}] {} = {} (target {})",
                r.section, r.metric, r.value, r.target
            );
        }
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: could not run: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Process id of the second sync-worker once started (0: none).
static WORKER2: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn cpu(args: &Args) -> system::CpuSnap {
    let w2 = WORKER2.load(std::sync::atomic::Ordering::Relaxed);
    system::CpuSnap::take(args.up_pid, (w2 != 0).then_some(w2))
}

fn say(what: impl AsRef<str>) {
    println!(
        "[bench {}] {} (load {})",
        Utc::now().format("%H:%M:%S"),
        what.as_ref(),
        system::loadavg()
    );
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.cleanup {
        return cleanup(&args).await;
    }
    let phases: Vec<&str> = args.phases.split(',').map(str::trim).collect();
    let sys = Arc::new(
        Sys::connect(
            &args.api,
            &args.ingest,
            &args.google,
            &args.graph,
            &args.operator_token,
            &args.database_url,
            &args.amqp_url,
            &args.amqp_prefix,
        )
        .await?,
    );
    for base in [&args.api, &args.ingest, &args.worker] {
        sys.wait_ready(base, Duration::from_secs(120)).await?;
    }
    let mut report = Report::default();
    let load_start = system::loadavg();
    report.row(
        "machine",
        "cores / load avg (1 5 15 min) at start",
        format!("{} / {load_start}", num_cpus()),
    );

    let agents = Arc::new(setup(&sys, &args, &mut report).await?);
    // Reserved Google agents: one for the ingest-alone phase, one per storm. Nobody
    // else's changes touch them, so what they cost is what the pushes cost.
    let google: Vec<usize> = (0..agents.len())
        .filter(|&i| agents[i].provider == Provider::Google)
        .collect();
    if google.len() < 3 {
        bail!("need at least 3 Google agents (6 agents)");
    }
    let (ingest_agent, storm1, storm2) = (google[0], google[1], google[2]);
    let eligible: Vec<usize> = (0..agents.len())
        .filter(|i| ![ingest_agent, storm1, storm2].contains(i))
        .collect();
    let first_day = (Utc::now() + chrono::Duration::days(2)).date_naive();
    let changer = Arc::new(Changer::new(
        Arc::clone(&sys),
        Arc::clone(&agents),
        first_day,
        Duration::from_millis(args.poll_ms.max(1)),
    ));
    let mut numbers: HashMap<String, u64> = HashMap::new();

    // Warm the pipeline (pools, caches) before anything is measured.
    say("warm-up: 5 s of changes at 20/s");
    let warm = changer
        .run(
            &eligible,
            20.0,
            Duration::from_secs(5),
            CancellationToken::new(),
        )
        .await;
    let warm_l = changes::latency(&warm, &sys.graph_push_starts().await?);
    report.row(
        "setup",
        "warm-up changes (5 s at 20/s): count / lost / p50",
        format!(
            "{} / {} / {:.1} ms",
            warm_l.count, warm_l.lost, warm_l.p50_ms
        ),
    );

    let mut healthz_rate = None;
    if phases.contains(&"ingest") {
        healthz_rate = Some(
            phase_ingest(
                &sys,
                &args,
                &agents,
                &[ingest_agent, storm1, storm2],
                &mut numbers,
                &mut report,
            )
            .await?,
        );
    }
    if phases.contains(&"steady") {
        phase_steady(&sys, &args, &changer, &eligible, &mut report).await?;
    }
    let mut drain_one = None;
    if phases.contains(&"storm") {
        let s = phase_storm(
            &sys,
            &args,
            &changer,
            &eligible,
            &agents[storm1],
            &mut numbers,
            healthz_rate,
            "storm (1 worker)",
            &mut report,
        )
        .await?;
        drain_one = s.drained;
    }
    let mut worker2 = None;
    if phases.contains(&"workers") {
        match &args.calsync_bin {
            None => report
                .notes
                .push("workers: no --calsync-bin; second worker not started".into()),
            Some(bin) => {
                let w = start_worker2(&sys, &args, bin).await?;
                if let Some(pid) = w.id() {
                    WORKER2.store(pid, std::sync::atomic::Ordering::Relaxed);
                }
                worker2 = Some(w);
                let since = Utc::now();
                let s = phase_storm(
                    &sys,
                    &args,
                    &changer,
                    &eligible,
                    &agents[storm2],
                    &mut numbers,
                    healthz_rate,
                    "storm (2 workers)",
                    &mut report,
                )
                .await?;
                workers_verdicts(&args, &agents, drain_one, s.drained, since, &mut report).await;
            }
        }
    }
    report.row(
        "machine",
        "availability answers other than 200 while polling changes",
        changes::AVAILABILITY_ERRORS
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    );
    memory(&args, worker2.as_ref().and_then(|c| c.id()), &mut report);
    if let Some(child) = worker2 {
        stop_child(child).await;
    }
    report.row(
        "machine",
        "load avg (1 5 15 min) at the end",
        system::loadavg(),
    );
    report.print();
    if let Some(path) = &args.results_json {
        let mut j = report.json.clone();
        j.insert(
            "rows".into(),
            Value::Array(
                report
                    .rows
                    .iter()
                    .map(|r| {
                        json!({"section": r.section, "metric": r.metric, "value": r.value,
                               "target": r.target, "met": r.verdict})
                    })
                    .collect(),
            ),
        );
        std::fs::write(path, serde_json::to_vec_pretty(&Value::Object(j))?)?;
    }
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------- setup

const CONNECT_ATTEMPTS: u32 = 3;
static CONNECT_RETRIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

async fn setup(sys: &Arc<Sys>, args: &Args, report: &mut Report) -> anyhow::Result<Vec<Agent>> {
    say(format!(
        "setup: {} agents through the OAuth flow, {} at a time",
        args.agents, args.connect_concurrency
    ));
    let tag = Uuid::new_v4().simple().to_string();
    let tag = &tag[..8];
    let started = Instant::now();
    let results: Vec<anyhow::Result<Agent>> = futures::stream::iter(0..args.agents)
        .map(|i| {
            let sys = Arc::clone(sys);
            let tag = tag.to_owned();
            async move {
                let provider = if i % 2 == 0 {
                    Provider::Google
                } else {
                    Provider::Graph
                };
                let user = match provider {
                    Provider::Google => format!("bench-{tag}-{i}@example.com"),
                    Provider::Graph => format!("bench-{tag}-{i}@contoso.com"),
                };
                let specialist = sys.create_specialist(&format!("bench-{tag}-{i}")).await?;
                // An agent whose connect failed tries again, as a person would.
                let mut attempt = 1;
                let connection = loop {
                    match sys.connect_agent(provider, specialist, &user).await {
                        Ok(c) => break c,
                        Err(e) if attempt < CONNECT_ATTEMPTS => {
                            eprintln!("[bench] connecting agent {i} failed ({e:#}); retrying");
                            CONNECT_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            attempt += 1;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => return Err(e.context(format!("connecting agent {i} ({user})"))),
                    }
                };
                Ok(Agent {
                    provider,
                    user,
                    specialist,
                    connection,
                    slots: AtomicU32::new(0),
                })
            }
        })
        .buffered(args.connect_concurrency.max(1))
        .collect()
        .await;
    let agents = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let connected = started.elapsed();
    say(format!(
        "setup: connected in {connected:.1?}; waiting for first syncs"
    ));
    // Every connection synced once and nothing pending or leased, queue empty.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let conns = sys.all_connections().await?;
        let ours: HashMap<Uuid, &calsync_db::connections::Connection> =
            conns.iter().map(|c| (c.id, c)).collect();
        let waiting = agents
            .iter()
            .filter(|a| {
                ours.get(&a.connection).is_none_or(|c| {
                    c.last_sync_at.is_none() || c.sync_pending || c.lease_owner.is_some()
                })
            })
            .count();
        let (ready, _) = sys.work_queue().await?;
        if waiting == 0 && ready == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{waiting} connections still without a first sync after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let synced = started.elapsed();
    report.row(
        "setup",
        "agents connected (OAuth flow) / Google / Graph",
        format!(
            "{} / {} / {}",
            agents.len(),
            agents
                .iter()
                .filter(|a| a.provider == Provider::Google)
                .count(),
            agents
                .iter()
                .filter(|a| a.provider == Provider::Graph)
                .count()
        ),
    );
    report.row(
        "setup",
        "connect flows retried after an error (see notes)",
        format!(
            "{}",
            CONNECT_RETRIES.load(std::sync::atomic::Ordering::Relaxed)
        ),
    );
    report.row(
        "setup",
        "connect time / all first syncs done",
        format!(
            "{:.1} s ({:.0}/s) / {:.1} s",
            connected.as_secs_f64(),
            agents.len() as f64 / connected.as_secs_f64().max(1e-9),
            synced.as_secs_f64()
        ),
    );
    Ok(agents)
}

// ---------------------------------------------------------------- ingest alone

fn socket(base: &str) -> anyhow::Result<(SocketAddr, String)> {
    let url = reqwest::Url::parse(base)?;
    let host = url.host_str().ok_or_else(|| anyhow!("no host in {base}"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| anyhow!("no port in {base}"))?;
    let addr = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("{base} is not host:port of an IP"))?;
    Ok((addr, format!("{host}:{port}")))
}

/// A valid Google push on `ch` with message number `number`.
fn push_bytes(ch: &system::GoogleChannel, host: &str, expiration: &str, number: u64) -> Vec<u8> {
    raw::request(
        "POST",
        "/webhooks/google",
        host,
        &[
            ("X-Goog-Channel-ID", ch.id.clone()),
            ("X-Goog-Channel-Token", ch.token.clone()),
            ("X-Goog-Channel-Expiration", expiration.to_owned()),
            ("X-Goog-Resource-ID", ch.resource_id.clone()),
            ("X-Goog-Resource-URI", ch.resource_uri.clone()),
            ("X-Goog-Resource-State", "exists".into()),
            ("X-Goog-Message-Number", number.to_string()),
        ],
    )
}

fn channel_expiration() -> String {
    (Utc::now() + chrono::Duration::days(6))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Valid Google pushes for `agent`'s live channel, numbered on from the last one used:
/// each is a change the worker has not seen.
async fn push_maker(
    sys: &Sys,
    agent: &Agent,
    numbers: &mut HashMap<String, u64>,
    reserve: u64,
) -> anyhow::Result<raw::MakeRequest> {
    let ch = sys.google_channel(&agent.user).await?;
    // The system signed the token; the row must name the same channel.
    let row = sys.primary_calendar(agent.connection).await?;
    if row.webhook_channel_id.as_deref() != Some(ch.id.as_str()) {
        bail!(
            "connection {} stores channel {:?} but the sandbox's live one is {}",
            agent.connection,
            row.webhook_channel_id,
            ch.id
        );
    }
    let next = numbers.entry(ch.id.clone()).or_insert(0);
    let first = (*next).max(ch.messages_sent + 1);
    *next = first + reserve;
    let (_, host) = socket(&sys.ingest)?;
    let expiration = channel_expiration();
    Ok(Arc::new(move |i: u64| {
        push_bytes(&ch, &host, &expiration, first + i)
    }))
}

/// Valid Google pushes spread round-robin over every Google connection but the
/// reserved ones, each repeating the last message number the worker recorded for its
/// channel (a redelivery, as Google makes): ingest and the broker do all their work
/// for every push, the worker records each and fetches nothing, so ingest is measured
/// with one notice per push and without the syncs a real change would cost.
async fn spread_maker(
    sys: &Sys,
    agents: &[Agent],
    reserved: &[usize],
) -> anyhow::Result<(raw::MakeRequest, usize)> {
    let channels = sys.google_channels().await?;
    let rows: HashMap<Uuid, calsync_db::calendars::Calendar> = sys.primary_calendars().await?;
    let (_, host) = socket(&sys.ingest)?;
    let expiration = channel_expiration();
    let mut requests = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        if a.provider != Provider::Google || reserved.contains(&i) {
            continue;
        }
        let (Some(ch), Some(row)) = (channels.get(&a.user), rows.get(&a.connection)) else {
            continue;
        };
        if row.webhook_channel_id.as_deref() != Some(ch.id.as_str()) {
            continue;
        }
        let number = u64::try_from(row.webhook_last_message).unwrap_or(0).max(1);
        requests.push(push_bytes(ch, &host, &expiration, number));
    }
    if requests.is_empty() {
        bail!("no Google connection to spread pushes over");
    }
    let n = requests.len();
    Ok((
        Arc::new(move |i: u64| requests[(i % n as u64) as usize].clone()),
        n,
    ))
}

fn healthz_maker(base: &str) -> anyhow::Result<raw::MakeRequest> {
    let (_, host) = socket(base)?;
    let bytes = raw::request("GET", "/healthz", &host, &[]);
    Ok(Arc::new(move |_| bytes.clone()))
}

fn pct_us(o: &raw::Outcome, p: f64) -> f64 {
    let mut v: Vec<f64> = o
        .latencies_us
        .iter()
        .map(|&u| f64::from(u) / 1000.0)
        .collect();
    v.sort_by(f64::total_cmp);
    changes::percentile(&v, p)
}

fn blast_summary(o: &raw::Outcome) -> String {
    format!(
        "{} ok, {} non-2xx, {} errors in {:.2} s{}",
        o.ok,
        o.non_2xx,
        o.errors,
        o.elapsed.as_secs_f64(),
        o.first_problem
            .as_ref()
            .map(|p| format!(" (first problem: {p})"))
            .unwrap_or_default()
    )
}

/// Queue empty and every connection idle (what a spread phase leaves behind).
async fn drain_all(sys: &Sys) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut calm = 0;
    while calm < 5 && Instant::now() < deadline {
        let (ready, _) = sys.work_queue().await?;
        let busy = sys
            .all_connections()
            .await?
            .iter()
            .any(|c| c.sync_pending || c.lease_owner.is_some());
        calm = if ready == 0 && !busy { calm + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// What one rate phase against /webhooks/google did, with the notices it cost.
struct PushRun {
    out: raw::Outcome,
    notices: f64,
}

async fn push_run(
    sys: &Sys,
    args: &Args,
    spec: raw::Spec,
    maker: raw::MakeRequest,
) -> anyhow::Result<PushRun> {
    let before = metric_sum(&sys.http, &args.ingest, "webhook_notices_published_total").await?;
    let out = raw::run(spec, maker).await;
    let after = metric_sum(&sys.http, &args.ingest, "webhook_notices_published_total").await?;
    Ok(PushRun {
        out,
        notices: after - before,
    })
}

async fn phase_ingest(
    sys: &Arc<Sys>,
    args: &Args,
    agents: &[Agent],
    reserved: &[usize],
    numbers: &mut HashMap<String, u64>,
    report: &mut Report,
) -> anyhow::Result<f64> {
    let agent = &agents[reserved[0]];
    let (addr, _) = socket(&args.ingest)?;
    let secs = Duration::from_secs(args.blast_secs.max(1));
    let spec = |rate: Option<f64>| raw::Spec {
        addr,
        connections: args.blast_connections,
        total: None,
        duration: secs,
        rate,
    };
    let (spread, channels) = spread_maker(sys, agents, reserved).await?;
    say("ingest: bare GET /healthz at max rate");
    let h1 = raw::run(spec(None), healthz_maker(&args.ingest)?).await;

    // Ingest alone: the sync-workers are paused (SIGSTOP), so the pushes compete for
    // the CPU with nothing downstream; they are all redeliveries, so the notices left
    // queued carry no change and are purged before the workers go on.
    let paused = Paused::workers(args);
    say(format!(
        "ingest: valid pushes spread over {channels} Google channels at max rate, workers paused ({} client connections)",
        args.blast_connections
    ));
    let c0 = cpu(args);
    let wide = push_run(sys, args, spec(None), Arc::clone(&spread)).await?;
    let cpu_wide = cpu(args).since(&c0);
    say("ingest: the broker alone: confirmed publishes straight from the bench");
    let c0 = cpu(args);
    let broker = broker_alone(args, agent, secs).await?;
    let cpu_broker = cpu(args).since(&c0);
    say(format!(
        "ingest: valid pushes spread over {channels} channels at {}/s, workers paused",
        args.fixed_rate
    ));
    let c0 = cpu(args);
    let fixed = push_run(sys, args, spec(Some(args.fixed_rate)), spread).await?;
    let cpu_fixed = cpu(args).since(&c0);
    let purged = sys.purge_work_queue().await?;
    drop(paused);
    drain_all(sys).await?;

    say("ingest: bare GET /healthz at max rate, again");
    let h2 = raw::run(spec(None), healthz_maker(&args.ingest)?).await;
    say("ingest: valid pushes for one connection at max rate, workers running");
    let maker = push_maker(sys, agent, numbers, 100_000_000).await?;
    let c0 = cpu(args);
    let one = push_run(sys, args, spec(None), maker).await?;
    let cpu_one = cpu(args).since(&c0);
    let one_drained = drain(sys, agent.connection, Instant::now()).await?;

    let healthz = (h1.ok_rate() + h2.ok_rate()) / 2.0;
    let of_healthz = |r: f64| r / healthz.max(1e-9);
    let s = "ingest alone (POST /webhooks/google, valid pushes, publisher confirms)";
    report.row(
        s,
        "bare GET /healthz max rate (before / after)",
        format!("{:.0} / {:.0} req/s", h1.ok_rate(), h2.ok_rate()),
    );
    report.row(
        s,
        "redelivered notices purged after the paused phases",
        format!("{purged}"),
    );
    for (what, run, coalesced) in [
        (
            format!("spread over {channels} connections (workers paused)"),
            &wide,
            false,
        ),
        ("one connection (workers running)".to_owned(), &one, true),
    ] {
        let rate = run.out.ok_rate();
        report.row(s, format!("{what}: max rate"), blast_summary(&run.out));
        report.row(
            s,
            format!("{what}: notices published per push"),
            format!("{:.3}", run.notices / (run.out.ok as f64).max(1.0)),
        );
        let note = if coalesced {
            " (group commit folds them)"
        } else {
            ""
        };
        report.check(
            s,
            format!("{what}: pushes accepted per second{note}"),
            format!("{rate:.0}/s"),
            "≥ 15000/s",
            rate >= 15_000.0,
        );
        report.check(
            s,
            format!("{what}: … as a fraction of bare /healthz (same run)"),
            format!("{:.1} %", of_healthz(rate) * 100.0),
            "≥ 30 %",
            of_healthz(rate) >= 0.30,
        );
        report.row(
            s,
            format!("{what}: latency at max rate p50 / p99"),
            format!(
                "{:.2} / {:.2} ms",
                pct_us(&run.out, 0.5),
                pct_us(&run.out, 0.99)
            ),
        );
    }
    report.row(
        s,
        "one connection: drained after its max-rate phase",
        opt_secs(one_drained.idle_after),
    );
    report.row(
        s,
        "broker alone: confirmed publishes/s from the bench (4 lanes, workers paused)",
        format!(
            "{broker:.0}/s ({:.1} % of bare /healthz)",
            of_healthz(broker) * 100.0
        ),
    );
    let fixed_rate = fixed.out.ok as f64 / secs.as_secs_f64();
    report.row(
        s,
        format!(
            "spread at {:.0}/s (open loop, workers paused)",
            args.fixed_rate
        ),
        blast_summary(&fixed.out),
    );
    let p99 = pct_us(&fixed.out, 0.99);
    report.check(
        s,
        format!(
            "spread at {:.0}/s: latency p50 / p99 (achieved {fixed_rate:.0}/s)",
            args.fixed_rate
        ),
        format!("{:.2} / {p99:.2} ms", pct_us(&fixed.out, 0.5)),
        "p99 ≤ 20 ms",
        p99 <= 20.0 && fixed.out.non_2xx + fixed.out.errors == 0,
    );
    report.row(s, "cpu % of one core: spread max rate", cpu_wide);
    report.row(s, "cpu % of one core: one connection max rate", cpu_one);
    report.row(s, "cpu % of one core: broker alone", cpu_broker);
    report.row(
        s,
        format!("cpu % of one core: spread at {:.0}/s", args.fixed_rate),
        cpu_fixed,
    );
    report.json.insert(
        "ingest".into(),
        json!({"healthz_rps": [h1.ok_rate(), h2.ok_rate()],
               "spread_max_rps": wide.out.ok_rate(), "spread_notices": wide.notices,
               "one_max_rps": one.out.ok_rate(), "one_notices": one.notices,
               "broker_alone_rps": broker, "fixed_rate": args.fixed_rate,
               "fixed_p50_ms": pct_us(&fixed.out, 0.5), "fixed_p99_ms": p99,
               "fixed_errors": fixed.out.non_2xx + fixed.out.errors}),
    );
    Ok(healthz)
}

/// Confirmed publishes per second of change notices for `agent`'s connection straight
/// to the broker (what ingest does after authenticating), with as many in flight as the
/// HTTP phases have connections: the ceiling the broker puts on ingest on this machine.
async fn broker_alone(args: &Args, agent: &Agent, secs: Duration) -> anyhow::Result<f64> {
    let publisher = calsync_mq::Publisher::with_lanes(
        &args.amqp_url,
        calsync_mq::Topology::new(&args.amqp_prefix),
        4,
    );
    publisher.check().await?;
    let notice = calsync_proto::v1::ChangeNotice {
        connection_id: agent.connection.to_string(),
        provider: calsync_proto::v1::Provider::Google as i32,
        reason: calsync_proto::v1::NoticeReason::Webhook as i32,
        received_at_ms: Utc::now().timestamp_millis(),
        ..Default::default()
    };
    let started = Instant::now();
    let stop_at = started + secs;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.blast_connections.max(1) {
        let (p, n) = (publisher.clone(), notice.clone());
        tasks.spawn(async move {
            let mut ok = 0u64;
            while Instant::now() < stop_at {
                if p.publish_notice(&n).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(n) = tasks.join_next().await {
        ok += n.unwrap_or(0);
    }
    let rate = ok as f64 / started.elapsed().as_secs_f64();
    publisher.close().await;
    Ok(rate)
}

/// Sync-workers stopped (SIGSTOP) while ingest is measured alone; continued on drop,
/// whatever happens in between.
struct Paused(Vec<u32>);

impl Paused {
    fn workers(args: &Args) -> Self {
        let mut pids: Vec<u32> = args
            .up_pid
            .map(|up| {
                system::children(up)
                    .into_iter()
                    .filter(|(_, cmd)| cmd.ends_with("serve worker"))
                    .map(|(pid, _)| pid)
                    .collect()
            })
            .unwrap_or_default();
        let w2 = WORKER2.load(std::sync::atomic::Ordering::Relaxed);
        if w2 != 0 {
            pids.push(w2);
        }
        for pid in &pids {
            signal("STOP", *pid);
        }
        Self(pids)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        for pid in &self.0 {
            signal("CONT", *pid);
        }
    }
}

fn signal(sig: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

// ---------------------------------------------------------------- drain

struct Drained {
    /// From `since` until the work queue had no ready message (and kept none).
    queue_empty_after: Option<Duration>,
    /// From `since` until the queue was empty and the connection had no sync pending
    /// or running, for good (300 ms of calm).
    idle_after: Option<Duration>,
}

async fn drain(sys: &Sys, connection: Uuid, since: Instant) -> anyhow::Result<Drained> {
    let deadline = since + Duration::from_secs(60);
    let mut empty_since: Option<Instant> = None;
    let mut calm_since: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let (ready, _) = sys.work_queue().await?;
        let c = sys.connection(connection).await?;
        if ready == 0 {
            empty_since.get_or_insert(now);
        } else {
            empty_since = None;
        }
        if ready == 0 && !c.sync_pending && c.lease_owner.is_none() {
            let calm = *calm_since.get_or_insert(now);
            if now.duration_since(calm) >= Duration::from_millis(300) {
                return Ok(Drained {
                    queue_empty_after: empty_since.map(|e| e.saturating_duration_since(since)),
                    idle_after: Some(calm.saturating_duration_since(since)),
                });
            }
        } else {
            calm_since = None;
        }
        if now > deadline {
            return Ok(Drained {
                queue_empty_after: empty_since.map(|e| e.saturating_duration_since(since)),
                idle_after: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- steady

async fn phase_steady(
    sys: &Arc<Sys>,
    args: &Args,
    changer: &Arc<Changer>,
    eligible: &[usize],
    report: &mut Report,
) -> anyhow::Result<()> {
    say(format!(
        "steady: {}/s coworker changes over {} agents for {} s",
        args.rate,
        eligible.len(),
        args.steady_secs
    ));
    let fetch_before = metric_sum(&sys.http, &args.worker, "provider_fetches_total").await?;
    let c0 = cpu(args);
    let run = changer
        .run(
            eligible,
            args.rate,
            Duration::from_secs(args.steady_secs),
            CancellationToken::new(),
        )
        .await;
    let cpu_steady = cpu(args).since(&c0);
    let fetch_after = metric_sum(&sys.http, &args.worker, "provider_fetches_total").await?;
    let starts = sys.graph_push_starts().await?;
    let l = changes::latency(&run, &starts);
    let s = "steady (push start → slot gone from GET /api/availability)";
    report.row(
        s,
        "changes issued / rate achieved / ticks skipped (agent busy)",
        format!(
            "{} / {:.1}/s / {}",
            run.issued, l.achieved_rate, run.skipped
        ),
    );
    report.latency(s, "all", &l);
    for (p, name) in [(Provider::Google, "google"), (Provider::Graph, "graph")] {
        let part = changes::RunOutcome {
            samples: run
                .samples
                .iter()
                .filter(|x| x.provider == p)
                .cloned()
                .collect(),
            issued: run.issued,
            skipped: 0,
            issuing: run.issuing,
        };
        let lp = changes::latency(&part, &starts);
        report.row(
            s,
            format!("{name}: changes / lost / p50 / p99"),
            format!(
                "{} / {} / {:.1} / {:.1} ms",
                lp.count, lp.lost, lp.p50_ms, lp.p99_ms
            ),
        );
    }
    let target_note = if (args.rate - 500.0).abs() < f64::EPSILON && args.agents == 1000 {
        String::new()
    } else {
        " (target set for 500/s over 1000 agents)".into()
    };
    report.check(
        s,
        format!("p99{target_note}"),
        format!("{:.1} ms", l.p99_ms),
        "≤ 250 ms",
        l.p99_ms <= 250.0 && l.count > 0,
    );
    report.check(
        s,
        "lost changes",
        format!("{}", l.lost + l.write_errors),
        "0",
        l.lost + l.write_errors == 0,
    );
    report.row(
        s,
        "provider fetches by the worker during the phase",
        format!("{:.0}", fetch_after - fetch_before),
    );
    report.row(s, "cpu % of one core (issuing and settling)", cpu_steady);
    report.row(
        s,
        "poll resolution",
        format!(
            "{} ms (latency is the first poll that saw the slot gone)",
            args.poll_ms
        ),
    );
    report.json.insert(
        "steady".into(),
        json!({"rate": args.rate, "agents": args.agents, "issued": run.issued,
               "count": l.count, "lost": l.lost, "write_errors": l.write_errors,
               "p50_ms": l.p50_ms, "p99_ms": l.p99_ms, "max_ms": l.max_ms}),
    );
    Ok(())
}

// ---------------------------------------------------------------- storm

struct StormOutcome {
    drained: Option<Duration>,
}

#[allow(clippy::too_many_arguments)]
async fn phase_storm(
    sys: &Arc<Sys>,
    args: &Args,
    changer: &Arc<Changer>,
    eligible: &[usize],
    agent: &Agent,
    numbers: &mut HashMap<String, u64>,
    healthz_rate: Option<f64>,
    section: &'static str,
    report: &mut Report,
) -> anyhow::Result<StormOutcome> {
    let worker_urls = worker_urls(args, section);
    let (addr, _) = socket(&args.ingest)?;
    say(format!(
        "{section}: {} pushes for connection {} while others change at {}/s",
        args.storm_pushes, agent.connection, args.storm_background_rate
    ));
    let maker = push_maker(sys, agent, numbers, args.storm_pushes).await?;
    let calls_before = sys.google_list_calls(&agent.user).await?;
    let syncs_before = sys.connection(agent.connection).await?.sync_count;
    let mut fetch_before = 0.0;
    for w in &worker_urls {
        fetch_before += metric_sum(&sys.http, w, "provider_fetches_total").await?;
    }

    let stop = CancellationToken::new();
    let background = {
        let (changer, eligible, stop) = (Arc::clone(changer), eligible.to_vec(), stop.clone());
        let rate = args.storm_background_rate;
        tokio::spawn(async move {
            changer
                .run(&eligible, rate, Duration::from_secs(3600), stop)
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c0 = cpu(args);
    let burst_start = Utc::now();
    let burst = raw::run(
        raw::Spec {
            addr,
            connections: args.blast_connections,
            total: Some(args.storm_pushes),
            duration: Duration::from_secs(300),
            rate: None,
        },
        maker,
    )
    .await;
    let burst_end_instant = Instant::now();
    let burst_end = Utc::now();
    let cpu_burst = cpu(args).since(&c0);
    let drained = drain(sys, agent.connection, burst_end_instant).await?;
    let cpu_storm = cpu(args).since(&c0);
    let storm_end = burst_end
        + chrono::Duration::from_std(drained.idle_after.unwrap_or(Duration::from_secs(60)))
            .unwrap_or_default();
    // Keep the others changing a little past the drain, then let their changes land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    let bg = background
        .await
        .map_err(|e| anyhow!("background changes: {e}"))?;
    let calls_after = sys.google_list_calls(&agent.user).await?;
    let syncs_after = sys.connection(agent.connection).await?.sync_count;
    let mut fetch_after = 0.0;
    for w in &worker_urls {
        fetch_after += metric_sum(&sys.http, w, "provider_fetches_total").await?;
    }
    let starts = sys.graph_push_starts().await?;
    let during = changes::RunOutcome {
        samples: bg
            .samples
            .iter()
            .filter(|s| s.written_at >= burst_start && s.written_at <= storm_end)
            .cloned()
            .collect(),
        issued: bg.issued,
        skipped: bg.skipped,
        issuing: bg.issuing,
    };
    let l_during = changes::latency(&during, &starts);
    let l_all = changes::latency(&bg, &starts);

    let accept = burst.ok_rate();
    report.row(section, "burst", blast_summary(&burst));
    match healthz_rate {
        Some(h) => report.row(
            section,
            "ingest accept rate (fraction of bare /healthz)",
            format!("{accept:.0}/s ({:.1} %)", accept / h.max(1e-9) * 100.0),
        ),
        None => report.row(section, "ingest accept rate", format!("{accept:.0}/s")),
    }
    report.row(
        section,
        "work queue empty after the burst ended",
        opt_secs(drained.queue_empty_after),
    );
    let idle = drained.idle_after;
    report.check(
        section,
        "drained (queue empty, connection idle) after the burst",
        opt_secs(idle),
        "≤ 5 s",
        idle.is_some_and(|d| d <= Duration::from_secs(5)),
    );
    let fetches = calls_after.saturating_sub(calls_before);
    report.check(
        section,
        "provider fetches the storm caused (sandbox list calls)",
        format!("{fetches} ({} syncs)", syncs_after - syncs_before),
        "≤ 50",
        fetches <= 50,
    );
    report.row(
        section,
        "worker fetch metric, all connections (incl. others' changes)",
        format!("{:.0}", fetch_after - fetch_before),
    );
    report.latency(section, "others during the storm", &l_during);
    report.check(
        section,
        "others' p99 during the storm",
        format!("{:.1} ms", l_during.p99_ms),
        "≤ 250 ms",
        l_during.p99_ms <= 250.0 && l_during.lost == 0 && l_during.count > 0,
    );
    report.row(
        section,
        "others over the whole phase: changes / lost / p99",
        format!("{} / {} / {:.1} ms", l_all.count, l_all.lost, l_all.p99_ms),
    );
    report.row(section, "cpu % of one core: the burst", cpu_burst);
    report.row(section, "cpu % of one core: burst and drain", cpu_storm);
    let key = if section.contains('2') {
        "storm2"
    } else {
        "storm1"
    };
    report.json.insert(
        key.into(),
        json!({"pushes": args.storm_pushes, "ok": burst.ok, "accept_rps": accept,
               "queue_empty_s": drained.queue_empty_after.map(|d| d.as_secs_f64()),
               "drained_s": idle.map(|d| d.as_secs_f64()), "fetches": fetches,
               "syncs": syncs_after - syncs_before, "others_p99_ms": l_during.p99_ms,
               "others_count": l_during.count, "others_lost": l_during.lost}),
    );
    Ok(StormOutcome { drained: idle })
}

fn opt_secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} s", d.as_secs_f64()))
        .unwrap_or_else(|| "not within 60 s".into())
}

fn worker_urls(args: &Args, section: &str) -> Vec<String> {
    let mut v = vec![args.worker.clone()];
    if section.contains('2') {
        v.push(format!("http://{}", args.worker2_bind));
    }
    v
}

// ---------------------------------------------------------------- two workers

async fn start_worker2(
    sys: &Sys,
    args: &Args,
    bin: &PathBuf,
) -> anyhow::Result<tokio::process::Child> {
    say(format!(
        "workers: starting a second sync-worker on {}",
        args.worker2_bind
    ));
    let log = std::fs::File::create(&args.worker2_log)?;
    let google = calsync_sandboxes::google::GoogleSandboxConfig::default();
    let graph = calsync_sandboxes::graph::GraphSandboxConfig::default();
    let g = &args.google;
    let m = &args.graph;
    let child = tokio::process::Command::new(bin)
        .args(["serve", "worker"])
        .env("CALSYNC__WORKER__BIND", &args.worker2_bind)
        // What `calsync up` gives its children when it runs the sandboxes.
        .env("CALSYNC__GOOGLE__CLIENT_ID", &google.client_id)
        .env("CALSYNC__GOOGLE__CLIENT_SECRET", &google.client_secret)
        .env("CALSYNC__GOOGLE__API_BASE", format!("{g}/calendar/v3"))
        .env("CALSYNC__GOOGLE__AUTH_URL", format!("{g}/o/oauth2/v2/auth"))
        .env("CALSYNC__GOOGLE__TOKEN_URL", format!("{g}/token"))
        .env("CALSYNC__MICROSOFT__CLIENT_ID", &graph.client_id)
        .env("CALSYNC__MICROSOFT__CLIENT_SECRET", &graph.client_secret)
        .env("CALSYNC__MICROSOFT__GRAPH_BASE", format!("{m}/v1.0"))
        .env(
            "CALSYNC__MICROSOFT__AUTH_URL",
            format!("{m}/common/oauth2/v2.0/authorize"),
        )
        .env(
            "CALSYNC__MICROSOFT__TOKEN_URL",
            format!("{m}/common/oauth2/v2.0/token"),
        )
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    sys.wait_ready(
        &format!("http://{}", args.worker2_bind),
        Duration::from_secs(60),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, consumers) = sys.work_queue().await?;
        if consumers >= 2 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the second worker did not start consuming within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(child)
}

async fn stop_child(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// A committed sync as a worker logged it: its connection and [start, end].
#[derive(Debug, Clone)]
struct SyncSpan {
    worker: usize,
    connection: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// `sync committed elapsed_ms=N` lines (human log format) logged at or after `since`.
fn sync_spans(text: &str, worker: usize, since: DateTime<Utc>) -> Vec<SyncSpan> {
    text.lines()
        .filter(|l| l.contains("sync committed"))
        .filter_map(|l| {
            let ts = l
                .split_whitespace()
                .find_map(|t| DateTime::parse_from_rfc3339(t).ok())?
                .with_timezone(&Utc);
            let id_at = l.find("connection.id=")? + "connection.id=".len();
            let connection = l.get(id_at..id_at + 36)?.to_owned();
            let ms_at = l.find("elapsed_ms=")? + "elapsed_ms=".len();
            let ms: i64 = l[ms_at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()?;
            (ts >= since).then(|| SyncSpan {
                worker,
                connection,
                start: ts - chrono::Duration::milliseconds(ms),
                end: ts,
            })
        })
        .collect()
}

async fn workers_verdicts(
    args: &Args,
    agents: &[Agent],
    one: Option<Duration>,
    two: Option<Duration>,
    since: DateTime<Utc>,
    report: &mut Report,
) {
    let s = "two sync-worker replicas";
    match (one, two) {
        (Some(a), Some(b)) => {
            // "No slower" within what the drain can be timed to: one storm coalescing
            // round of the worker (250 ms) plus the poll, or 10 %, whichever is more.
            let slack = (a.mul_f64(0.10)).max(Duration::from_millis(300));
            report.check(
                s,
                "storm drain: 1 worker vs 2 workers",
                format!("{:.2} s vs {:.2} s", a.as_secs_f64(), b.as_secs_f64()),
                "2 ≤ 1 (+max(10 %, 300 ms))",
                b <= a + slack,
            );
        }
        _ => report.check(
            s,
            "storm drain: 1 worker vs 2 workers",
            "a storm did not drain",
            "both drain",
            false,
        ),
    }
    // Let both processes flush their last lines.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut spans = Vec::new();
    let mut sources = 0;
    if let Some(up) = &args.up_log {
        if let Ok(text) = std::fs::read_to_string(up) {
            let lines: String = text
                .lines()
                .filter(|l| l.starts_with("[sync-worker]"))
                .map(|l| format!("{l}\n"))
                .collect();
            spans.extend(sync_spans(&lines, 1, since));
            sources += 1;
        }
    }
    if let Ok(text) = std::fs::read_to_string(&args.worker2_log) {
        spans.extend(sync_spans(&text, 2, since));
        sources += 1;
    }
    if sources < 2 {
        report
            .notes
            .push("workers: could not read both workers' logs; overlap not checked".into());
        return;
    }
    let by_worker = |w: usize| spans.iter().filter(|x| x.worker == w).count();
    let (w1, w2) = (by_worker(1), by_worker(2));
    let mut by_conn: HashMap<&str, Vec<&SyncSpan>> = HashMap::new();
    for sp in &spans {
        by_conn.entry(sp.connection.as_str()).or_default().push(sp);
    }
    let mut overlaps = 0;
    let mut example = None;
    for list in by_conn.values_mut() {
        list.sort_by_key(|x| x.start);
        for pair in list.windows(2) {
            if pair[1].start < pair[0].end {
                overlaps += 1;
                example.get_or_insert_with(|| format!("{pair:?}"));
            }
        }
    }
    let known: std::collections::HashSet<String> =
        agents.iter().map(|a| a.connection.to_string()).collect();
    let ours = by_conn.keys().filter(|c| known.contains(**c)).count();
    report.row(
        s,
        "syncs logged since worker 2 started (worker 1 / worker 2)",
        format!("{w1} / {w2} over {ours} connections"),
    );
    report.check(
        s,
        "syncs of one connection overlapping in time",
        format!("{overlaps}"),
        "0",
        overlaps == 0 && w2 > 0,
    );
    if let Some(e) = example {
        report.notes.push(format!("overlapping syncs, first: {e}"));
    }
    if w2 == 0 {
        report
            .notes
            .push("the second worker logged no sync: it did not share the work".into());
    }
}

// ---------------------------------------------------------------- memory, cleanup

fn memory(args: &Args, worker2: Option<u32>, report: &mut Report) {
    let s = "resident memory at the end (current / peak)";
    let mut procs: Vec<(String, u32)> = Vec::new();
    if let Some(up) = args.up_pid {
        procs.push(("calsync up (+ both sandboxes)".into(), up));
        for (pid, cmd) in system::children(up) {
            let name = ["api", "ingest", "worker"]
                .iter()
                .find(|n| cmd.ends_with(&format!("serve {n}")))
                .map(|n| match *n {
                    "ingest" => "webhook-ingest".to_owned(),
                    "worker" => "sync-worker".to_owned(),
                    other => other.to_owned(),
                })
                .unwrap_or(cmd);
            procs.push((name, pid));
        }
    }
    if let Some(pid) = worker2 {
        procs.push(("sync-worker 2".into(), pid));
    }
    if procs.is_empty() {
        report
            .notes
            .push("memory: no --up-pid; not measured".into());
    }
    let mut j = serde_json::Map::new();
    for (name, pid) in procs {
        if let Some((rss, hwm)) = system::rss_kib(pid) {
            report.row(
                s,
                name.clone(),
                format!(
                    "{:.1} / {:.1} MiB",
                    rss as f64 / 1024.0,
                    hwm as f64 / 1024.0
                ),
            );
            j.insert(name, json!({"rss_kib": rss, "peak_kib": hwm}));
        }
    }
    report.json.insert("memory".into(), Value::Object(j));
}

async fn cleanup(args: &Args) -> anyhow::Result<()> {
    let topology = calsync_mq::Topology::new(&args.amqp_prefix);
    let conn = calsync_mq::connect(&args.amqp_url).await?;
    let ch = conn.create_channel().await?;
    for q in topology.all_queues() {
        let _ = ch
            .queue_delete(&q, lapin::options::QueueDeleteOptions::default())
            .await;
    }
    let _ = ch
        .exchange_delete(
            &topology.exchange(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await;
    let _ = conn.close(200, "bench cleanup").await;
    Ok(())
}
