//! Everything a sync needs, built once per worker process and shared by its tasks.
//! Connection logic (clients, tokens, leases, webhooks, requests) is `Connections`'s;
//! the context adds what only the worker has: the ICS fetcher, settings and metrics.

use crate::metrics::WorkerMetrics;
use calsync_connections::Connections;
use calsync_core::Provider;
use calsync_providers::ics::{FetchConfig, IcsFetcher};
use calsync_runtime::Settings;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use std::ops::Deref;
use std::sync::Arc;

pub struct WorkerContext {
    pub conns: Arc<Connections>,
    /// The write-back drain (bookings into the agents' calendars).
    pub writeback: Arc<calsync_connections::WriteBack>,
    /// The SSRF-guarded ICS fetcher (its own client: it resolves through the guard).
    pub ics: IcsFetcher,
    pub settings: Settings,
    pub metrics: WorkerMetrics,
    /// The trace each connection's next sync continues.
    pub traces: crate::traces::Traces,
    /// The syncs' event writes, committed in groups.
    pub commits: crate::sync::Commits,
}

/// `ctx.pool`, `ctx.clock`, `ctx.cipher`, … read through to the connection logic.
impl Deref for WorkerContext {
    type Target = Connections;
    fn deref(&self) -> &Connections {
        &self.conns
    }
}

impl WorkerContext {
    /// How long a sync lease lasts without its heartbeat.
    pub fn lease(&self) -> Duration {
        self.conns.lease_ttl
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::seconds(i64::try_from(self.settings.worker.poll_interval_secs).unwrap_or(600))
    }

    pub fn ics_poll_interval(&self) -> Duration {
        Duration::seconds(i64::try_from(self.settings.ics.poll_interval_secs).unwrap_or(600))
    }

    /// The polling interval of a provider: ICS feeds have their own.
    pub fn poll_interval_of(&self, provider: Provider) -> Duration {
        match provider {
            Provider::Ics => self.ics_poll_interval(),
            Provider::Google | Provider::Microsoft => self.poll_interval(),
        }
    }

    /// When a connection synced at `now` is polled next: its interval ± 10 %, so that
    /// connections created together (an import, a restart) spread over the interval
    /// instead of polling in lockstep.
    pub fn next_poll_at(&self, provider: Provider, now: DateTime<Utc>) -> DateTime<Utc> {
        jittered(now, self.poll_interval_of(provider))
    }
}

pub(crate) fn jittered(now: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let ms = interval.num_milliseconds().max(0);
    let spread = ms / 10;
    let offset = if spread > 0 {
        rand::thread_rng().gen_range(-spread..=spread)
    } else {
        0
    };
    now + Duration::milliseconds(ms + offset)
}

/// The ICS fetcher as `settings.ics` configures it.
pub fn ics_fetcher(settings: &Settings) -> anyhow::Result<IcsFetcher> {
    let total = std::time::Duration::from_secs(settings.ics.timeout_secs.max(1));
    let config = FetchConfig {
        connect_timeout: total.min(std::time::Duration::from_secs(10)),
        total_timeout: total,
        max_bytes: settings.ics.max_bytes,
        allow_hosts: settings.ics.allow_hosts.clone(),
        ..FetchConfig::default()
    };
    IcsFetcher::new(config).map_err(|e| anyhow::anyhow!("ics fetcher: {e}"))
}
