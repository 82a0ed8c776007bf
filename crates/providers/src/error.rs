//! `ProviderError`: one variant per decision a caller makes about a failed provider call,
//! and the parsing of Google's, Graph's and OAuth's error bodies that picks the variant.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// Google 403 reasons that mean "slow down", not "forbidden".
const GOOGLE_RATE_LIMIT_REASONS: [&str; 3] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
];
/// Graph error codes meaning the delta token is no longer usable (seen with 410 and 400).
const GRAPH_SYNC_STATE_CODES: [&str; 3] =
    ["syncstatenotfound", "resyncrequired", "syncstateinvalid"];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// 401: the access token is expired or revoked. Refresh once and retry.
    #[error("provider refused the access token (401)")]
    Unauthorized,
    /// The refresh token or code is dead: the specialist must connect again.
    #[error("authorisation is no longer valid: {description}")]
    InvalidGrant { description: String },
    /// Another OAuth error from a token endpoint (e.g. `invalid_client`: our configuration).
    #[error("OAuth error {error}: {description}")]
    OAuth { error: String, description: String },
    /// The sync token / delta link is no longer valid: run a full sync and replace the set.
    #[error("sync state expired; a full resync is required")]
    SyncStateExpired,
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("provider server error {status}")]
    Server {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("not found")]
    NotFound,
    /// 410 for a resource (not a sync token): the calendar or event is gone.
    #[error("gone")]
    Gone,
    /// 403 that is not a rate limit: missing scope, calendar not shared, …
    #[error("forbidden ({reason}): {message}")]
    Forbidden { reason: String, message: String },
    #[error("bad request: {message}")]
    BadRequest { message: String },
    /// 409: the resource exists already (Google `duplicate`: an event id we chose is
    /// taken, which after a retried insert means the first try went through).
    #[error("conflict ({reason}): {message}")]
    Conflict { reason: String, message: String },
    #[error("unexpected status {status}: {message}")]
    Http { status: u16, message: String },
    #[error("transport error")]
    Transport(#[from] reqwest::Error),
    #[error("cannot decode {context}")]
    Decode {
        context: &'static str,
        source: serde_json::Error,
    },
    /// The provider answered 2xx with something the protocol does not allow.
    #[error("unexpected response to {context}: {message}")]
    Protocol {
        context: &'static str,
        message: String,
    },
    /// A call that is not idempotent failed in a way that leaves unknown whether the
    /// provider acted on it (timeout, dropped connection, 5xx): reconcile, don't repeat.
    #[error("{0}; whether the provider acted on it is unknown")]
    OutcomeUnknown(Box<ProviderError>),
    /// A URL we were asked to follow or build is unacceptable (e.g. a delta link pointing
    /// to another origin than the configured Graph base: following it would leak the token).
    #[error("refused URL: {0}")]
    InvalidUrl(String),
}

impl ProviderError {
    /// Whether waiting and trying again can succeed (rate limits, 5xx, network failures).
    pub fn is_transient(&self) -> bool {
        match self {
            // Not retried by the client, but waiting and trying later (after reconciling)
            // can succeed.
            Self::OutcomeUnknown(_) => false,
            Self::RateLimited { .. } | Self::Server { .. } => true,
            Self::Transport(e) => e.is_timeout() || e.is_connect() || e.is_request(),
            _ => false,
        }
    }

    /// How long the provider asked us to wait, if it did.
    /// Whether the provider certainly did not act on the request: it throttled it, or
    /// the connection was never made.
    pub fn surely_not_acted_on(&self) -> bool {
        match self {
            Self::RateLimited { .. } => true,
            Self::Transport(e) => e.is_connect(),
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Which family of error body to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Google,
    Graph,
    /// A token endpoint (Google or Microsoft): `{"error": "...", "error_description": "..."}`.
    OAuth,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Google => "google",
            Api::Graph => "graph",
            Api::OAuth => "oauth",
        }
    }
}

