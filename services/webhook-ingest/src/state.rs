//! Shared handler state: the token verifier, the confirming publisher (behind the
//! per-connection group commit) and metrics.

use crate::coalesce::Coalescer;
use crate::group::Grouper;
use calsync_core::Provider;
use calsync_mq::Publisher;
use calsync_providers::security::WebhookSigner;
use prometheus::{IntCounterVec, Registry};

/// The most notices one queue message holds (about 100 bytes each).
const MAX_GROUP: usize = 256;

pub struct IngestState {
    pub signer: WebhookSigner,
    pub publisher: Publisher,
    /// Publishes notices, folding pushes that wait behind one in flight (see `coalesce`)
    /// and grouping those of different connections into shared messages (see `group`).
    pub notices: Coalescer<Grouper<Publisher>>,
    /// Notifications by provider and outcome.
    pub notifications: IntCounterVec,
}

impl IngestState {
    pub fn new(signer: WebhookSigner, publisher: Publisher, registry: &Registry) -> Self {
        let notifications = calsync_runtime::metrics::counter_vec(
            registry,
            "webhook_notifications_total",
            "Webhook notifications received, by provider and outcome",
            &["provider", "outcome"],
        );
        // Every series exists from the start, at zero: an alert on an absent series (or
        // a rate over one) must not fire on a quiet system.
        for p in [Provider::Google, Provider::Microsoft] {
            for o in Outcome::ALL {
                notifications.with_label_values(&[p.as_str(), o.as_str()]);
            }
        }
        let published = calsync_runtime::metrics::counter_vec(
            registry,
            "webhook_notices_published_total",
            "Change notices published and confirmed, by provider (pushes that arrive while their connection's notice is in flight share one)",
            &["provider"],
        );
        for p in [Provider::Google, Provider::Microsoft] {
            published.with_label_values(&[p.as_str()]);
        }
        Self {
            signer,
            notices: Coalescer::new(
                Grouper::new(publisher.clone(), publisher.lanes(), MAX_GROUP),
                published,
            ),
            publisher,
            notifications,
        }
    }

    pub fn count(&self, provider: Provider, outcome: Outcome) {
        self.notifications
            .with_label_values(&[provider.as_str(), outcome.as_str()])
            .inc();
    }
}

/// What became of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Published and confirmed by the broker.
    Queued,
    /// Google's `sync` message when a channel opens: nothing changed.
    Sync,
    /// The channel token / clientState did not verify.
    Forged,
    /// The broker did not confirm; answered 503 so the provider retries.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Queued,
        Outcome::Sync,
        Outcome::Forged,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Sync => "sync",
            Outcome::Forged => "forged",
            Outcome::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_provider_and_outcome_series_exists_at_zero_from_the_start() {
        let registry = Registry::new();
        let publisher = Publisher::new(
            "amqp://127.0.0.1:1/%2f",
            calsync_mq::Topology::new("unused"),
        );
        let signer = WebhookSigner::with_previous(secrecy::SecretString::from("s"), Vec::new());
        let _state = IngestState::new(signer, publisher, &registry);
        let families = registry.gather();
        let series: Vec<_> = families
            .iter()
            .filter(|f| f.get_name().ends_with("webhook_notifications_total"))
            .flat_map(|f| f.get_metric())
            .collect();
        assert_eq!(series.len(), 2 * Outcome::ALL.len());
        assert!(series.iter().all(|m| m.get_counter().get_value() == 0.0));
    }
}
