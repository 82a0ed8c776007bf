//! One run: start the system, connect the agents, run coworkers and faults together for
//! the chaos phase, disarm, then wait for convergence and report.

use crate::config::Config;
use crate::faults::{self, Injected, Kind};
use crate::system::{Agent, Prov, System};
use crate::verify::{self, AgentResult};
use crate::workload::{self, Workload};
use anyhow::{bail, Context};
use calsync_mq::Topology;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub struct Report {
    pub cfg: Config,
    pub log_dir: PathBuf,
    pub setup: Duration,
    pub chaos: Duration,
    pub changes: BTreeMap<&'static str, u64>,
    pub refused: Vec<String>,
    pub faults: Vec<Injected>,
    pub dropped_pushes: (u64, u64),
    pub agents: Vec<AgentResult>,
    /// Services that died without being killed by the harness.
    pub exited: Vec<String>,
    /// After convergence: work queue, dead-letter queue, leases held, syncs pending.
    pub quiescence: String,
    /// Counts of telling lines in the services' logs.
    pub log_counts: BTreeMap<&'static str, usize>,
}

pub async fn run(cfg: &Config) -> anyhow::Result<Report> {
    println!(
        "chaos: run `{}` seed {} (replay with CHAOS_SEED={}) — {} agents, {} s of chaos, poll interval {} s, {} workers",
        cfg.name,
        cfg.seed,
        cfg.seed,
        cfg.agents,
        cfg.chaos.as_secs(),
        cfg.poll_interval.as_secs(),
        cfg.workers
    );
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("chaos")
        .join(format!("{}-{}", cfg.name, cfg.seed));
    let _ = std::fs::remove_dir_all(&log_dir);
    println!("chaos: service logs in {}", log_dir.display());
    let began = Instant::now();
    let sys = Arc::new(System::start(cfg, &log_dir).await?);
    let result = drive(cfg, &sys, log_dir, began).await;
    sys.stop().await;
    result
}

/// See `the_harness_sees_a_change_that_did_not_land`.
pub async fn self_check(cfg: &Config) -> anyhow::Result<()> {
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("chaos")
        .join(format!("{}-{}", cfg.name, cfg.seed));
    let _ = std::fs::remove_dir_all(&log_dir);
    let sys = Arc::new(System::start(cfg, &log_dir).await?);
    let result = async {
        let agents = connect_agents(cfg, &sys).await?;
        let day0 = workload::first_day();
        let settled = verify::converge(&sys, &agents, day0, Instant::now(), Duration::from_secs(10)).await;
        if !settled.iter().all(AgentResult::ok) {
            bail!("freshly connected agents did not converge");
        }
        sys.kill_worker(None).await?;
        let mut work = Workload::new(cfg.seed, &agents);
        while work.counts.get("insert").copied().unwrap_or(0) < 2 {
            work.step(&sys);
        }
        let stale = verify::converge(&sys, &agents, day0, Instant::now(), Duration::from_secs(3)).await;
        if stale.iter().all(AgentResult::ok) {
            bail!("with no worker running every agent still compared equal: the comparison is vacuous");
        }
        sys.spawn_worker().await?;
        let healed = verify::converge(&sys, &agents, day0, Instant::now(), cfg.converge_timeout).await;
        if let Some(bad) = healed.iter().find(|r| !r.ok()) {
            bail!("after a worker started again, {} did not converge: {:?}", bad.agent.user, bad.events_diff);
        }
        anyhow::Ok(())
    }
    .await;
    sys.stop().await;
    result
}

