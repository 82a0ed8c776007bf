//! Shared handler state: the token verifier, the confirming publisher and metrics.

use calsync_mq::Publisher;
use calsync_providers::security::WebhookSigner;
use prometheus::{IntCounterVec, Registry};

pub struct IngestState {
    pub signer: WebhookSigner,
    pub publisher: Publisher,
    /// Notifications by provider and outcome (queued, sync, forged, invalid, failed).
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
        Self {
            signer,
            publisher,
            notifications,
        }
    }

    pub fn count(&self, provider: &str, outcome: &str) {
        self.notifications
            .with_label_values(&[provider, outcome])
            .inc();
    }
}
