//! Google-shaped API errors: `{"error":{"code","message","errors":[{domain,reason,message}]}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::fmt;

/// One error as the Calendar API reports it. Clients branch on `code` and `reason`,
/// so both are chosen to match what Google sends for the same mistake.
#[derive(Debug, Clone)]
pub(crate) struct ApiError(Box<Detail>);

#[derive(Debug, Clone)]
pub(crate) struct Detail {
    pub status: u16,
    pub domain: &'static str,
    pub reason: String,
    pub message: String,
    pub location: Option<(&'static str, String)>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: u16,
        domain: &'static str,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(Detail {
            status,
            domain,
            reason: reason.to_owned(),
            message: message.into(),
            location: None,
            retry_after: None,
        }))
    }

    pub fn at(mut self, location_type: &'static str, location: &str) -> Self {
        self.0.location = Some((location_type, location.to_owned()));
        self
    }

    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::new(400, "global", "invalid", message).at("parameter", param)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "global", "invalid", message)
    }

    pub fn required(message: impl Into<String>) -> Self {
        Self::new(400, "global", "required", message)
    }

    pub fn parse_error() -> Self {
        Self::new(400, "global", "parseError", "Parse Error")
    }

    pub fn time_range_empty() -> Self {
        Self::new(
            400,
            "calendar",
            "timeRangeEmpty",
            "The specified time range is empty.",
        )
    }

    pub fn not_found() -> Self {
        Self::new(404, "global", "notFound", "Not Found")
    }

    pub fn deleted() -> Self {
        Self::new(410, "global", "deleted", "Resource has been deleted")
    }

    pub fn duplicate() -> Self {
        Self::new(
            409,
            "global",
            "duplicate",
            "The requested identifier already exists.",
        )
    }

    /// As Google's error guide shows it: domain `calendar`, located at the `syncToken`.
    pub fn full_sync_required() -> Self {
        Self::new(
            410,
            "calendar",
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
        )
        .at("parameter", "syncToken")
    }

    pub fn auth_error() -> Self {
        Self::new(401, "global", "authError", "Invalid Credentials").at("header", "Authorization")
    }

    pub fn insufficient_scope() -> Self {
        Self::new(
            403,
            "global",
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )
    }

    /// The error an injected fault produces: the domain follows the reason as Google's does.
    pub fn injected(status: u16, reason: &str, retry_after: Option<u64>) -> Self {
        let (domain, message) = match reason {
            "rateLimitExceeded" => ("usageLimits", "Rate Limit Exceeded"),
            "userRateLimitExceeded" => ("usageLimits", "User Rate Limit Exceeded"),
            "quotaExceeded" => ("usageLimits", "Calendar usage limits exceeded."),
            "backendError" => ("global", "Backend Error"),
            _ => ("global", "Injected sandbox fault"),
        };
        let mut e = Self::new(status, domain, reason, message);
        e.0.retry_after = retry_after;
        e
    }

    pub fn body(&self) -> serde_json::Value {
        let d = &self.0;
        let mut item = json!({
            "domain": d.domain,
            "reason": d.reason,
            "message": d.message,
        });
        if let Some((kind, loc)) = &d.location {
            item["locationType"] = json!(kind);
            item["location"] = json!(loc);
        }
        json!({"error": {"code": d.status, "message": d.message, "errors": [item]}})
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.0.status, self.0.reason, self.0.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(secs) = self.0.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        }
        if self.0.status == 401 {
            resp.insert_header((
                "WWW-Authenticate",
                "Bearer realm=\"https://accounts.google.com/\"",
            ));
        }
        resp.json(self.body())
    }
}

/// Parses a JSON request body the way Google does: anything that is not a JSON object
/// is a `parseError`.
pub(crate) fn json_object(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(ApiError::parse_error()),
    }
}
