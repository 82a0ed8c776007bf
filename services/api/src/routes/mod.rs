//! Every route of the api, mounted in one place. A known path asked with a method it
//! does not serve answers 405 in the JSON error shape.

pub mod agent;
pub mod appointments;
pub mod availability;
pub mod integrations;
pub mod specialists;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use calsync_runtime::http::json_error;

async fn method_not_allowed() -> HttpResponse {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not serve that method",
    )
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    use integrations::{callback, connect, ics, setup_webhooks, sync};
    cfg.service(resource("/api/specialists").route(web::post().to(specialists::post::handle)))
        .service(resource("/api/availability").route(web::get().to(availability::get::handle)))
        .service(
            resource("/api/availability/search")
                .route(web::post().to(availability::search::handle)),
        )
        .service(resource("/api/appointments").route(web::post().to(appointments::post::handle)))
        .service(
            resource("/api/appointments/mine").route(web::get().to(appointments::mine::handle)),
        )
        .service(resource("/agent/schedule").route(web::get().to(agent::schedule::handle)))
        .service(resource("/api/integrations/ics").route(web::post().to(ics::handle)))
        .service(
            resource("/api/integrations/setup-webhooks")
                .route(web::get().to(setup_webhooks::status))
                .route(web::post().to(setup_webhooks::setup)),
        )
        .service(
            resource("/api/integrations/sync")
                .route(web::get().to(sync::handle))
                .route(web::post().to(sync::handle)),
        )
        .service(
            resource("/api/integrations/{provider}/connect").route(web::get().to(connect::handle)),
        )
        .service(
            resource("/api/integrations/{provider}/callback")
                .route(web::get().to(callback::handle)),
        );
}
