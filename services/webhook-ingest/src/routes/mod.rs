//! The webhook endpoints of ARCHITECTURE.md.

mod google;
mod microsoft;

use actix_web::web;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/google", web::post().to(google::receive))
        .route("/webhooks/microsoft", web::post().to(microsoft::receive))
        .route(
            "/webhooks/microsoft/lifecycle",
            web::post().to(microsoft::lifecycle),
        );
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
