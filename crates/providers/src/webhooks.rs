//! Opening and renewing a connection's push webhook, shared by api (first setup at the
//! OAuth callback, operator setup) and sync-worker (renewal). Storing the result is
//! the caller's business; this module only talks to the provider.
//!
//! Google channels cannot be renewed: a new channel (new id) is opened first and the
//! old one stopped afterwards, so there is no gap (both deliver in the overlap, which
//! notices tolerate). Graph subscriptions are PATCHed to a later expiry; one Graph no
//! longer knows (404) is created anew.

use crate::google::GoogleClient;
use crate::microsoft::MicrosoftClient;
use crate::microsoft::Subscription;
use crate::security::WebhookSigner;
use crate::ProviderError;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

/// Google's default (and usual maximum) life of an events channel.
pub const GOOGLE_CHANNEL_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// What the primary calendar's Graph subscription watches: the signed-in user's events
/// (it predates several calendars per connection; a change in another calendar costs
/// one sync that finds nothing new).
pub const GRAPH_RESOURCE: &str = "me/events";

/// The Graph subscription resource of one calendar (`PRIMARY_CALENDAR` → `me/events`).
pub fn graph_resource(calendar_id: &str) -> String {
    if calendar_id == calsync_core::PRIMARY_CALENDAR {
        GRAPH_RESOURCE.to_owned()
    } else {
        format!("me/calendars/{calendar_id}/events")
    }
}

/// A webhook as the provider granted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedWebhook {
    pub channel_id: Option<String>,
    pub resource_id: Option<String>,
    pub subscription_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Whether an existing webhook was extended rather than a new one opened.
    pub renewed: bool,
}

/// The webhook a calendar has now, if any.
#[derive(Debug, Clone, Default)]
pub struct CurrentWebhook<'a> {
    pub channel_id: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub subscription_id: Option<&'a str>,
    /// The Graph subscriptions of the connection's other calendars: never reconciled away.
    pub siblings: &'a [String],
}

fn join(base: &str, path: &str) -> Result<Url, ProviderError> {
    let full = format!("{}{}", base.trim_end_matches('/'), path);
    Url::parse(&full).map_err(|e| ProviderError::InvalidUrl(format!("{full}: {e}")))
}

