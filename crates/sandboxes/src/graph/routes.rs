//! The sandbox's routing table, the fault-injection middleware (429, 503, latency) on
//! the Graph API, and Graph-shaped answers to bodies and paths it cannot read.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::GraphError;
use super::state::{lock, Shared};
use super::{admin, delta, events_api, oauth, subscriptions};

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().error_handler(|err, _| {
        GraphError::bad_request(
            "BadRequest",
            format!("Unable to read JSON request payload: {err}"),
        )
        .into()
    })
}

/// Applies injected faults before the request reaches a Graph handler.
async fn faults(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(shared) = req.app_data::<web::Data<Shared>>().cloned() {
        let (latency, fault) = {
            let mut f = lock(&shared.faults);
            let fault = if f.throttle > 0 {
                f.throttle -= 1;
                Some(GraphError::throttled(f.throttle_retry_after))
            } else if f.unavailable > 0 {
                f.unavailable -= 1;
                Some(GraphError::unavailable(f.unavailable_retry_after))
            } else {
                None
            };
            (f.latency, fault)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(e) = fault {
            return Err(e.into());
        }
    }
    next.call(req).await
}

async fn unknown_segment(req: HttpRequest) -> Result<HttpResponse, GraphError> {
    let path = req.path().trim_start_matches("/v1.0/");
    let segment = path.split('/').next().unwrap_or(path);
    Err(GraphError::bad_request(
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/{tenant}/oauth2/v2.0/authorize",
        web::get().to(oauth::authorize),
    )
    .route(
        "/{tenant}/oauth2/v2.0/token",
        web::post().to(oauth::token_endpoint),
    )
    .configure(admin::config)
    .service(
        web::scope("/v1.0")
            .wrap(from_fn(faults))
            .route("/me", web::get().to(events_api::me))
            .route("/me/calendars", web::get().to(events_api::calendars))
            .route("/me/calendar", web::get().to(events_api::default_calendar))
            .route(
                "/me/calendarView/delta",
                web::get().to(delta::delta_default),
            )
            .route(
                "/me/calendars/{cal}/calendarView/delta",
                web::get().to(delta::delta_calendar),
            )
            .route("/me/events", web::post().to(events_api::create_default))
            .route("/me/events/{id}", web::get().to(events_api::get_default))
            .route(
                "/me/events/{id}",
                web::patch().to(events_api::update_default),
            )
            .route(
                "/me/events/{id}",
                web::delete().to(events_api::delete_default),
            )
            .route(
                "/me/calendars/{cal}/events",
                web::post().to(events_api::create_in),
            )
            .route(
                "/me/calendars/{cal}/events/{id}",
                web::get().to(events_api::get_in),
            )
            .route(
                "/me/calendars/{cal}/events/{id}",
                web::patch().to(events_api::update_in),
            )
            .route(
                "/me/calendars/{cal}/events/{id}",
                web::delete().to(events_api::delete_in),
            )
            .route("/subscriptions", web::post().to(subscriptions::create))
            .route("/subscriptions", web::get().to(subscriptions::list))
            .route("/subscriptions/{id}", web::get().to(subscriptions::get))
            .route("/subscriptions/{id}", web::patch().to(subscriptions::patch))
            .route(
                "/subscriptions/{id}",
                web::delete().to(subscriptions::delete),
            )
            .route(
                "/subscriptions/{id}/reauthorize",
                web::post().to(subscriptions::reauthorize),
            )
            .default_service(web::to(unknown_segment)),
    );
}
