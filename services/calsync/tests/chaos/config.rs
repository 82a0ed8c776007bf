//! The size and pace of a run: fixed for the in-suite run, from `CHAOS_*` variables for
//! long runs. The seed is always printed; `CHAOS_SEED` replays it.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub name: &'static str,
    pub seed: u64,
    /// Agents, alternately on Google and on Microsoft.
    pub agents: usize,
    /// How long coworkers change calendars while faults are injected.
    pub chaos: Duration,
    /// `CALSYNC__WORKER__POLL_INTERVAL_SECS` of the services.
    pub poll_interval: Duration,
    /// sync-worker replicas running at once.
    pub workers: usize,
    /// Coworker changes per second, over all agents.
    pub changes_per_sec: f64,
    /// Faults start this far apart (uniformly between the two).
    pub fault_gap: (Duration, Duration),
    /// Broker and database outages last this long (uniformly between the two).
    pub outage: (Duration, Duration),
    /// How long agents get to converge after the last fault before the run fails.
    pub converge_timeout: Duration,
}

fn env<T: std::str::FromStr>(key: &str) -> Option<T> {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok())
}

fn seed() -> u64 {
    env("CHAOS_SEED").unwrap_or_else(rand::random)
}

impl Config {
    /// The in-suite run: six agents, one minute of chaos with every fault kind (13
    /// variants) at least once, then convergence. About two minutes in all.
    pub fn short() -> Self {
        let poll = Duration::from_secs(20);
        Self {
            name: "short",
            seed: seed(),
            agents: 6,
            chaos: Duration::from_secs(60),
            poll_interval: poll,
            workers: 2,
            changes_per_sec: 2.0,
            fault_gap: (Duration::from_secs(3), Duration::from_secs(5)),
            outage: (Duration::from_secs(2), Duration::from_secs(8)),
            // Generous (a loaded 2-core machine); the target of 2 poll intervals is
            // reported, convergence itself is asserted.
            converge_timeout: poll * 4,
        }
    }

    /// A long run: `CHAOS_AGENTS` (40), `CHAOS_DURATION_SECS` (600),
    /// `CHAOS_POLL_SECS` (20), `CHAOS_WORKERS` (2), `CHAOS_CHANGES_PER_SEC`
    /// (agents / 5), `CHAOS_SEED`.
    pub fn long() -> Self {
        let agents = env("CHAOS_AGENTS").unwrap_or(40usize).max(2);
        let poll = Duration::from_secs(env("CHAOS_POLL_SECS").unwrap_or(20u64).max(5));
        Self {
            name: "long",
            seed: seed(),
            agents,
            chaos: Duration::from_secs(env("CHAOS_DURATION_SECS").unwrap_or(600u64).max(30)),
            poll_interval: poll,
            workers: env("CHAOS_WORKERS").unwrap_or(2usize).max(1),
            changes_per_sec: env("CHAOS_CHANGES_PER_SEC").unwrap_or(agents as f64 / 5.0),
            fault_gap: (Duration::from_secs(4), Duration::from_secs(12)),
            // Up to beyond a sync lease's life (15 s) and a Graph push's retries (31 s).
            outage: (Duration::from_secs(2), Duration::from_secs(35)),
            converge_timeout: poll * 4,
        }
    }

    /// The convergence target of issue 12: every agent within two poll intervals of
    /// the last fault.
    pub fn target(&self) -> Duration {
        self.poll_interval * 2
    }
}