/// Opens a new Google channel for the connection's calendar, then stops the old one.
pub async fn renew_google(
    client: &GoogleClient,
    access_token: &SecretString,
    calendar_id: &str,
    connection_id: Uuid,
    signer: &WebhookSigner,
    ingest_public_url: &str,
    current: &CurrentWebhook<'_>,
) -> Result<OpenedWebhook, ProviderError> {
    let address = join(ingest_public_url, "/webhooks/google")?;
    let channel_id = Uuid::new_v4().to_string();
    let ch = match client
        .watch(
            access_token,
            calendar_id,
            &channel_id,
            &address,
            &signer.sign(connection_id),
            GOOGLE_CHANNEL_TTL,
        )
        .await
    {
        Ok(ch) => ch,
        Err(e @ ProviderError::OutcomeUnknown(_)) => {
            // The channel may exist: stop it by the id we chose, so that no second
            // channel delivers, unrenewed, for a week. The resource id names the
            // calendar, the same for every channel on it.
            match current.resource_id {
                Some(resource) => {
                    if let Err(stop) = client
                        .stop_channel(access_token, &channel_id, resource)
                        .await
                    {
                        tracing::warn!(channel.id = %channel_id, error.message = %stop, "could not stop a channel of unknown outcome");
                    }
                }
                None => {
                    tracing::warn!(channel.id = %channel_id, "a channel of unknown outcome cannot be stopped without a resource id; it lapses by itself")
                }
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if let (Some(old_id), Some(old_resource)) = (current.channel_id, current.resource_id) {
        // Best effort: an old channel that is not stopped simply lapses on its own.
        if let Err(e) = client
            .stop_channel(access_token, old_id, old_resource)
            .await
        {
            tracing::warn!(channel.id = old_id, error.message = %e, "could not stop the old channel");
        }
    }
    Ok(OpenedWebhook {
        channel_id: Some(ch.id),
        resource_id: Some(ch.resource_id),
        subscription_id: None,
        expires_at: ch.expires_at,
        renewed: current.channel_id.is_some(),
    })
}

/// Extends the Graph subscription, or creates one when there is none or Graph lost it.
/// Asks for `max_minutes` of life; when Graph refuses the expiry and names its own
/// maximum, asks once more within it (a tenant may enforce less than the documented one).
#[allow(clippy::too_many_arguments)]
pub async fn renew_graph(
    client: &MicrosoftClient,
    access_token: &SecretString,
    resource: &str,
    connection_id: Uuid,
    signer: &WebhookSigner,
    ingest_public_url: &str,
    current: &CurrentWebhook<'_>,
    now: DateTime<Utc>,
    max_minutes: i64,
) -> Result<OpenedWebhook, ProviderError> {
    match open_graph(
        client,
        access_token,
        resource,
        connection_id,
        signer,
        ingest_public_url,
        current,
        now,
        max_minutes,
    )
    .await
    {
        Err(e) => match Subscription::named_maximum(&e) {
            Some(named) if named < max_minutes => {
                tracing::warn!(
                    asked = max_minutes,
                    allowed = named,
                    "Graph refused the subscription's lifetime; asking within its maximum"
                );
                open_graph(
                    client,
                    access_token,
                    resource,
                    connection_id,
                    signer,
                    ingest_public_url,
                    current,
                    now,
                    named,
                )
                .await
            }
            _ => Err(e),
        },
        ok => ok,
    }
}

#[allow(clippy::too_many_arguments)]
async fn open_graph(
    client: &MicrosoftClient,
    access_token: &SecretString,
    resource: &str,
    connection_id: Uuid,
    signer: &WebhookSigner,
    ingest_public_url: &str,
    current: &CurrentWebhook<'_>,
    now: DateTime<Utc>,
    max_minutes: i64,
) -> Result<OpenedWebhook, ProviderError> {
    let expiry = Subscription::max_expiry(now, max_minutes);
    if let Some(id) = current.subscription_id {
        match client.renew_subscription(access_token, id, expiry).await {
            Ok(s) => return Ok(graph_webhook(s, true)),
            Err(ProviderError::NotFound) => {
                tracing::info!(
                    subscription.id = id,
                    "subscription gone; creating a new one"
                );
            }
            Err(e) => return Err(e),
        }
    }
    let notification_url = join(ingest_public_url, "/webhooks/microsoft")?;
    let created = client
        .create_subscription(
            access_token,
            resource,
            &notification_url,
            &join(ingest_public_url, "/webhooks/microsoft/lifecycle")?,
            &signer.sign(connection_id),
            expiry,
        )
        .await;
    match created {
        Ok(s) => Ok(graph_webhook(s, false)),
        Err(e @ ProviderError::OutcomeUnknown(_)) => {
            let mut held: Vec<&str> = current.siblings.iter().map(String::as_str).collect();
            held.extend(current.subscription_id);
            reconcile_graph(client, access_token, &notification_url, &held).await;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// After a create of unknown outcome: deletes this user's subscriptions that deliver to
/// our URL but are none the connection holds, so no stray one delivers unrenewed.
/// Best effort; a stray one left behind lapses within Graph's maximum.
async fn reconcile_graph(
    client: &MicrosoftClient,
    access_token: &SecretString,
    notification_url: &Url,
    held: &[&str],
) {
    let list = match client.list_subscriptions(access_token).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error.message = %e, "could not list subscriptions to reconcile");
            return;
        }
    };
    for (id, url) in list {
        let ours = url.as_deref() == Some(notification_url.as_str());
        if ours && !held.contains(&id.as_str()) {
            match client.delete_subscription(access_token, &id).await {
                Ok(()) => {
                    tracing::info!(subscription.id = %id, "deleted a subscription we do not hold")
                }
                Err(e) => {
                    tracing::warn!(subscription.id = %id, error.message = %e, "could not delete a stray subscription")
                }
            }
        }
    }
}

fn graph_webhook(s: Subscription, renewed: bool) -> OpenedWebhook {
    OpenedWebhook {
        channel_id: None,
        resource_id: None,
        subscription_id: Some(s.id),
        expires_at: s.expires_at,
        renewed,
    }
}
