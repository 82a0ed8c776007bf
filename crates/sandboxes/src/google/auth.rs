//! What every Calendar API request goes through first: injected latency and faults,
//! the bearer token check (missing, unknown, expired → 401 `authError`), scope checks,
//! and resolving `primary` to the caller's own calendar.

use super::error::ApiError;
use super::state::GoogleState;
use actix_web::HttpRequest;

const SCOPE_BASE: &str = "https://www.googleapis.com/auth/";

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// The secondary calendars the user owns.
    pub owned: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Caller {
    fn allows(&self, access: Access) -> bool {
        let full = |s: &str| self.scopes.iter().any(|g| g == &format!("{SCOPE_BASE}{s}"));
        match access {
            Access::Write => full("calendar") || full("calendar.events"),
            Access::Read => {
                full("calendar")
                    || full("calendar.events")
                    || full("calendar.readonly")
                    || full("calendar.events.readonly")
            }
        }
    }

    /// The calendar a path id names, if the caller may use it: their primary calendar
    /// (`primary` or their email) or a secondary calendar they own. No calendar sharing
    /// is modelled: anything else is 404, as Google answers for a calendar one cannot see.
    pub fn calendar(&self, path_id: &str) -> Result<String, ApiError> {
        if path_id == "primary" || path_id.eq_ignore_ascii_case(&self.user) {
            Ok(self.user.clone())
        } else if let Some(id) = self.owned.iter().find(|c| c.eq_ignore_ascii_case(path_id)) {
            Ok(id.clone())
        } else {
            Err(ApiError::not_found())
        }
    }
}

/// Runs the checks every API handler starts with.
pub(crate) async fn prelude(
    req: &HttpRequest,
    st: &GoogleState,
    access: Access,
) -> Result<Caller, ApiError> {
    let latency = st.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = req.path().to_owned();
    let mut inner = st.lock();
    let fault = inner.faults.iter_mut().find(|f| {
        f.times > 0
            && f.only_path_contains
                .as_deref()
                .is_none_or(|part| path.contains(part))
    });
    if let Some(f) = fault {
        f.times -= 1;
        let err = ApiError::injected(f.status, &f.reason, f.retry_after);
        inner.faults.retain(|f| f.times > 0);
        return Err(err);
    }
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(ApiError::auth_error)?
        .trim();
    let now = inner.now();
    let t = inner
        .access_tokens
        .get(token)
        .filter(|t| t.expires > now)
        .ok_or_else(ApiError::auth_error)?;
    let user = t.user.clone();
    let caller = Caller {
        owned: inner.owned_calendars(&user),
        user,
        client_id: t.client_id.clone(),
        scopes: t.scopes.clone(),
    };
    if !caller.allows(access) {
        return Err(ApiError::insufficient_scope());
    }
    Ok(caller)
}

/// Scopes the consent page accepts.
pub(crate) fn is_known_scope(scope: &str) -> bool {
    matches!(scope, "openid" | "email" | "profile")
        || scope.strip_prefix(SCOPE_BASE).is_some_and(|s| {
            matches!(
                s,
                "calendar"
                    | "calendar.readonly"
                    | "calendar.events"
                    | "calendar.events.readonly"
                    | "calendar.freebusy"
                    | "userinfo.email"
                    | "userinfo.profile"
            )
        })
}
