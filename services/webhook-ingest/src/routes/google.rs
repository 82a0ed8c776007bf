//! `POST /webhooks/google`: a Google Calendar push notification (empty body, `X-Goog-*`
//! headers). The channel token names the connection and is verified by HMAC.

use super::now_ms;
use crate::state::Outcome;
use crate::{IngestError, IngestState};
use actix_web::{web, HttpRequest, HttpResponse};
use calsync_core::Provider;
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider as WireProvider};

fn header<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, IngestError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(IngestError::BadHeader(name))
}

pub async fn receive(
    req: HttpRequest,
    state: web::Data<IngestState>,
) -> Result<HttpResponse, IngestError> {
    let channel_id = header(&req, "X-Goog-Channel-ID")?;
    // A push without a channel token is unauthenticated, like one with a bad token.
    let token = header(&req, "X-Goog-Channel-Token").map_err(|_| {
        state.count(Provider::Google, Outcome::Forged);
        IngestError::Forged
    })?;
    let resource_state = header(&req, "X-Goog-Resource-State")?;
    let message_number: u64 = match req.headers().get("X-Goog-Message-Number") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(IngestError::BadHeader("X-Goog-Message-Number"))?,
        None => 0,
    };
    let connection_id = state.signer.verify(token).map_err(|e| {
        tracing::warn!(channel.id = channel_id, error.message = %e, "refused a Google push");
        state.count(Provider::Google, Outcome::Forged);
        IngestError::Forged
    })?;
    let span = tracing::info_span!("google_push", connection.id = %connection_id, channel.id = channel_id, message_number, resource_state);
    let _guard = span.enter();

    if resource_state == "sync" {
        // The handshake message of a new channel: it announces no change.
        state.count(Provider::Google, Outcome::Sync);
        return Ok(HttpResponse::Ok().finish());
    }
    if !matches!(resource_state, "exists" | "not_exists") {
        return Err(IngestError::BadHeader("X-Goog-Resource-State"));
    }
    let notice = ChangeNotice {
        connection_id: connection_id.to_string(),
        provider: WireProvider::Google as i32,
        reason: NoticeReason::Webhook as i32,
        channel_id: channel_id.to_owned(),
        message_number,
        resource_state: resource_state.to_owned(),
        received_at_ms: now_ms(),
        full_resync: false,
        ..ChangeNotice::default()
    };
    let (traceparent, tracestate) = calsync_runtime::telemetry::trace_context();
    let notice = ChangeNotice {
        traceparent,
        tracestate,
        ..notice
    };
    drop(_guard);
    state.notices.publish(notice).await.inspect_err(|_| {
        state.count(Provider::Google, Outcome::Failed);
    })?;
    state.count(Provider::Google, Outcome::Queued);
    Ok(HttpResponse::Ok().finish())
}
