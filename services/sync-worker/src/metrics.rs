//! The worker's metrics, on its own registry.

use prometheus::{HistogramVec, IntCounterVec, IntGaugeVec, Registry};

#[derive(Clone)]
pub struct WorkerMetrics {
    /// Syncs by provider and outcome (ok, failed, reauth).
    pub syncs: IntCounterVec,
    /// Seconds from the provider's push (or the poll) to the committed sync.
    pub notice_to_commit: HistogramVec,
    /// now − last successful sync, observed at every sync, by provider.
    pub sync_lag: HistogramVec,
    /// Webhooks by provider and state, refreshed by the scheduler.
    pub webhooks: IntGaugeVec,
    /// Ready messages in the work and dead-letter queues as the scheduler last saw them.
    pub queue_depth: IntGaugeVec,
    /// Provider fetch rounds, by provider (what coalescing saves).
    pub fetches: IntCounterVec,
}

impl WorkerMetrics {
    pub fn new(registry: &Registry) -> Self {
        use calsync_runtime::metrics::{counter_vec, gauge_vec, histogram_vec};
        let latency = vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];
        let lag = vec![10.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0];
        Self {
            syncs: counter_vec(
                registry,
                "syncs_total",
                "Syncs by provider and outcome",
                &["provider", "outcome"],
            ),
            notice_to_commit: histogram_vec(
                registry,
                "notice_to_commit_seconds",
                "From notice received to sync committed",
                &["provider"],
                latency,
            ),
            sync_lag: histogram_vec(
                registry,
                "sync_lag_seconds",
                "Time since the previous successful sync",
                &["provider"],
                lag,
            ),
            webhooks: gauge_vec(
                registry,
                "webhooks",
                "Webhooks by provider and state",
                &["provider", "state"],
            ),
            queue_depth: gauge_vec(
                registry,
                "queue_depth",
                "Ready messages in a queue",
                &["queue"],
            ),
            fetches: counter_vec(
                registry,
                "provider_fetches_total",
                "Provider sync rounds",
                &["provider"],
            ),
        }
    }
}