async fn connect_agents(cfg: &Config, sys: &System) -> anyhow::Result<Vec<Agent>> {
    let mut agents = Vec::new();
    for chunk in (0..cfg.agents).collect::<Vec<_>>().chunks(4) {
        let made = futures::future::join_all(chunk.iter().map(|&i| async move {
            let prov = if i % 2 == 0 {
                Prov::Google
            } else {
                Prov::Graph
            };
            let user = match prov {
                Prov::Google => format!("agent{i}@example.com"),
                Prov::Graph => format!("agent{i}@contoso.com"),
            };
            let specialist = sys.create_specialist(&format!("chaos-agent-{i}")).await?;
            let connection = sys
                .connect(prov, specialist, &user)
                .await
                .with_context(|| format!("connecting {user}"))?;
            anyhow::Ok(Agent {
                idx: i,
                prov,
                user,
                specialist,
                connection,
            })
        }))
        .await;
        for a in made {
            agents.push(a?);
        }
    }
    // Every first sync done before the chaos starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let conns = sys.connections().await?;
        if conns.iter().all(|c| c.last_sync_at.is_some()) && conns.len() == agents.len() {
            break;
        }
        if Instant::now() >= deadline {
            bail!("first syncs not done within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(agents)
}

async fn drive(
    cfg: &Config,
    sys: &Arc<System>,
    log_dir: PathBuf,
    began: Instant,
) -> anyhow::Result<Report> {
    let agents = connect_agents(cfg, sys).await?;
    let day0 = workload::first_day();
    let setup = began.elapsed();
    println!(
        "chaos: {} agents connected in {:.1} s; chaos starts",
        agents.len(),
        setup.as_secs_f64()
    );

    let plan = faults::plan(cfg);
    let start = Instant::now();
    let injector = tokio::spawn(faults::inject(Arc::clone(sys), agents.clone(), plan, start));
    let coworkers = {
        let sys = Arc::clone(sys);
        let mut work = Workload::new(cfg.seed, &agents);
        let (chaos, rate, seed) = (cfg.chaos, cfg.changes_per_sec.max(0.01), cfg.seed);
        tokio::spawn(async move {
            let mut pace = rand::rngs::StdRng::seed_from_u64(seed ^ 0x7ace);
            let end = start + chaos;
            loop {
                let u: f64 = pace.gen_range(f64::EPSILON..1.0);
                let gap = Duration::from_secs_f64((-u.ln() / rate).min(5.0));
                if Instant::now() + gap >= end {
                    break;
                }
                tokio::time::sleep(gap).await;
                work.step(&sys);
            }
            work
        })
    };
    let work = coworkers.await?;
    let injected = injector.await?;
    faults::disarm(sys);
    let chaos = start.elapsed();
    let last_fault = injected
        .iter()
        .map(|i| start + i.ended)
        .max()
        .unwrap_or(start);
    let reference = work.last_change.map_or(last_fault, |c| c.max(last_fault));
    println!(
        "chaos: phase over after {:.1} s ({} changes, {} faults); last fault ended at {:.1} s, last change at {:.1} s; waiting for convergence",
        chaos.as_secs_f64(),
        work.total(),
        injected.len(),
        (last_fault - start).as_secs_f64(),
        work.last_change.map_or(0.0, |c| (c - start).as_secs_f64()),
    );

    let results = verify::converge(sys, &agents, day0, reference, cfg.converge_timeout).await;
    let quiescence = quiescence(sys)
        .await
        .unwrap_or_else(|e| format!("unknown ({e:#})"));
    let exited = sys.exited().await;
    Ok(Report {
        cfg: cfg.clone(),
        log_counts: log_counts(&log_dir),
        log_dir,
        setup,
        chaos,
        changes: work.counts.clone(),
        refused: work.refused.clone(),
        faults: injected,
        dropped_pushes: (
            sys.google.dropped_pushes(),
            sys.graph.dropped_notifications(),
        ),
        agents: results,
        exited,
        quiescence,
    })
}

async fn quiescence(sys: &System) -> anyhow::Result<String> {
    let t = Topology::new(sys.broker.prefix());
    let work = sys.queue_depth(&t.work_queue()).await?;
    let dlq = sys.queue_depth(&t.dead_letter_queue()).await?;
    let conns = sys.connections().await?;
    let leases = conns.iter().filter(|c| c.lease_owner.is_some()).count();
    let pending = conns.iter().filter(|c| c.sync_pending).count();
    let failing = conns.iter().filter(|c| c.last_error.is_some()).count();
    let reauth = conns.iter().filter(|c| c.needs_reauth).count();
    // Access tokens live 150 s: a later expiry than that after connecting is a refresh.
    let refreshed = conns
        .iter()
        .filter(|c| {
            c.token_expires_at
                .is_some_and(|t| t - c.created_at > chrono::Duration::seconds(170))
        })
        .count();
    let now = chrono::Utc::now();
    let lapsed = conns
        .iter()
        .filter(|c| c.lease_owner.is_some() && c.lease_expires_at.is_some_and(|t| t <= now))
        .count();
    Ok(format!(
        "work queue {work}, dead-lettered {dlq}, leases held {leases} (lapsed {lapsed}), syncs pending {pending}, last sync failed {failing}, needs reauth {reauth}, access tokens refreshed on {refreshed}/{} connections",
        conns.len()
    ))
}

fn log_counts(dir: &std::path::Path) -> BTreeMap<&'static str, usize> {
    const NEEDLES: [(&str, &str); 7] = [
        ("syncs committed", "sync committed"),
        ("syncs failed", "sync failed"),
        ("leases lost mid-sync", "lease lost mid-sync"),
        ("leases taken over", "lease taken over"),
        ("polls not enqueued", "could not enqueue a poll"),
        ("scheduler ticks failed", "scheduler tick failed"),
        ("panics", "panicked"),
    ];
    let mut out: BTreeMap<&'static str, usize> = NEEDLES.iter().map(|(k, _)| (*k, 0)).collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        for line in text.lines() {
            for (k, needle) in NEEDLES {
                if line.contains(needle) {
                    *out.entry(k).or_default() += 1;
                }
            }
        }
    }
    out
}

impl Report {
    fn converged(&self) -> usize {
        self.agents.iter().filter(|a| a.ok()).count()
    }

    fn slowest(&self) -> Option<Duration> {
        self.agents.iter().filter_map(|a| a.converged_after).max()
    }

