//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every api route, generated from
//! the handlers' `#[utoipa::path]` attributes and the types they read and write. The
//! routes served by other crates (health, the schedule page) are described by the stubs
//! below. `tests/it/openapi.rs` fails when a registered route is missing from it.

use crate::routes;
use actix_web::HttpResponse;
use serde::Serialize;
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `slot_taken`, `slot_unavailable`, `unauthorized`, …
    #[schema(example = "slot_taken")]
    pub code: String,
    /// For people; may change.
    pub message: String,
}

/// A bookable slot, in the specialist's offset at that time.
#[derive(Debug, Serialize, ToSchema)]
pub struct Slot {
    #[schema(format = DateTime, example = "2026-03-02T10:00:00+01:00")]
    pub start: String,
    #[schema(format = DateTime, example = "2026-03-02T11:00:00+01:00")]
    pub end: String,
}

/// One specialist's free slots (serialised by `slots::SpecialistSlots`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityAnswer {
    pub specialist_id: Uuid,
    pub slots: Vec<Slot>,
    /// False when a calendar connection cannot be vouched for (see `reason`).
    pub calendars_fresh: bool,
    /// Why not fresh, e.g. `ics calendar has not completed its first sync`.
    pub reason: Option<String>,
}

/// The grid, full form (the default).
#[derive(Debug, Serialize, ToSchema)]
pub struct FullSearchAnswer {
    pub results: Vec<AvailabilityAnswer>,
}

/// The grid, compact form (`"format": "compact"`): a slot starts `starts[i]` minutes
/// after `from` and lasts `duration` minutes.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompactSearchAnswer {
    /// Always `compact`.
    #[schema(example = "compact")]
    pub format: String,
    /// The request's `from`, cut to the whole minute, in UTC.
    #[schema(format = DateTime, example = "2026-03-02T00:00:00Z")]
    pub from: String,
    /// Slot length in minutes.
    pub duration: i64,
    pub results: Vec<CompactResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactResult {
    pub specialist_id: Uuid,
    /// IANA zone of the specialist, for showing local times.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    pub calendars_fresh: bool,
    pub reason: Option<String>,
    /// Slot starts, minutes after the answer's `from`, ascending.
    #[schema(example = json!([600, 630, 660]))]
    pub starts: Vec<i64>,
}

/// The grid's answer, in the form the request asked for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SearchAnswer {
    Full(FullSearchAnswer),
    Compact(CompactSearchAnswer),
}

/// The OpenAPI document of this service.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json")),
)]
pub async fn handle() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
}

/// Served by `calsync_runtime::health`.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up: `{\"status\": \"ok\", \"service\": \"api\"}`")))]
#[expect(dead_code, reason = "documents a route that calsync-runtime serves")]
fn healthz() {}

/// Served by `calsync_runtime::health`.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "The database answers: `{\"ready\": true, \"checks\": {…}}`"),
        (status = 503, description = "The database does not answer; `checks` says which check failed"),
    ))]
#[expect(dead_code, reason = "documents a route that calsync-runtime serves")]
fn readyz() {}

/// Served by `calsync_runtime::health`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[expect(dead_code, reason = "documents a route that calsync-runtime serves")]
fn metrics() {}

/// The agent's week as an HTML page (`routes::agent::schedule`).
#[utoipa::path(get, path = "/agent/schedule", tag = "portal",
    params(
        ("week" = Option<String>, Query, format = Date, description = "A day of the week to show (YYYY-MM-DD); default this week"),
        ("token" = Option<String>, Query, description = "The agent's JWT, for a plain browser link (else the Authorization header)"),
    ),
    security(("agent" = [])),
    responses(
        (status = 200, description = "The schedule page", content_type = "text/html"),
        (status = 401, description = "No valid agent token", body = ErrorBody),
        (status = 403, description = "No specialist belongs to this login", body = ErrorBody),
    ))]
#[expect(
    dead_code,
    reason = "documents a route whose handler has no attribute of its own"
)]
fn schedule() {}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(what.to_owned());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "operator",
            bearer("`Authorization: Bearer` with CALSYNC__API__OPERATOR_TOKEN"),
        );
        components.add_security_scheme(
            "marketplace",
            bearer("`Authorization: Bearer` with CALSYNC__API__MARKETPLACE_TOKEN"),
        );
        let mut agent = Http::new(HttpAuthScheme::Bearer);
        agent.bearer_format = Some("JWT".to_owned());
        agent.description = Some(
            "The agent's HS256 JWT (`sub` = the specialist's userId), signed with CALSYNC__API__JWT_SECRET"
                .to_owned(),
        );
        components.add_security_scheme("agent", SecurityScheme::Http(agent));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "calsync api",
        description = "Availability for the marketplace, booking, the agent portal and the calendar integrations. Every error is `{\"error\": {\"code\", \"message\"}}`.",
    ),
    paths(
        routes::specialists::post::handle,
        routes::availability::get::handle,
        routes::availability::search::handle,
        routes::appointments::post::handle,
        routes::appointments::delete::handle,
        routes::appointments::mine::handle,
        schedule,
        routes::integrations::connect::handle,
        routes::integrations::callback::handle,
        routes::integrations::ics::handle,
        routes::integrations::setup_webhooks::status,
        routes::integrations::setup_webhooks::setup,
        routes::integrations::calendars::list,
        routes::integrations::calendars::choose,
        routes::integrations::sync::handle,
        handle,
        healthz,
        readyz,
        metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
    tags(
        (name = "availability", description = "Public: free slots of specialists"),
        (name = "booking", description = "The marketplace books and cancels"),
        (name = "portal", description = "The agent's own view"),
        (name = "integrations", description = "Connecting calendars; operator endpoints"),
        (name = "specialists", description = "The marketplace's specialists (operator)"),
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "meta", description = "This document"),
    ),
)]
pub struct ApiDoc;
