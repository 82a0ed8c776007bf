//! `ApiError`: every way a request can fail, mapped to a status and the JSON error body
//! `{"error":{"code","message"}}` in this one place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use calsync_connections::{CalendarError, ConnectionError};
use calsync_core::{AvailabilityError, Provider};
use calsync_db::{error::APPOINTMENTS_NO_OVERLAP, DbError};
use calsync_providers::ics::IcsFetchError;
use calsync_providers::ProviderError;
use calsync_runtime::http::json_error;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A parameter or body field is missing or malformed (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The time asked for overlaps a confirmed appointment or a blocking external event.
    #[error("the requested time is no longer available")]
    SlotTaken,
    /// The time asked for is no slot that availability offers now (working hours, grid,
    /// notice, buffers, the past, the stale policy), and overlaps nothing (422).
    #[error("the requested time is not a slot that availability offers now")]
    SlotUnavailable,
    /// A well-formed request the current state refuses (422), with a stable code.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// The resource is busy or in a state that forbids the request now (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The `Idempotency-Key` was first used with another request (422).
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// An ICS feed URL that the fetcher would never fetch (422), with the fetcher's reason.
    #[error("the feed cannot be fetched: {0}")]
    FeedRefused(#[source] IcsFetchError),
    /// The client address used up its allowance of the public endpoints (429).
    #[error("too many requests; retry in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// The OAuth app of this provider is not configured (no client id).
    #[error("{0} is not configured on this server")]
    ProviderNotConfigured(Provider),
    /// A provider call failed in a way the client cannot fix by changing the request.
    #[error("the calendar provider failed: {0}")]
    Provider(#[source] ProviderError),
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::SlotTaken => "slot_taken",
            Self::SlotUnavailable => "slot_unavailable",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::FeedRefused(_) => "feed_refused",
            Self::RateLimited { .. } => "rate_limited",
            Self::ProviderNotConfigured(_) => "provider_not_configured",
            Self::Provider(_) => "provider_error",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => Self::NotFound { what: "resource" },
            e if e.is_constraint(APPOINTMENTS_NO_OVERLAP) => Self::SlotTaken,
            e @ DbError::Unavailable(_) => Self::Unavailable(e),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<CalendarError> for ApiError {
    fn from(e: CalendarError) -> Self {
        let message = e.to_string();
        let (code, conflict) = match e {
            CalendarError::Connection(c) => return c.into(),
            CalendarError::Unsupported(_) => ("calendars_not_supported", false),
            CalendarError::WriteToRequired => ("write_to_required", false),
            CalendarError::UnknownCalendar(_) => ("unknown_calendar", false),
            CalendarError::NotWritable(_) => ("calendar_not_writable", false),
            CalendarError::NeedsReauth => ("needs_reauth", true),
            _ => ("calendar_choice_refused", false),
        };
        if conflict {
            Self::Conflict { code, message }
        } else {
            Self::Unprocessable { code, message }
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Busy => Self::Conflict {
                code: "connection_busy",
                message: "a sync holds the connection; try again in a few seconds".into(),
            },
            ConnectionError::Reauth(_) => Self::Conflict {
                code: "needs_reauth",
                message: "the connection needs re-authorisation by the agent".into(),
            },
            ConnectionError::NotConfigured(p) => Self::ProviderNotConfigured(p),
            ConnectionError::Provider(p) => Self::Provider(p),
            ConnectionError::Db(d) => d.into(),
            other => Self::Internal(other.into()),
        }
    }
}

/// The one mapping of "the row is not there" to what the client is told; every other
/// storage error keeps its usual status.
pub trait OrNotFound<T> {
    /// Not found → 404 naming `what`.
    fn or_not_found(self, what: &'static str) -> Result<T, ApiError>;
    /// Not found → 403 with `message` (a login whose specialist does not exist).
    fn or_forbidden(self, message: &'static str) -> Result<T, ApiError>;
}

impl<T> OrNotFound<T> for Result<T, DbError> {
    fn or_not_found(self, what: &'static str) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            DbError::NotFound => ApiError::NotFound { what },
            other => other.into(),
        })
    }

    fn or_forbidden(self, message: &'static str) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            DbError::NotFound => ApiError::Forbidden(message),
            other => other.into(),
        })
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<AvailabilityError> for ApiError {
    fn from(e: AvailabilityError) -> Self {
        let code = match e {
            AvailabilityError::WindowTooLong { .. } => "window_too_long",
            AvailabilityError::EmptyWindow { .. } => "empty_window",
            AvailabilityError::InvalidDuration { .. } => "invalid_duration",
            _ => "invalid_query",
        };
        Self::bad_request(code, e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::SlotTaken | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::SlotUnavailable | Self::IdempotencyKeyReused | Self::FeedRefused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ProviderNotConfigured(_) | Self::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Provider(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The chain goes to the log only: a client learns nothing about internals.
            tracing::error!(error.message = %self, error.cause_chain = ?cause_chain(self), "request failed");
        }
        let message = match self {
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let mut resp = json_error(status, self.code(), message);
        use actix_web::http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
        match self {
            Self::Unauthorized(_) => {
                resp.headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after_secs } => {
                resp.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        resp
    }
}

fn cause_chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlap_constraint_becomes_a_409_slot_taken() {
        let e: ApiError = DbError::Conflict {
            constraint: APPOINTMENTS_NO_OVERLAP.into(),
        }
        .into();
        assert_eq!(e.status_code(), StatusCode::CONFLICT);
        assert_eq!(e.code(), "slot_taken");
    }

    #[test]
    fn storage_errors_map_to_404_and_503() {
        assert_eq!(
            ApiError::from(DbError::NotFound).status_code(),
            StatusCode::NOT_FOUND
        );
        let down = ApiError::from(DbError::Unavailable("pool timeout".into()));
        assert_eq!(down.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn booking_refusals_and_the_rate_limit_have_their_statuses_and_headers() {
        assert_eq!(
            ApiError::SlotUnavailable.status_code(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(ApiError::SlotUnavailable.code(), "slot_unavailable");
        assert_eq!(
            ApiError::IdempotencyKeyReused.code(),
            "idempotency_key_reused"
        );
        let limited = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .error_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            limited.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"7"[..])
        );
    }

    #[test]
    fn an_internal_error_hides_its_cause_from_the_client() {
        let resp = ApiError::Internal(anyhow::anyhow!("secret detail")).error_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
