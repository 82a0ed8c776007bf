//! Every route of the api, mounted in one place.

pub mod agent;
pub mod appointments;
pub mod availability;
pub mod integrations;
pub mod specialists;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/specialists",
        web::post().to(specialists::post::handle),
    )
    .route(
        "/api/availability",
        web::get().to(availability::get::handle),
    )
    .route(
        "/api/availability/search",
        web::post().to(availability::search::handle),
    )
    .route(
        "/api/appointments",
        web::post().to(appointments::post::handle),
    )
    .route(
        "/api/appointments/mine",
        web::get().to(appointments::mine::handle),
    )
    .route("/agent/schedule", web::get().to(agent::schedule::handle))
    .route(
        "/api/integrations/ics",
        web::post().to(integrations::ics::handle),
    )
    .route(
        "/api/integrations/setup-webhooks",
        web::get().to(integrations::setup_webhooks::status),
    )
    .route(
        "/api/integrations/setup-webhooks",
        web::post().to(integrations::setup_webhooks::setup),
    )
    .route(
        "/api/integrations/sync",
        web::get().to(integrations::sync::handle),
    )
    .route(
        "/api/integrations/sync",
        web::post().to(integrations::sync::handle),
    )
    .route(
        "/api/integrations/{provider}/connect",
        web::get().to(integrations::connect::handle),
    )
    .route(
        "/api/integrations/{provider}/callback",
        web::get().to(integrations::callback::handle),
    );
}
