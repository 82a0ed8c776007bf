//! The faults: planned up front from the seed (kind, start, strength), then injected on
//! time. Faults of one kind on one target never overlap (a restore must not end another
//! outage early); faults of different kinds may.

use crate::config::Config;
use crate::system::{Agent, Prov, System};
use calsync_sandboxes::google::Fault;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    BrokerOutage,
    DatabaseOutage,
    WorkerKill,
    Provider5xx(Prov),
    Throttled429(Prov),
    SlowResponses(Prov),
    DroppedPushes(Prov),
    WebhookExpired(Prov),
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::BrokerOutage,
        Kind::DatabaseOutage,
        Kind::WorkerKill,
        Kind::Provider5xx(Prov::Google),
        Kind::Provider5xx(Prov::Graph),
        Kind::Throttled429(Prov::Google),
        Kind::Throttled429(Prov::Graph),
        Kind::SlowResponses(Prov::Google),
        Kind::SlowResponses(Prov::Graph),
        Kind::DroppedPushes(Prov::Google),
        Kind::DroppedPushes(Prov::Graph),
        Kind::WebhookExpired(Prov::Google),
        Kind::WebhookExpired(Prov::Graph),
    ];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |p: &Prov| match p {
            Prov::Google => "google",
            Prov::Graph => "graph",
        };
        match self {
            Kind::BrokerOutage => write!(f, "broker outage"),
            Kind::DatabaseOutage => write!(f, "database outage"),
            Kind::WorkerKill => write!(f, "kill -9 sync-worker"),
            Kind::Provider5xx(x) => write!(f, "{} 5xx", p(x)),
            Kind::Throttled429(x) => write!(f, "{} 429+Retry-After", p(x)),
            Kind::SlowResponses(x) => write!(f, "{} slow responses", p(x)),
            Kind::DroppedPushes(x) => write!(f, "{} dropped pushes", p(x)),
            Kind::WebhookExpired(x) => write!(f, "{} webhook expired unnoticed", p(x)),
        }
    }
}

/// One planned fault: when (after the chaos phase starts), what, and how strong.
#[derive(Debug, Clone)]
pub struct Planned {
    pub at: Duration,
    pub kind: Kind,
    /// Outage length, fault window, or restart delay.
    pub length: Duration,
    /// Failed requests (5xx, 429), dropped pushes, or the agent whose webhook dies.
    pub count: u32,
    /// `Retry-After` seconds, or latency in milliseconds for slow responses.
    pub strength: u64,
}

/// What was injected, and when it ended (relative to the chaos phase start).
#[derive(Debug, Clone)]
pub struct Injected {
    pub kind: Kind,
    pub started: Duration,
    pub ended: Duration,
    pub detail: String,
}

/// Every kind once (shuffled) in the first cycle, then kinds at random while the chaos
/// phase lasts.
pub fn plan(cfg: &Config) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0xfa17_5eed);
    let mut first = Kind::ALL.to_vec();
    first.shuffle(&mut rng);
    let mut out = Vec::new();
    let mut t = Duration::from_secs(3);
    let (lo, hi) = cfg.fault_gap;
    let margin = Duration::from_secs(8);
    loop {
        let kind = match first.pop() {
            Some(k) => k,
            None if t + margin < cfg.chaos => {
                *Kind::ALL.choose(&mut rng).unwrap_or(&Kind::WorkerKill)
            }
            None => break,
        };
        let (length, count, strength) = match kind {
            Kind::BrokerOutage | Kind::DatabaseOutage => {
                // Mostly short restarts, now and then a long one.
                let (lo, hi) = (
                    cfg.outage.0.as_millis() as u64,
                    cfg.outage.1.as_millis() as u64,
                );
                let hi = if rng.gen_bool(0.8) {
                    lo + (hi - lo) / 4
                } else {
                    hi
                };
                (Duration::from_millis(rng.gen_range(lo..=hi.max(lo))), 0, 0)
            }
            Kind::WorkerKill => (Duration::from_millis(rng.gen_range(0..3_000)), 0, 0),
            Kind::Provider5xx(_) => (
                Duration::from_millis(rng.gen_range(2_000..6_000)),
                rng.gen_range(2..12),
                rng.gen_range(1..3),
            ),
            Kind::Throttled429(_) => (
                Duration::from_millis(rng.gen_range(2_000..6_000)),
                rng.gen_range(2..12),
                rng.gen_range(1..6),
            ),
            Kind::SlowResponses(_) => (
                Duration::from_millis(rng.gen_range(3_000..8_000)),
                0,
                rng.gen_range(500..4_000),
            ),
            Kind::DroppedPushes(_) => (Duration::ZERO, rng.gen_range(2..10), 0),
            Kind::WebhookExpired(_) => (Duration::ZERO, rng.gen_range(0..1_000), 0),
        };
        out.push(Planned {
            at: t,
            kind,
            length,
            count,
            strength,
        });
        t += Duration::from_millis(rng.gen_range(lo.as_millis() as u64..=hi.as_millis() as u64));
    }
    out
}

