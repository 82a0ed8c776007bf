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
mod ingest;
mod raw;
mod setup;
mod storm;
mod system;
mod watch;
mod workers;

use anyhow::{anyhow, bail, Context};
use changes::{Changer, Latency};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures::StreamExt;
use ingest::phase_ingest;
use serde_json::{json, Value};
use setup::setup;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storm::{phase_steady, phase_storm};
use system::{metric_sum, Agent, Provider, Sys};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use workers::{start_worker2, stop_child, workers_verdicts};

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