    pub fn print(&self) {
        let cfg = &self.cfg;
        let (g, m) = (
            self.agents
                .iter()
                .filter(|a| a.agent.prov == Prov::Google)
                .count(),
            self.agents
                .iter()
                .filter(|a| a.agent.prov == Prov::Graph)
                .count(),
        );
        println!("──── chaos run `{}`, seed {} ────", cfg.name, cfg.seed);
        println!(
            "agents: {} ({g} Google, {m} Microsoft); workers: {}; poll interval: {} s; setup {:.1} s, chaos phase {:.1} s",
            self.agents.len(),
            cfg.workers,
            cfg.poll_interval.as_secs(),
            self.setup.as_secs_f64(),
            self.chaos.as_secs_f64()
        );
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "coworker changes: {} ({})",
            self.changes.values().sum::<u64>(),
            changes.join(", ")
        );
        if !self.refused.is_empty() {
            println!("changes the sandboxes refused: {}", self.refused.len());
            for r in self.refused.iter().take(5) {
                println!("  {r}");
            }
        }
        let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
        for f in &self.faults {
            *by_kind.entry(f.kind).or_default() += 1;
        }
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        println!(
            "faults injected: {} — {}",
            self.faults.len(),
            kinds.join(", ")
        );
        for f in &self.faults {
            println!(
                "  {:>6.1}–{:>6.1} s  {:<32} {}",
                f.started.as_secs_f64(),
                f.ended.as_secs_f64(),
                f.kind.to_string(),
                f.detail
            );
        }
        println!(
            "pushes actually lost: Google {}, Graph {}",
            self.dropped_pushes.0, self.dropped_pushes.1
        );
        let counts: Vec<String> = self
            .log_counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("service logs: {}", counts.join(", "));
        if !self.exited.is_empty() {
            println!(
                "services that died on their own: {}",
                self.exited.join(", ")
            );
        }
        println!("quiescence: {}", self.quiescence);
        let mut times: Vec<f64> = self
            .agents
            .iter()
            .filter_map(|a| a.converged_after.map(|d| d.as_secs_f64()))
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
        let slowest = self.slowest().map_or(f64::NAN, |d| d.as_secs_f64());
        let target = cfg.target();
        let met =
            self.converged() == self.agents.len() && self.slowest().is_some_and(|d| d <= target);
        println!(
            "converged: {}/{} agents; time to converge after the last fault or change: median {median:.1} s, slowest {slowest:.1} s; target ≤ {} s (2 poll intervals): {}",
            self.converged(),
            self.agents.len(),
            target.as_secs(),
            if met { "met" } else { "MISSED" }
        );
        for a in &self.agents {
            let status = match (a.ok(), a.converged_after) {
                (true, Some(d)) => format!("converged after {:.1} s", d.as_secs_f64()),
                _ => "NOT CONVERGED".into(),
            };
            println!(
                "  agent{:<3} {:<7} {:>3} events  {status}",
                a.agent.idx,
                match a.agent.prov {
                    Prov::Google => "google",
                    Prov::Graph => "graph",
                },
                a.events
            );
            if let Some(d) = &a.events_diff {
                println!("    events (connection {}):\n{d}", a.agent.connection);
            }
            if let Some(d) = &a.slots_diff {
                println!("    availability:\n{d}");
            }
        }
        println!(
            "CHAOS-RESULT run={} seed={} agents={} converged={} changes={} faults={} slowest_s={slowest:.1} median_s={median:.1} target_s={} target_met={met} logs={}",
            cfg.name,
            cfg.seed,
            self.agents.len(),
            self.converged(),
            self.changes.values().sum::<u64>(),
            self.faults.len(),
            target.as_secs(),
            self.log_dir.display()
        );
    }

    /// Every agent converged (events and slots), within the timeout; every fault kind
    /// was injected; no service died by itself.
    pub fn assert_converged(&self) {
        let failed_to_inject: Vec<&Injected> = self
            .faults
            .iter()
            .filter(|f| f.detail.starts_with("FAILED"))
            .collect();
        assert!(
            failed_to_inject.is_empty(),
            "seed {}: faults could not be injected: {failed_to_inject:?}",
            self.cfg.seed
        );
        let missing: Vec<&Kind> = Kind::ALL
            .iter()
            .filter(|k| !self.faults.iter().any(|f| f.kind == **k))
            .collect();
        assert!(
            missing.is_empty(),
            "seed {}: fault kinds never injected: {missing:?}",
            self.cfg.seed
        );
        assert!(
            self.exited.is_empty(),
            "seed {}: services died on their own: {:?} (logs in {})",
            self.cfg.seed,
            self.exited,
            self.log_dir.display()
        );
        assert_eq!(
            self.converged(),
            self.agents.len(),
            "seed {}: not every agent converged within {} s of the last fault (logs in {}); replay with CHAOS_SEED={}",
            self.cfg.seed,
            self.cfg.converge_timeout.as_secs(),
            self.log_dir.display(),
            self.cfg.seed
        );
    }
}
