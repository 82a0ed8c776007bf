//! Graph change-notification subscriptions: create, renew, reauthorize, delete.

use super::{wire, MicrosoftClient};
use crate::error::{Api, ProviderError};
use crate::http::endpoint;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Longest life of an Outlook event subscription in Graph's documentation (just under
/// three days). Graph refuses a longer `expirationDateTime` with 400 rather than
/// shortening it; the setting `microsoft.subscription_max_minutes` defaults to this.
pub const MAX_EVENT_SUBSCRIPTION_MINUTES: i64 = 4_230;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    /// As granted by Graph.
    pub expires_at: DateTime<Utc>,
}

impl Subscription {
    /// The longest expiry to ask for under a limit of `max_minutes`, a minute short so
    /// clock skew does not make Graph refuse it.
    pub fn max_expiry(now: DateTime<Utc>, max_minutes: i64) -> DateTime<Utc> {
        now + Duration::minutes(max_minutes.max(2) - 1)
    }

    /// The maximum a refusal names ("Subscription expiration can only be 4230 minutes in
    /// the future."), so a request can be retried once within it.
    pub fn named_maximum(err: &ProviderError) -> Option<i64> {
        let ProviderError::BadRequest { message } = err else {
            return None;
        };
        let rest = &message[message.find("can only be ")? + "can only be ".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        rest[digits.len()..]
            .trim_start()
            .starts_with("minutes")
            .then(|| digits.parse().ok())
            .flatten()
            .filter(|m| *m > 1)
    }

    fn from_wire(s: wire::SubscriptionResponse, what: &'static str) -> Result<Self, ProviderError> {
        let expires_at = DateTime::parse_from_rfc3339(&s.expiration_date_time)
            .map_err(|e| ProviderError::Protocol {
                context: what,
                message: format!("expirationDateTime: {e}"),
            })?
            .with_timezone(&Utc);
        Ok(Self {
            id: s.id,
            expires_at,
        })
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl MicrosoftClient {
    /// Graph validates `notification_url` and `lifecycle_url` (the `validationToken`
    /// handshake) before this returns, so webhook-ingest must already be reachable.
    #[tracing::instrument(skip_all, fields(resource = %resource))]
    pub async fn create_subscription(
        &self,
        access_token: &SecretString,
        resource: &str,
        notification_url: &Url,
        lifecycle_url: &Url,
        client_state: &str,
        requested_expiry: DateTime<Utc>,
    ) -> Result<Subscription, ProviderError> {
        let url = endpoint(&self.cfg.graph_base, &["subscriptions"])?;
        let body = wire::NewSubscription {
            change_type: "created,updated,deleted",
            notification_url: notification_url.as_str(),
            lifecycle_notification_url: lifecycle_url.as_str(),
            resource,
            expiration_date_time: rfc3339(requested_expiry),
            client_state,
            latest_supported_tls_version: "v1_2",
        };
        let s: wire::SubscriptionResponse = self
            .http
            .json_once(Api::Graph, "graph.subscriptions.create", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await?;
        Subscription::from_wire(s, "graph.subscriptions.create")
    }

    /// `ProviderError::NotFound` means the subscription is gone: create a new one.
    #[tracing::instrument(skip_all, fields(subscription.id = %id))]
    pub async fn renew_subscription(
        &self,
        access_token: &SecretString,
        id: &str,
        expiry: DateTime<Utc>,
    ) -> Result<Subscription, ProviderError> {
        let url = endpoint(&self.cfg.graph_base, &["subscriptions", id])?;
        let body = wire::Renewal {
            expiration_date_time: rfc3339(expiry),
        };
        let s: wire::SubscriptionResponse = self
            .http
            .json(Api::Graph, "graph.subscriptions.renew", |c| {
                c.patch(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await?;
        Subscription::from_wire(s, "graph.subscriptions.renew")
    }

    /// Answers a `reauthorizationRequired` lifecycle notification.
    #[tracing::instrument(skip_all, fields(subscription.id = %id))]
    pub async fn reauthorize_subscription(
        &self,
        access_token: &SecretString,
        id: &str,
    ) -> Result<(), ProviderError> {
        let url = endpoint(&self.cfg.graph_base, &["subscriptions", id, "reauthorize"])?;
        self.http
            .no_content(Api::Graph, "graph.subscriptions.reauthorize", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
            })
            .await
    }

    /// The live subscriptions this app holds for the signed-in user, with the
    /// notification URL each delivers to (to find ones whose creation we never saw).
    #[tracing::instrument(skip_all)]
    pub async fn list_subscriptions(
        &self,
        access_token: &SecretString,
    ) -> Result<Vec<(String, Option<String>)>, ProviderError> {
        let url = endpoint(&self.cfg.graph_base, &["subscriptions"])?;
        let list: wire::SubscriptionList = self
            .http
            .json(Api::Graph, "graph.subscriptions.list", |c| {
                c.get(url.clone()).bearer_auth(access_token.expose_secret())
            })
            .await?;
        Ok(list
            .value
            .into_iter()
            .map(|s| (s.id, s.notification_url))
            .collect())
    }

    /// Deleting one Graph no longer has is not an error.
    #[tracing::instrument(skip_all, fields(subscription.id = %id))]
    pub async fn delete_subscription(
        &self,
        access_token: &SecretString,
        id: &str,
    ) -> Result<(), ProviderError> {
        let url = endpoint(&self.cfg.graph_base, &["subscriptions", id])?;
        let res = self
            .http
            .no_content(Api::Graph, "graph.subscriptions.delete", |c| {
                c.delete(url.clone())
                    .bearer_auth(access_token.expose_secret())
            })
            .await;
        match res {
            Err(ProviderError::NotFound) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maximum_graph_names_in_a_refusal_is_read_back() {
        let e = ProviderError::BadRequest {
            message: "Subscription expiration can only be 4230 minutes in the future.".into(),
        };
        assert_eq!(Subscription::named_maximum(&e), Some(4230));
        let other = ProviderError::BadRequest {
            message: "Invalid notificationUrl".into(),
        };
        assert_eq!(Subscription::named_maximum(&other), None);
        assert_eq!(Subscription::named_maximum(&ProviderError::NotFound), None);
    }
}
