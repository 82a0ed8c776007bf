//! `/_sandbox/*`: HTTP twins of the test handle, so the demo (`calsync up`) and shell
//! users can act as a coworker and inspect channels without OAuth. Not part of Google.

use super::state::{Fault, GoogleState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Set on coworker writes: the wall-clock time at which the write was committed and its
/// push deliveries were handed to the runtime (they start at once), for benchmarks that
/// time a change from its push.
const NOTIFIED_AT: &str = "X-Sandbox-Notified-At";

fn notified_now() -> (&'static str, String) {
    (
        NOTIFIED_AT,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

fn failure(e: &anyhow::Error) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(json!({"error": {"code": "sandbox_error", "message": e.to_string()}}))
}

async fn insert(
    st: web::Data<GoogleState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    match st.insert_event(&path, body.into_inner()) {
        Ok(id) => {
            let at = notified_now();
            HttpResponse::Ok()
                .insert_header(at)
                .json(st.event(&path, &id).unwrap_or(json!({"id": id})))
        }
        Err(e) => failure(&e),
    }
}

async fn patch(
    st: web::Data<GoogleState>,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> HttpResponse {
    let (cal, id) = path.into_inner();
    match st.patch_event(&cal, &id, body.into_inner()) {
        Ok(()) => {
            let at = notified_now();
            HttpResponse::Ok()
                .insert_header(at)
                .json(st.event(&cal, &id).unwrap_or(Value::Null))
        }
        Err(e) => failure(&e),
    }
}

async fn delete(st: web::Data<GoogleState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (cal, id) = path.into_inner();
    match st.delete_event(&cal, &id) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
struct NewCalendar {
    summary: String,
}

async fn add_calendar(
    st: web::Data<GoogleState>,
    path: web::Path<String>,
    body: web::Json<NewCalendar>,
) -> HttpResponse {
    let id = st.add_calendar(&path, &body.summary);
    HttpResponse::Ok().json(json!({"id": id, "summary": body.summary}))
}

async fn events(st: web::Data<GoogleState>, path: web::Path<String>) -> HttpResponse {
    let inner = st.lock();
    let items: Vec<Value> = inner
        .calendars
        .get(&path.to_ascii_lowercase())
        .map(|c| {
            c.events
                .values()
                .map(|e| Value::Object(e.body.clone()))
                .collect()
        })
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({"items": items}))
}

/// `events.list` calls made on a calendar so far (what a burst of pushes cost).
async fn list_calls(st: web::Data<GoogleState>, path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"calendar": *path, "listCalls": st.list_calls(&path)}))
}

async fn channels(st: web::Data<GoogleState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"items": st.channels()}))
}

async fn deliveries(st: web::Data<GoogleState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"items": st.deliveries()}))
}

/// Each channel address's answer counters (`{"items": [...]}`, like `/deliveries`).
async fn endpoints(st: web::Data<GoogleState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"items": st.endpoints()}))
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance(st: web::Data<GoogleState>, body: web::Json<Advance>) -> HttpResponse {
    st.advance_clock(Duration::from_secs(body.seconds));
    HttpResponse::Ok().json(json!({"now": st.now()}))
}

async fn invalidate(st: web::Data<GoogleState>) -> HttpResponse {
    st.invalidate_sync_tokens();
    HttpResponse::NoContent().finish()
}

async fn expire_tokens(st: web::Data<GoogleState>) -> HttpResponse {
    st.expire_access_tokens();
    HttpResponse::NoContent().finish()
}

async fn revoke(st: web::Data<GoogleState>, path: web::Path<String>) -> HttpResponse {
    st.revoke_refresh_tokens(&path);
    HttpResponse::NoContent().finish()
}

async fn fault(st: web::Data<GoogleState>, body: web::Json<Fault>) -> HttpResponse {
    st.inject(body.into_inner());
    HttpResponse::NoContent().finish()
}

pub(crate) fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sandbox")
            .route("/calendars/{cal}/events", web::post().to(insert))
            .route("/calendars/{cal}/events", web::get().to(events))
            .route("/calendars/{cal}/events/{id}", web::patch().to(patch))
            .route("/calendars/{cal}/events/{id}", web::delete().to(delete))
            .route("/calendars/{cal}/list-calls", web::get().to(list_calls))
            .route("/channels", web::get().to(channels))
            .route("/deliveries", web::get().to(deliveries))
            .route("/endpoints", web::get().to(endpoints))
            .route("/clock/advance", web::post().to(advance))
            .route("/sync-tokens/invalidate", web::post().to(invalidate))
            .route("/access-tokens/expire", web::post().to(expire_tokens))
            .route("/users/{user}/revoke", web::post().to(revoke))
            .route("/users/{user}/calendars", web::post().to(add_calendar))
            .route("/faults", web::post().to(fault)),
    );
}
