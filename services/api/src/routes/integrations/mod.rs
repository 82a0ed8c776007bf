//! Integration endpoints: OAuth connect and callback, ICS connect, webhook setup and
//! status, and manual sync.

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
pub const PRIMARY_CALENDAR: &str = "primary";
