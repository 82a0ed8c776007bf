//! Every way a webhook request can fail, mapped to a status in one place. Provider
//! semantics matter here: Google and Graph retry 5xx, so only broker trouble (where a
//! retry helps) is a 5xx; a forged or malformed request is a 4xx and is not retried.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use calsync_runtime::http::json_error;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("missing or invalid header {0}")]
    BadHeader(&'static str),
    #[error("channel token or clientState is not valid")]
    Forged,
    #[error("malformed notification body: {0}")]
    BadBody(String),
    #[error("could not queue the notification: {0}")]
    Broker(#[from] calsync_mq::MqError),
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::BadHeader(_) | IngestError::BadBody(_) => StatusCode::BAD_REQUEST,
            IngestError::Forged => StatusCode::UNAUTHORIZED,
            IngestError::Broker(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            IngestError::BadHeader(_) => "bad_header",
            IngestError::Forged => "invalid_token",
            IngestError::BadBody(_) => "bad_body",
            IngestError::Broker(e) => {
                tracing::error!(error.message = %e, "broker refused a notification; answering 503");
                "broker_unavailable"
            }
        };
        json_error(self.status_code(), code, self)
    }
}