/// `Retry-After` in seconds. The HTTP-date form is not used by Google or Graph; it is read
/// as absent, so the caller's own back-off applies.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// Picks the variant for a non-2xx answer.
pub fn classify(api: Api, status: StatusCode, headers: &HeaderMap, body: &str) -> ProviderError {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let retry_after = parse_retry_after(headers);
    let err = &json["error"];
    // OAuth endpoints put a string in `error`; Google and Graph APIs an object.
    if let Some(code) = err.as_str() {
        let description = json["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        return match code {
            "invalid_grant" => ProviderError::InvalidGrant { description },
            _ if status.is_server_error() => ProviderError::Server {
                status: status.as_u16(),
                retry_after,
            },
            _ if status == StatusCode::TOO_MANY_REQUESTS => {
                ProviderError::RateLimited { retry_after }
            }
            _ => ProviderError::OAuth {
                error: code.to_owned(),
                description,
            },
        };
    }
    let message = err["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| truncate(body));
    // Google: error.errors[].reason; Graph: error.code.
    let reasons: Vec<&str> = match api {
        Api::Google => err["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["reason"].as_str()).collect())
            .unwrap_or_default(),
        Api::Graph | Api::OAuth => err["code"].as_str().into_iter().collect(),
    };
    let has = |r: &str| reasons.iter().any(|x| x.eq_ignore_ascii_case(r));

    if api == Api::Graph && GRAPH_SYNC_STATE_CODES.iter().any(|c| has(c)) {
        return ProviderError::SyncStateExpired;
    }
    match status.as_u16() {
        401 => ProviderError::Unauthorized,
        429 => ProviderError::RateLimited { retry_after },
        403 if api == Api::Google && GOOGLE_RATE_LIMIT_REASONS.iter().any(|r| has(r)) => {
            ProviderError::RateLimited { retry_after }
        }
        403 => ProviderError::Forbidden {
            reason: reasons.first().copied().unwrap_or("forbidden").to_owned(),
            message,
        },
        404 => ProviderError::NotFound,
        // Google: `deleted` is a gone resource; `fullSyncRequired` (or no reason, on a
        // list) an invalid sync token. Graph answers 410 only for delta tokens.
        410 if api == Api::Google && has("deleted") => ProviderError::Gone,
        410 => ProviderError::SyncStateExpired,
        400 => ProviderError::BadRequest { message },
        409 => ProviderError::Conflict {
            reason: reasons.first().copied().unwrap_or("conflict").to_owned(),
            message,
        },
        s if status.is_server_error() => ProviderError::Server {
            status: s,
            retry_after,
        },
        s => ProviderError::Http { status: s, message },
    }
}

fn truncate(body: &str) -> String {
    body.chars().take(300).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn google_err(status: u16, reason: &str) -> ProviderError {
        let body = format!(
            r#"{{"error":{{"code":{status},"message":"m","errors":[{{"domain":"usageLimits","reason":"{reason}","message":"m"}}]}}}}"#
        );
        classify(
            Api::Google,
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            &body,
        )
    }

    #[test]
    fn google_403_rate_limit_reasons_are_rate_limits() {
        for r in GOOGLE_RATE_LIMIT_REASONS {
            assert!(
                matches!(google_err(403, r), ProviderError::RateLimited { .. }),
                "{r}"
            );
        }
    }

    #[test]
    fn other_google_403s_are_forbidden_not_retried() {
        let e = google_err(403, "forbiddenForNonOrganizer");
        assert!(
            matches!(&e, ProviderError::Forbidden { reason, .. } if reason == "forbiddenForNonOrganizer")
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn google_410_full_sync_required_means_resync_and_deleted_means_gone() {
        assert!(matches!(
            google_err(410, "fullSyncRequired"),
            ProviderError::SyncStateExpired
        ));
        assert!(matches!(google_err(410, "deleted"), ProviderError::Gone));
    }

    #[test]
    fn googles_documented_410_bodies_pick_resync_or_gone_by_reason() {
        let body = |domain: &str, reason: &str| {
            format!(
                r#"{{"error":{{"errors":[{{"domain":"{domain}","reason":"{reason}","message":"m","locationType":"parameter","location":"syncToken"}}],"code":410,"message":"m"}}}}"#
            )
        };
        let gone = |b: String| classify(Api::Google, StatusCode::GONE, &HeaderMap::new(), &b);
        assert!(matches!(
            gone(body("calendar", "fullSyncRequired")),
            ProviderError::SyncStateExpired
        ));
        assert!(matches!(
            gone(body("calendar", "updatedMinTooLongAgo")),
            ProviderError::SyncStateExpired
        ));
        assert!(matches!(
            gone(body("global", "deleted")),
            ProviderError::Gone
        ));
        // A 400 is never a resync, whatever its reason says.
        let bad = classify(
            Api::Google,
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &body("calendar", "fullSyncRequired"),
        );
        assert!(matches!(bad, ProviderError::BadRequest { .. }), "{bad:?}");
    }

    #[test]
    fn a_429_carries_its_retry_after() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = classify(Api::Graph, StatusCode::TOO_MANY_REQUESTS, &h, "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_transient());
    }

    #[test]
    fn graph_sync_state_not_found_means_resync_even_as_400() {
        let body = r#"{"error":{"code":"SyncStateNotFound","message":"The sync state generation is not found."}}"#;
        let e = classify(Api::Graph, StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(matches!(e, ProviderError::SyncStateExpired));
        let gone = classify(Api::Graph, StatusCode::GONE, &HeaderMap::new(), "{}");
        assert!(matches!(gone, ProviderError::SyncStateExpired));
    }

    #[test]
    fn oauth_invalid_grant_needs_reauthorisation() {
        let body = r#"{"error":"invalid_grant","error_description":"AADSTS70008: expired"}"#;
        let e = classify(Api::OAuth, StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(
            matches!(e, ProviderError::InvalidGrant { description } if description.starts_with("AADSTS70008"))
        );
    }

    #[test]
    fn a_401_asks_for_a_refresh_and_5xx_are_transient() {
        assert!(matches!(
            google_err(401, "authError"),
            ProviderError::Unauthorized
        ));
        assert!(matches!(
            google_err(503, "backendError"),
            ProviderError::Server { status: 503, .. }
        ));
        let html = classify(
            Api::Graph,
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            "<html>",
        );
        assert!(html.is_transient());
    }
}
