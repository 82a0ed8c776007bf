//! `POST /api/integrations/ics` `{"specialistId", "url"}` (operator or the agent's own
//! JWT): connects a published ICS feed and asks for its first sync. Whether the feed's
//! host may be reached (private addresses, `ics.allow_hosts`) is the fetcher's check: it
//! is asked here first (`IcsFetcher::precheck`), so a feed that would never be fetched
//! is refused with 422 and the fetcher's reason, and again on every fetch, because DNS
//! can change after this call.

use crate::auth::Caller;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::Provider;
use calsync_db::connections::{self, NewConnection};
use calsync_db::{specialists, DbError};
use calsync_proto::v1::NoticeReason;
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    #[schema(value_type = String, format = Uuid)]
    specialist_id: String,
    /// http, https or webcal; no credentials.
    #[schema(example = "webcal://calendar.example.com/agent.ics")]
    url: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionAnswer {
    connection_id: Uuid,
}

/// http, https or webcal, with a host and without credentials (they would be stored and
/// shown in status output in clear).
pub fn validate_feed_url(raw: &str) -> Result<Url, ApiError> {
    let invalid = |why: &str| ApiError::bad_request("invalid_url", format!("url {why}"));
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL_LEN {
        return Err(invalid(&format!("must be 1 to {MAX_URL_LEN} characters")));
    }
    let url = Url::parse(raw).map_err(|_| invalid("is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https" | "webcal") {
        return Err(invalid("must use http, https or webcal"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    Ok(url)
}

/// Connects a published ICS feed and asks for its first sync.
#[utoipa::path(
    post,
    path = "/api/integrations/ics",
    tag = "integrations",
    request_body = Body,
    security(("operator" = []), ("agent" = [])),
    responses(
        (status = 200, description = "Connected (or reconnected); the first sync is asked for", body = ConnectionAnswer),
        (status = 400, description = "A malformed id or URL", body = ErrorBody),
        (status = 401, description = "Neither the operator token nor an agent token", body = ErrorBody),
        (status = 403, description = "An agent acting for another specialist", body = ErrorBody),
        (status = 404, description = "No such specialist", body = ErrorBody),
        (status = 422, description = "`feed_refused`: the fetcher would never fetch this URL (e.g. a private or link-local address), with its reason", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let specialist_id = params::uuid(&body.specialist_id, "specialistId")?;
    let url = validate_feed_url(&body.url)?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let specialist = specialists::get(&mut conn, specialist_id)
        .await
        .or_not_found("specialist")?;
    caller.ensure_acts_for(&specialist.user_id)?;
    // A name lookup may take seconds: no pooled connection is held through it.
    drop(conn);
    state
        .ics
        .precheck(url.as_str())
        .await
        .map_err(ApiError::FeedRefused)?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let connection = connections::upsert(
        &mut conn,
        &NewConnection {
            specialist_id,
            provider: Provider::Ics,
            external_calendar_id: url.to_string(),
            account_email: None,
            access_token_enc: None,
            refresh_token_enc: None,
            token_expires_at: None,
        },
    )
    .await?;
    // Read-your-writes for the caller: the notification would come a moment later.
    state.cache.invalidate(specialist_id);
    state
        .conns
        .request_sync(
            &mut conn,
            connection.id,
            Provider::Ics,
            NoticeReason::Initial,
            true,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConnectionAnswer {
        connection_id: connection.id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_urls_must_be_web_urls_without_credentials() {
        assert!(validate_feed_url("https://calendar.example.com/a.ics").is_ok());
        assert!(validate_feed_url("webcal://calendar.example.com/a.ics").is_ok());
        assert!(validate_feed_url("ftp://example.com/a.ics").is_err());
        assert!(validate_feed_url("file:///etc/passwd").is_err());
        assert!(validate_feed_url("https://user:pw@example.com/a.ics").is_err());
        assert!(validate_feed_url("not a url").is_err());
        assert!(validate_feed_url("").is_err());
    }
}
