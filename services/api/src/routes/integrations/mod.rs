//! Integration endpoints: OAuth connect and callback, ICS connect, webhook setup and
//! status, and manual sync.

pub mod calendars;
pub mod callback;
pub mod connect;
pub mod ics;
pub mod setup_webhooks;
pub mod sync;

use crate::error::ApiError;
use calsync_core::Provider;

/// The provider in `/api/integrations/{provider}/…`: only OAuth providers have these
/// routes (ICS has its own); anything else is an unknown path.
pub fn oauth_provider(segment: &str) -> Result<Provider, ApiError> {
    match segment {
        "google" => Ok(Provider::Google),
        "microsoft" => Ok(Provider::Microsoft),
        _ => Err(ApiError::NotFound {
            what: "integration",
        }),
    }
}

/// Calendar id stored for OAuth connections: each connects the account's main calendar,
/// `primary` for both providers so the unique key reads the same.
pub use calsync_core::PRIMARY_CALENDAR;

/// The cookie that binds an OAuth `state` to the browser that started the connect: it
/// holds the state's nonce, and the callback accepts the state only alongside it.
pub const STATE_COOKIE: &str = "calsync_oauth_state";
/// Where the browser sends it: the connect and callback routes only.
const STATE_COOKIE_PATH: &str = "/api/integrations";

/// `Set-Cookie` for a new flow (`Some(nonce)`) or to clear it (`None`).
pub fn state_cookie(nonce: Option<&str>, secure: bool, max_age_secs: i64) -> String {
    let (value, age) = match nonce {
        Some(n) => (n, max_age_secs),
        None => ("", 0),
    };
    // Lax: the provider's redirect back is a top-level GET, which Lax lets through.
    let mut c = format!(
        "{STATE_COOKIE}={value}; Path={STATE_COOKIE_PATH}; Max-Age={age}; HttpOnly; SameSite=Lax"
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(req: &actix_web::HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}
