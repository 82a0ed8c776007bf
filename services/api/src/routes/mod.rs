//! Every route of the api, mounted in one place.

pub mod appointments;
pub mod availability;
pub mod specialists;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/specialists", web::post().to(specialists::post::handle))
        .route("/api/availability", web::get().to(availability::get::handle))
        .route(
            "/api/availability/search",
            web::post().to(availability::search::handle),
        )
        .route("/api/appointments", web::post().to(appointments::post::handle))
        .route("/api/appointments/mine", web::get().to(appointments::mine::handle));
}
