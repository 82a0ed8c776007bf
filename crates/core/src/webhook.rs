//! Webhook expiry policy: when a push channel/subscription counts as expiring and must be
//! renewed. Google channels live about a week and Graph subscriptions about three days;
//! renewing a day ahead leaves room for a failed attempt or two.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Renew webhooks that expire within this window.
pub const RENEW_AHEAD: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    Active,
    Expiring,
    Expired,
    Missing,
    NotApplicable,
}

impl WebhookState {
    pub const ALL: [WebhookState; 5] = [
        WebhookState::Active,
        WebhookState::Expiring,
        WebhookState::Expired,
        WebhookState::Missing,
        WebhookState::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Active => "active",
            WebhookState::Expiring => "expiring",
            WebhookState::Expired => "expired",
            WebhookState::Missing => "missing",
            WebhookState::NotApplicable => "not_applicable",
        }
    }

    /// Classifies a connection's webhook. `has_webhook` is whether an id is stored.
    pub fn classify(
        supports_webhooks: bool,
        has_webhook: bool,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if !supports_webhooks {
            return WebhookState::NotApplicable;
        }
        match (has_webhook, expires_at) {
            (false, _) | (true, None) => WebhookState::Missing,
            (true, Some(exp)) if exp <= now => WebhookState::Expired,
            (true, Some(exp)) if exp - now <= RENEW_AHEAD => WebhookState::Expiring,
            _ => WebhookState::Active,
        }
    }

    pub fn needs_renewal(self) -> bool {
        matches!(
            self,
            WebhookState::Expiring | WebhookState::Expired | WebhookState::Missing
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_webhook_is_renewed_a_day_before_it_lapses() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let c = |has, exp| WebhookState::classify(true, has, exp, now);
        assert_eq!(c(true, Some(now + Duration::days(3))), WebhookState::Active);
        assert_eq!(
            c(true, Some(now + Duration::hours(23))),
            WebhookState::Expiring
        );
        assert_eq!(
            c(true, Some(now - Duration::seconds(1))),
            WebhookState::Expired
        );
        assert_eq!(c(false, None), WebhookState::Missing);
        assert_eq!(
            WebhookState::classify(false, false, None, now),
            WebhookState::NotApplicable
        );
        assert!(!WebhookState::Active.needs_renewal());
        assert!(WebhookState::Expiring.needs_renewal());
    }
}
