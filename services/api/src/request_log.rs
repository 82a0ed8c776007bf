//! The root span of every request, which every log line of the request carries. Its
//! target is the path and the query string with each value redacted unless the
//! parameter is known to be harmless: OAuth `code` and `state`, agent tokens in `?token=`
//! and whatever a client adds tomorrow never reach a log. Headers are not recorded.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// Query parameters whose values are logged as they are; every other value is replaced.
const HARMLESS: &[&str] = &[
    "specialistId",
    "from",
    "to",
    "duration",
    "week",
    "force",
    "error",
];

const REDACTED: &str = "REDACTED";

/// `path?query` with every value outside `HARMLESS` replaced by `REDACTED`.
pub fn redacted_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len() + query.len() + 1);
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded: String = url::form_urlencoded::parse(name.as_bytes())
            .map(|(k, _)| k.into_owned())
            .next()
            .unwrap_or_default();
        out.push_str(name);
        if pair.contains('=') {
            out.push('=');
            if HARMLESS.contains(&decoded.as_str()) {
                out.push_str(value);
            } else {
                out.push_str(REDACTED);
            }
        }
    }
    out
}

/// `TracingLogger`'s root span, built from what may be logged only.
pub struct RedactingRootSpan;

impl RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %redacted_target(request.path(), request.query_string()),
            http.status_code = Empty,
            otel.kind = "server",
            otel.status_code = Empty,
            request_id = %request_id,
            exception.message = Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(res) => (
                res.status(),
                res.response().error().map(ToString::to_string),
            ),
            Err(e) => (e.as_response_error().status_code(), Some(e.to_string())),
        };
        span.record("http.status_code", status.as_u16());
        span.record(
            "otel.status_code",
            if status.is_server_error() {
                "ERROR"
            } else {
                "OK"
            },
        );
        // The message only (as the client saw it); causes are logged where they arise.
        if let Some(message) = error {
            span.record("exception.message", message.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_query_are_redacted_and_harmless_parameters_kept() {
        assert_eq!(
            redacted_target(
                "/api/integrations/google/callback",
                "code=4%2F0Ab-secret&state=eyJzaWduZWQ&scope=x"
            ),
            "/api/integrations/google/callback?code=REDACTED&state=REDACTED&scope=REDACTED"
        );
        assert_eq!(
            redacted_target("/agent/schedule", "week=2026-03-02&token=eyJhbGciOi.x.y"),
            "/agent/schedule?week=2026-03-02&token=REDACTED"
        );
        assert_eq!(
            redacted_target("/api/availability", "specialistId=abc&duration=60"),
            "/api/availability?specialistId=abc&duration=60"
        );
        assert_eq!(redacted_target("/healthz", ""), "/healthz");
        assert_eq!(
            redacted_target("/x", "flag&%74oken=secret"),
            "/x?flag&%74oken=REDACTED"
        );
    }
}
