//! Every route of the api, in one table (`endpoints`): path, methods, and who calls it,
//! which decides the middleware: public endpoints are rate-limited per client address
//! and, like the portal's, open to the configured CORS origins. A known path asked with
//! a method it does not serve answers 405 in the JSON error shape. The table is also
//! what `tests/it/openapi.rs` checks the OpenAPI document against.

pub mod agent;
pub mod appointments;
pub mod availability;
pub mod integrations;
pub mod specialists;

use crate::limit;
use actix_cors::Cors;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder, Route};
use calsync_runtime::http::json_error;

/// Who calls an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Anyone, from a browser too: rate-limited per client address, CORS.
    Public,
    /// The agent's browser (agent JWT): CORS.
    Portal,
    /// The marketplace's servers (marketplace token).
    Marketplace,
    /// The operator (operator token).
    Operator,
}

/// One path and the handlers of its methods.
pub struct Endpoint {
    pub path: &'static str,
    pub audience: Audience,
    pub routes: Vec<(Method, Route)>,
}

impl Endpoint {
    fn new(path: &'static str, audience: Audience) -> Self {
        Self {
            path,
            audience,
            routes: Vec::new(),
        }
    }

    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        self.routes.push((method, route));
        self
    }

    fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler)
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, handler)
    }

    fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::DELETE, handler)
    }

    fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PUT, handler)
    }
}

/// Every endpoint of this crate (health, readiness and metrics are calsync-runtime's:
/// `HEALTH_ROUTES`).
pub fn endpoints() -> Vec<Endpoint> {
    use integrations::{calendars, callback, connect, ics, setup_webhooks, sync};
    use Audience::*;
    vec![
        Endpoint::new("/api/specialists", Operator).post(specialists::post::handle),
        Endpoint::new("/api/availability", Public).get(availability::get::handle),
        Endpoint::new("/api/availability/search", Public).post(availability::search::handle),
        Endpoint::new("/api/appointments", Marketplace).post(appointments::post::handle),
        Endpoint::new("/api/appointments/mine", Portal).get(appointments::mine::handle),
        Endpoint::new("/api/appointments/{id}", Marketplace).delete(appointments::delete::handle),
        Endpoint::new("/agent/schedule", Portal).get(agent::schedule::handle),
        Endpoint::new("/api/integrations/ics", Portal).post(ics::handle),
        Endpoint::new("/api/integrations/setup-webhooks", Operator)
            .get(setup_webhooks::status)
            .post(setup_webhooks::setup),
        Endpoint::new("/api/integrations/connections/{id}/calendars", Portal)
            .get(calendars::list)
            .put(calendars::choose),
        Endpoint::new("/api/integrations/sync", Operator)
            .get(sync::handle)
            .post(sync::handle),
        Endpoint::new("/api/integrations/{provider}/connect", Portal).get(connect::handle),
        Endpoint::new("/api/integrations/{provider}/callback", Public).get(callback::handle),
        Endpoint::new("/api/openapi.json", Public).get(crate::openapi::handle),
    ]
}

/// The routes `calsync_runtime::health::configure` registers on every service.
pub const HEALTH_ROUTES: &[(&str, &str)] =
    &[("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")];

/// Every `(method, path)` this service answers.
pub fn registered() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = endpoints()
        .iter()
        .flat_map(|e| {
            e.routes
                .iter()
                .map(|(m, _)| (m.as_str().to_owned(), e.path.to_owned()))
        })
        .collect();
    out.extend(
        HEALTH_ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
    );
    out
}

async fn method_not_allowed() -> HttpResponse {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not serve that method",
    )
}

/// CORS of the public and portal endpoints: exactly the configured origins (already
/// validated), the methods and headers browsers need, `Retry-After` readable.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER])
        .max_age(600)
        // Another origin gets no CORS headers (the browser then refuses), never an error:
        // server-side callers that send an Origin are not browsers.
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Mounts every endpoint; `cors_origins` empty: no CORS at all.
pub fn configure(cors_origins: Vec<String>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let cors_on = !cors_origins.is_empty();
        for e in endpoints() {
            let mut resource = web::resource(e.path).default_service(web::to(method_not_allowed));
            for (_, route) in e.routes {
                resource = resource.route(route);
            }
            match e.audience {
                // The outermost wrap runs first: CORS decorates a 429 too.
                Audience::Public => cfg.service(
                    resource
                        .wrap(from_fn(limit::middleware))
                        .wrap(Condition::new(cors_on, cors(&cors_origins))),
                ),
                Audience::Portal => {
                    cfg.service(resource.wrap(Condition::new(cors_on, cors(&cors_origins))))
                }
                Audience::Marketplace | Audience::Operator => cfg.service(resource),
            };
        }
    }
}

/// Checks `CALSYNC__API__CORS_ORIGINS` entries: each `scheme://host[:port]`, nothing else.
pub fn cors_origins(entries: &[String]) -> Result<Vec<String>, String> {
    entries
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(|e| {
            let url = url::Url::parse(e).map_err(|_| format!("{e:?} is not an origin"))?;
            let origin = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https") || origin != e.trim_end_matches('/') {
                return Err(format!(
                    "{e:?} is not an origin (scheme://host[:port], nothing after it)"
                ));
            }
            Ok(origin)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("api.cors_origins: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let ok = cors_origins(&[
            "https://shop.example.com".into(),
            " http://localhost:3000 ".into(),
            String::new(),
        ]);
        assert_eq!(
            ok,
            Ok(vec![
                "https://shop.example.com".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
        assert!(cors_origins(&["https://shop.example.com/path".into()]).is_err());
        assert!(cors_origins(&["*".into()]).is_err());
        assert!(cors_origins(&["ftp://x.example".into()]).is_err());
    }
}
