//! The sandbox's error answers, in Graph's shape (`{"error":{"code","message","innerError"}}`)
//! and in the identity platform's OAuth shape (`{"error","error_description","error_codes"}`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use chrono::{SecondsFormat, Utc};
use serde_json::json;

/// How an expired or invalid delta token is answered. Graph was seen answering each:
/// 410 `SyncStateNotFound`, 410 `resyncRequired` (the delta-query docs' code), and a
/// 400 with `SyncStateNotFound` ("a 40X-series error"); a client must resync on all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeltaExpiry {
    #[default]
    Gone,
    GoneResyncRequired,
    BadRequest,
}

/// An error as Microsoft Graph answers it. Tests may match on `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Seconds for the `Retry-After` header (429 / 503 only).
    pub retry_after: Option<u64>,
}

impl GraphError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn item_not_found() -> Self {
        Self::new(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    pub fn unauthenticated(message: &str) -> Self {
        Self::new(401, "InvalidAuthenticationToken", message)
    }

    pub fn access_denied() -> Self {
        Self::new(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// An expired or invalid delta/skip token in the shape `shape` names.
    pub fn sync_state_not_found(shape: DeltaExpiry) -> Self {
        match shape {
            DeltaExpiry::Gone => Self::new(
                410,
                "SyncStateNotFound",
                "The sync state generation is not found; generation=1;[highest=2][2].",
            ),
            DeltaExpiry::GoneResyncRequired => Self::new(
                410,
                "resyncRequired",
                "The delta token is no longer valid, and the app must reset the sync state.",
            ),
            DeltaExpiry::BadRequest => Self::new(
                400,
                "SyncStateNotFound",
                "The sync state generation is not found; generation=1;[highest=2][2].",
            ),
        }
    }

    pub fn throttled(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                429,
                "TooManyRequests",
                "Application is over its MailboxConcurrency limit.",
            )
        }
    }

    pub fn unavailable(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(503, "ServiceNotAvailable", "Service Unavailable.")
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::bad_request("InvalidRequest", message)
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for GraphError {}

impl ResponseError for GraphError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header(("request-id", request_id.clone()))
            .insert_header(("client-request-id", request_id.clone()));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.status == 401 {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            ));
        }
        res.json(json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        }))
    }
}

/// An error of the v2.0 token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub aadsts: u32,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, aadsts: u32, text: &str) -> Self {
        Self {
            status,
            error,
            aadsts,
            description: format!("AADSTS{aadsts}: {text}"),
        }
    }

    pub fn invalid_grant(aadsts: u32, text: &str) -> Self {
        Self::new(400, "invalid_grant", aadsts, text)
    }

    pub fn expired_grant() -> Self {
        Self::invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{param}'."),
        )
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl std::error::Error for OAuthError {}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse {
        let trace = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        HttpResponse::build(self.status_code())
            .insert_header((header::CACHE_CONTROL, "no-store, no-cache"))
            .json(json!({
                "error": self.error,
                "error_description": format!(
                    "{}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}",
                    self.description,
                    now.format("%Y-%m-%d %H:%M:%SZ")
                ),
                "error_codes": [self.aadsts],
                "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                "trace_id": trace,
                "correlation_id": trace,
                "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.aadsts),
            }))
    }
}
