//! HTTP plumbing the three actix-web services share: the JSON error body every error
//! uses, extractor configs that answer in that shape too, and serving until shutdown.

use actix_web::dev::Server;
use actix_web::error::{InternalError, JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tokio_util::sync::CancellationToken;

/// `{"error": {"code": "...", "message": "..."}}` with the given status.
pub fn json_error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({
        "error": {"code": code, "message": message.to_string()}
    }))
}

/// JSON bodies bounded to `limit` bytes; malformed or oversized bodies get our error shape.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(
        |err: JsonPayloadError, _req: &HttpRequest| {
            let (status, code) = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                }
                JsonPayloadError::ContentType => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                }
                _ => (StatusCode::BAD_REQUEST, "invalid_json"),
            };
            let resp = json_error(status, code, &err);
            InternalError::from_response(err, resp).into()
        },
    )
}

/// Query strings that do not parse get a 400 in our error shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        let resp = json_error(StatusCode::BAD_REQUEST, "invalid_query", &err);
        InternalError::from_response(err, resp).into()
    })
}

/// Raw bodies (webhooks) bounded to `limit` bytes.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// 404 for unknown paths, in our error shape.
pub async fn not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Serves until `shutdown` fires, then stops gracefully (in-flight requests finish).
pub async fn run_until(server: Server, shutdown: CancellationToken) -> std::io::Result<()> {
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    server.await
}
