//! `/_sandbox/...`: unauthenticated admin endpoints for demos and scripts (coworker
//! actions, lifecycle events, the clock, faults, what was delivered and how each
//! notification endpoint answers). Not part of Graph.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::error::{DeltaExpiry, GraphError};
use super::notify::DeliveryKind;
use super::state::{GraphState, Shared};
use super::tz::format_instant;

fn handle(shared: web::Data<Shared>) -> GraphState {
    GraphState {
        shared: shared.into_inner(),
    }
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sandbox")
            .route("/users/{upn}/events", web::post().to(create_event))
            .route("/users/{upn}/events/{id}", web::get().to(get_event))
            .route("/users/{upn}/events/{id}", web::patch().to(update_event))
            .route("/users/{upn}/events/{id}", web::delete().to(delete_event))
            .route("/subscriptions", web::get().to(subscriptions))
            .route(
                "/subscriptions/{id}/lifecycle/{event}",
                web::post().to(lifecycle),
            )
            .route("/deliveries", web::get().to(deliveries))
            .route("/endpoints", web::get().to(endpoints))
            .route("/clock/advance", web::post().to(advance_clock))
            .route("/faults/throttle", web::post().to(throttle))
            .route("/delta/invalidate", web::post().to(invalidate_delta))
            .route("/delta/expiry", web::post().to(delta_expiry)),
    );
}

async fn create_event(
    shared: web::Data<Shared>,
    upn: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    let id = handle(shared).create_event(&upn, body.into_inner())?;
    Ok(HttpResponse::Created().json(json!({ "id": id })))
}

async fn get_event(
    shared: web::Data<Shared>,
    p: web::Path<(String, String)>,
) -> Result<HttpResponse, GraphError> {
    handle(shared)
        .get_event(&p.0, &p.1)
        .map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(GraphError::item_not_found)
}

async fn update_event(
    shared: web::Data<Shared>,
    p: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, GraphError> {
    handle(shared).update_event(&p.0, &p.1, body.into_inner())?;
    Ok(HttpResponse::Ok().json(json!({ "id": p.1 })))
}

async fn delete_event(
    shared: web::Data<Shared>,
    p: web::Path<(String, String)>,
) -> Result<HttpResponse, GraphError> {
    handle(shared).delete_event(&p.0, &p.1)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn subscriptions(shared: web::Data<Shared>) -> HttpResponse {
    let value: Vec<Value> = handle(shared.clone())
        .subscriptions()
        .iter()
        .map(|s| s.to_json(&shared))
        .collect();
    HttpResponse::Ok().json(json!({ "value": value }))
}

async fn lifecycle(
    shared: web::Data<Shared>,
    p: web::Path<(String, String)>,
) -> Result<HttpResponse, GraphError> {
    let status = handle(shared).send_lifecycle(&p.0, &p.1).await?;
    Ok(HttpResponse::Ok().json(json!({ "endpointStatus": status })))
}

async fn deliveries(shared: web::Data<Shared>) -> HttpResponse {
    let value: Vec<Value> = handle(shared)
        .deliveries()
        .iter()
        .map(|d| {
            json!({
                "kind": if d.kind == DeliveryKind::Change { "change" } else { "lifecycle" },
                "url": d.url,
                "attempt": d.attempt,
                "status": d.status,
                "error": d.error,
                "at": format_instant(d.at),
                "elapsedMs": d.elapsed.as_millis() as u64,
                "body": d.body,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "value": value }))
}

/// Each notification URL's answer counters and state (normal, slow, dropped).
async fn endpoints(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "value": handle(shared).endpoints() }))
}

async fn advance_clock(
    shared: web::Data<Shared>,
    q: web::Query<HashMap<String, u64>>,
) -> HttpResponse {
    let secs = q.get("seconds").copied().unwrap_or(0);
    let state = handle(shared);
    state.advance_clock(Duration::from_secs(secs));
    HttpResponse::Ok().json(json!({ "now": format_instant(state.now()) }))
}

async fn throttle(shared: web::Data<Shared>, q: web::Query<HashMap<String, u64>>) -> HttpResponse {
    let times = u32::try_from(q.get("times").copied().unwrap_or(1)).unwrap_or(u32::MAX);
    handle(shared).inject_throttle(times, q.get("retryAfter").copied().unwrap_or(1));
    HttpResponse::NoContent().finish()
}

async fn invalidate_delta(shared: web::Data<Shared>) -> HttpResponse {
    handle(shared).invalidate_delta_tokens();
    HttpResponse::NoContent().finish()
}

/// `{"shape": "gone" | "goneResyncRequired" | "badRequest"}`: how expired delta tokens
/// are answered from now on.
#[derive(serde::Deserialize)]
struct ExpiryBody {
    shape: DeltaExpiry,
}

async fn delta_expiry(shared: web::Data<Shared>, body: web::Json<ExpiryBody>) -> HttpResponse {
    handle(shared).set_delta_expiry(body.shape);
    HttpResponse::NoContent().finish()
}
