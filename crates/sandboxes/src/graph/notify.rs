//! Change and lifecycle notifications: matching changes to subscriptions, batching per
//! endpoint, delivery with a timeout, retries with exponential back-off, Graph's delay or
//! drop of slow endpoints (change notifications only), and the record tests read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::error::GraphError;
use super::mailbox::Change;
use super::state::{lock, Shared, Store};
use super::tz::format_instant;
use crate::endpoints::{Admit, Answer};

/// One notification waiting for its batch.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub subscription_id: String,
    pub item: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    Change,
    Lifecycle,
}

/// One POST the sandbox made to a notification endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub kind: DeliveryKind,
    pub url: String,
    /// `{"value": [...]}` as sent.
    pub body: Value,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Sandbox clock time of the attempt.
    pub at: DateTime<Utc>,
    pub elapsed: Duration,
    /// No answer within `notification_timeout`.
    pub timed_out: bool,
}

impl Delivery {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The notification items of the POST.
    pub fn items(&self) -> Vec<Value> {
        self.body
            .get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

/// Queues a notification for each live subscription of `user_id` that covers `change`.
pub fn queue_change(shared: &Shared, store: &mut Store, user_id: &str, change: &Change) {
    let now = shared.now();
    let targets: Vec<_> = store
        .subscriptions
        .values()
        .filter(|s| {
            s.user_id == user_id
                && s.expiration > now
                && s.change_types.iter().any(|c| c == change.change_type)
                && s.covers(&change.calendar_id)
        })
        .cloned()
        .collect();
    for sub in targets {
        if store.drop_next > 0 {
            store.drop_next -= 1;
            store.dropped += 1;
            continue;
        }
        let resource = format!("Users/{user_id}/Events/{}", change.event_id);
        let mut item = json!({
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": format_instant(sub.expiration),
            "changeType": change.change_type,
            "resource": resource,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": resource,
                "@odata.etag": change.etag,
                "id": change.event_id,
            },
            "tenantId": shared.tenant_id,
        });
        if let (Some(state), Some(obj)) = (&sub.client_state, item.as_object_mut()) {
            obj.insert("clientState".into(), json!(state));
        }
        // The dispatcher lives as long as the sandbox; after stop nothing is delivered.
        let _ = shared.outbox.send(Outgoing {
            url: sub.notification_url.clone(),
            subscription_id: sub.id.clone(),
            item,
        });
    }
}

/// Collects notifications for the batch window, then delivers one POST per endpoint.
pub async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let client = reqwest::Client::new();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { break };
                let mut batch = vec![first];
                let window = tokio::time::sleep(shared.cfg.notification_batch_window);
                tokio::pin!(window);
                loop {
                    tokio::select! {
                        () = &mut window => break,
                        next = rx.recv() => match next {
                            Some(n) => batch.push(n),
                            None => break,
                        },
                    }
                }
                let mut by_url: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
                for o in batch {
                    by_url.entry(o.url.clone()).or_default().push(o);
                }
                for (url, items) in by_url {
                    tasks.spawn(deliver(shared.clone(), client.clone(), url, items));
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

async fn deliver(shared: Arc<Shared>, client: reqwest::Client, url: String, items: Vec<Outgoing>) {
    let policy = &shared.cfg.endpoint_policy;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let admit = lock(&shared.endpoints).admit(&url, items.len(), policy, shared.now());
        match admit {
            Admit::Send => {}
            Admit::Delay(wait) => tokio::time::sleep(wait).await,
            // Graph discards a dropped endpoint's notifications: no retry either.
            Admit::Discard => return,
        }
        let now = shared.now();
        // Expired or deleted subscriptions stop delivering, retries included.
        let live: Vec<Value> = {
            let store = lock(&shared.store);
            items
                .iter()
                .filter(|o| {
                    store
                        .subscriptions
                        .get(&o.subscription_id)
                        .is_some_and(|s| s.expiration > now)
                })
                .map(|o| o.item.clone())
                .collect()
        };
        if live.is_empty() {
            return;
        }
        let body = json!({ "value": live });
        let delivery = post(&shared, &client, DeliveryKind::Change, &url, body, attempt).await;
        let ok = delivery.succeeded();
        let answer = Answer {
            elapsed: delivery.elapsed,
            timed_out: delivery.timed_out,
            ok,
        };
        lock(&shared.endpoints).record(&url, answer, policy, shared.now());
        lock(&shared.deliveries).push(delivery);
        shared.delivered.notify_waiters();
        if ok || attempt >= shared.cfg.max_delivery_attempts {
            return;
        }
        let factor = 2u32.saturating_pow(attempt - 1);
        tokio::time::sleep(shared.cfg.delivery_retry_base.saturating_mul(factor)).await;
    }
}

async fn post(
    shared: &Shared,
    client: &reqwest::Client,
    kind: DeliveryKind,
    url: &str,
    body: Value,
    attempt: u32,
) -> Delivery {
    let at = shared.now();
    let started = Instant::now();
    let result = client
        .post(url)
        .timeout(shared.cfg.notification_timeout)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .send()
        .await;
    let (status, error, timed_out) = match result {
        Ok(res) => (Some(res.status().as_u16()), None, false),
        Err(e) => (None, Some(e.to_string()), e.is_timeout()),
    };
    Delivery {
        kind,
        url: url.to_owned(),
        body,
        attempt,
        status,
        error,
        at,
        elapsed: started.elapsed(),
        timed_out,
    }
}

pub async fn send_lifecycle(
    shared: &Arc<Shared>,
    subscription_id: &str,
    event: &str,
) -> Result<Option<u16>, GraphError> {
    if !["reauthorizationRequired", "subscriptionRemoved", "missed"].contains(&event) {
        return Err(GraphError::invalid_request(format!(
            "Unknown lifecycle event '{event}'."
        )));
    }
    let sub = {
        let mut store = lock(&shared.store);
        let sub = store
            .subscriptions
            .get(subscription_id)
            .cloned()
            .ok_or_else(|| GraphError::new(404, "ResourceNotFound", "The object was not found."))?;
        if event == "subscriptionRemoved" {
            store.subscriptions.remove(subscription_id);
        }
        sub
    };
    let Some(url) = sub.lifecycle_notification_url.clone() else {
        return Ok(None);
    };
    let mut item = json!({
        "lifecycleEvent": event,
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": format_instant(sub.expiration),
        "tenantId": shared.tenant_id,
    });
    if let (Some(state), Some(obj)) = (&sub.client_state, item.as_object_mut()) {
        obj.insert("clientState".into(), json!(state));
    }
    let client = reqwest::Client::new();
    let delivery = post(
        shared,
        &client,
        DeliveryKind::Lifecycle,
        &url,
        json!({ "value": [item] }),
        1,
    )
    .await;
    let status = delivery.status;
    lock(&shared.deliveries).push(delivery);
    shared.delivered.notify_waiters();
    Ok(status)
}
