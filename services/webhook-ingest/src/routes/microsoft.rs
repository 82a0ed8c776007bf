//! `POST /webhooks/microsoft` and `/webhooks/microsoft/lifecycle`: Graph change and
//! lifecycle notifications, and the `validationToken` handshake both endpoints answer
//! when a subscription is created. Every item's clientState must verify; a batch with
//! a forged item publishes nothing.

use super::now_ms;
use crate::state::Outcome;
use crate::{IngestError, IngestState};
use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use calsync_core::Provider;
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider as WireProvider};
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Graph's tokens are short opaque strings; anything this long is not one.
const MAX_VALIDATION_TOKEN: usize = 2048;

#[derive(Deserialize)]
pub struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

#[derive(Deserialize)]
struct Batch<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeItem {
    subscription_id: String,
    client_state: Option<String>,
    change_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LifecycleItem {
    subscription_id: String,
    client_state: Option<String>,
    lifecycle_event: String,
}

/// Echoes the handshake token as text/plain, as Graph requires, or `None`.
fn handshake(q: &Validation) -> Option<HttpResponse> {
    let token = q.validation_token.as_ref()?;
    if token.len() > MAX_VALIDATION_TOKEN {
        return Some(calsync_runtime::http::json_error(
            actix_web::http::StatusCode::BAD_REQUEST,
            "bad_validation_token",
            "validation token too long",
        ));
    }
    Some(
        HttpResponse::Ok()
            .insert_header(ContentType::plaintext())
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(token.clone()),
    )
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, IngestError> {
    serde_json::from_slice::<Batch<T>>(body)
        .map(|b| b.value)
        .map_err(|e| IngestError::BadBody(e.to_string()))
}

fn verify(state: &IngestState, client_state: Option<&str>) -> Result<Uuid, IngestError> {
    let token = client_state.ok_or_else(|| {
        state.count(Provider::Microsoft, Outcome::Forged);
        IngestError::Forged
    })?;
    state.signer.verify(token).map_err(|e| {
        tracing::warn!(error.message = %e, "refused a Graph notification");
        state.count(Provider::Microsoft, Outcome::Forged);
        IngestError::Forged
    })
}

/// Graph drops a notification whose answer takes longer than 3 seconds (and counts it
/// against the subscription); past this budget the answer is a 503, so Graph retries.
const GRAPH_BUDGET: std::time::Duration = std::time::Duration::from_millis(2500);

async fn publish_all(
    state: &IngestState,
    notices: BTreeMap<Uuid, ChangeNotice>,
) -> Result<HttpResponse, IngestError> {
    // One notice per connection per batch: the worker fetches everything anyway. They
    // are published together and their confirms awaited as a group, within Graph's
    // budget; the answer goes out only once every one of them is confirmed.
    let (traceparent, tracestate) = calsync_runtime::telemetry::trace_context();
    let publishes = futures::future::join_all(notices.into_values().map(|notice| {
        let notice = ChangeNotice {
            traceparent: traceparent.clone(),
            tracestate: tracestate.clone(),
            ..notice
        };
        async move {
            let r = state.notices.publish(notice).await;
            let outcome = if r.is_ok() {
                Outcome::Queued
            } else {
                Outcome::Failed
            };
            state.count(Provider::Microsoft, outcome);
            r
        }
    }));
    let results = match tokio::time::timeout(GRAPH_BUDGET, publishes).await {
        Ok(results) => results,
        Err(_) => {
            state.count(Provider::Microsoft, Outcome::Failed);
            return Err(calsync_mq::MqError::Timeout(GRAPH_BUDGET).into());
        }
    };
    for r in results {
        r?;
    }
    Ok(HttpResponse::Accepted().finish())
}

pub async fn receive(
    query: web::Query<Validation>,
    body: web::Bytes,
    state: web::Data<IngestState>,
    _req: HttpRequest,
) -> Result<HttpResponse, IngestError> {
    if let Some(resp) = handshake(&query) {
        return Ok(resp);
    }
    let items: Vec<ChangeItem> = parse(&body)?;
    let mut notices = BTreeMap::new();
    for item in &items {
        let connection_id = verify(&state, item.client_state.as_deref())?;
        notices.insert(
            connection_id,
            ChangeNotice {
                connection_id: connection_id.to_string(),
                provider: WireProvider::Microsoft as i32,
                reason: NoticeReason::Webhook as i32,
                channel_id: item.subscription_id.clone(),
                message_number: 0,
                resource_state: item.change_type.clone().unwrap_or_default(),
                received_at_ms: now_ms(),
                full_resync: false,
                ..ChangeNotice::default()
            },
        );
    }
    publish_all(&state, notices).await
}

pub async fn lifecycle(
    query: web::Query<Validation>,
    body: web::Bytes,
    state: web::Data<IngestState>,
) -> Result<HttpResponse, IngestError> {
    if let Some(resp) = handshake(&query) {
        return Ok(resp);
    }
    let items: Vec<LifecycleItem> = parse(&body)?;
    let mut notices = BTreeMap::new();
    for item in &items {
        let connection_id = verify(&state, item.client_state.as_deref())?;
        tracing::info!(connection.id = %connection_id, lifecycle = %item.lifecycle_event, "Graph lifecycle notification");
        // Notifications may have been lost (missed) or the subscription is gone
        // (subscriptionRemoved): only a full resync is sure to repair that.
        let full = matches!(
            item.lifecycle_event.as_str(),
            "missed" | "subscriptionRemoved"
        );
        notices.insert(
            connection_id,
            ChangeNotice {
                connection_id: connection_id.to_string(),
                provider: WireProvider::Microsoft as i32,
                reason: NoticeReason::Lifecycle as i32,
                channel_id: item.subscription_id.clone(),
                message_number: 0,
                resource_state: item.lifecycle_event.clone(),
                received_at_ms: now_ms(),
                full_resync: full,
                ..ChangeNotice::default()
            },
        );
    }
    publish_all(&state, notices).await
}