/// Serialises faults that share a target.
#[derive(Default)]
struct Locks {
    by_target: std::sync::Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
}

impl Locks {
    fn of(&self, kind: Kind) -> Arc<Mutex<()>> {
        let key = match kind {
            Kind::Provider5xx(p) | Kind::Throttled429(p) => format!("api-{p:?}"),
            other => format!("{other:?}"),
        };
        let mut map = self
            .by_target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(key).or_default())
    }
}

/// Injects the plan on time; returns what was injected once every fault has ended.
pub async fn inject(
    sys: Arc<System>,
    agents: Vec<Agent>,
    plan: Vec<Planned>,
    start: Instant,
) -> Vec<Injected> {
    let locks = Arc::new(Locks::default());
    let agents = Arc::new(agents);
    let mut tasks = tokio::task::JoinSet::new();
    for p in plan {
        let (sys, locks, agents) = (Arc::clone(&sys), Arc::clone(&locks), Arc::clone(&agents));
        tasks.spawn(async move {
            tokio::time::sleep_until(start + p.at).await;
            let lock = locks.of(p.kind);
            let _held = lock.lock().await;
            let started = start.elapsed();
            let detail = match one(&sys, &agents, &p).await {
                Ok(d) => d,
                Err(e) => format!("FAILED TO INJECT: {e:#}"),
            };
            Injected {
                kind: p.kind,
                started,
                ended: start.elapsed(),
                detail,
            }
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(i) = done {
            out.push(i);
        }
    }
    out.sort_by_key(|i| i.started);
    out
}

async fn one(sys: &System, agents: &[Agent], p: &Planned) -> anyhow::Result<String> {
    match p.kind {
        Kind::BrokerOutage => {
            sys.mq.outage(p.length).await;
            Ok(format!("down {:.1} s", p.length.as_secs_f64()))
        }
        Kind::DatabaseOutage => {
            sys.pg.outage(p.length).await;
            Ok(format!("down {:.1} s", p.length.as_secs_f64()))
        }
        Kind::WorkerKill => {
            // Mid-sync: wait (briefly) for a worker to hold a sync lease, and kill that one.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut holder = None;
            while holder.is_none() && Instant::now() < deadline {
                if let Ok(conns) = sys.connections().await {
                    let now = chrono::Utc::now();
                    holder = conns.into_iter().find_map(|c| {
                        c.lease_owner.filter(|o| {
                            o.starts_with("sync-worker-")
                                && c.lease_expires_at.is_some_and(|t| t > now)
                        })
                    });
                }
                if holder.is_none() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let killed = sys.kill_worker(holder.as_deref()).await?;
            tokio::time::sleep(p.length).await;
            let new = sys.spawn_worker().await?;
            Ok(format!(
                "{killed} killed {}; {new} started {:.1} s later",
                if holder.is_some() {
                    "holding a sync lease"
                } else {
                    "(no sync in flight)"
                },
                p.length.as_secs_f64()
            ))
        }
        Kind::Provider5xx(Prov::Google) => {
            let status = if p.strength == 1 { 500 } else { 503 };
            sys.google
                .inject(Fault::new(status, "backendError", p.count));
            tokio::time::sleep(p.length).await;
            sys.google.clear_faults();
            Ok(format!(
                "next {} requests {status} (window {:.1} s)",
                p.count,
                p.length.as_secs_f64()
            ))
        }
        Kind::Provider5xx(Prov::Graph) => {
            sys.graph.inject_unavailable(p.count, p.strength);
            tokio::time::sleep(p.length).await;
            sys.graph.inject_unavailable(0, 0);
            Ok(format!(
                "next {} requests 503, Retry-After {} s (window {:.1} s)",
                p.count,
                p.strength,
                p.length.as_secs_f64()
            ))
        }
        Kind::Throttled429(Prov::Google) => {
            sys.google
                .inject(Fault::new(429, "rateLimitExceeded", p.count).retry_after(p.strength));
            tokio::time::sleep(p.length).await;
            sys.google.clear_faults();
            Ok(format!(
                "next {} requests 429, Retry-After {} s (window {:.1} s)",
                p.count,
                p.strength,
                p.length.as_secs_f64()
            ))
        }
        Kind::Throttled429(Prov::Graph) => {
            sys.graph.inject_throttle(p.count, p.strength);
            tokio::time::sleep(p.length).await;
            sys.graph.inject_throttle(0, 0);
            Ok(format!(
                "next {} requests 429, Retry-After {} s (window {:.1} s)",
                p.count,
                p.strength,
                p.length.as_secs_f64()
            ))
        }
        Kind::SlowResponses(prov) => {
            let latency = Duration::from_millis(p.strength);
            match prov {
                Prov::Google => sys.google.set_latency(latency),
                Prov::Graph => sys.graph.set_latency(latency),
            }
            tokio::time::sleep(p.length).await;
            match prov {
                Prov::Google => sys.google.set_latency(Duration::ZERO),
                Prov::Graph => sys.graph.set_latency(Duration::ZERO),
            }
            Ok(format!(
                "+{} ms per request for {:.1} s",
                p.strength,
                p.length.as_secs_f64()
            ))
        }
        Kind::DroppedPushes(Prov::Google) => {
            sys.google.drop_next_pushes(u64::from(p.count));
            Ok(format!("next {} pushes lost", p.count))
        }
        Kind::DroppedPushes(Prov::Graph) => {
            sys.graph.drop_next_notifications(p.count as usize);
            Ok(format!("next {} notifications lost", p.count))
        }
        Kind::WebhookExpired(prov) => {
            let of: Vec<&Agent> = agents.iter().filter(|a| a.prov == prov).collect();
            if of.is_empty() {
                anyhow::bail!("no {prov:?} agent");
            }
            let agent = of[p.count as usize % of.len()];
            let c = sys.primary_calendar(agent.connection).await?;
            let (id, found) = match prov {
                Prov::Google => {
                    let id = c.webhook_channel_id.unwrap_or_default();
                    let found = sys.google.expire_channel(&id);
                    (id, found)
                }
                Prov::Graph => {
                    let id = c.webhook_subscription_id.unwrap_or_default();
                    let found = sys.graph.expire_subscription(&id);
                    (id, found)
                }
            };
            if !found {
                anyhow::bail!("{}: webhook {id:?} unknown at the sandbox", agent.user);
            }
            Ok(format!("{}'s webhook {id} died", agent.user))
        }
    }
}

/// Whatever is still armed when the chaos phase ends is disarmed.
pub fn disarm(sys: &System) {
    sys.google.clear_faults();
    sys.google.set_latency(Duration::ZERO);
    sys.graph.inject_throttle(0, 0);
    sys.graph.inject_unavailable(0, 0);
    sys.graph.set_latency(Duration::ZERO);
}
