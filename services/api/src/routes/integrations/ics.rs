//! `POST /api/integrations/ics` `{"specialistId", "url"}` (operator or the agent's own
//! JWT): connects a published ICS feed and asks for its first sync. Whether the feed's
//! host may be reached (private addresses, `ics.allow_hosts`) is the fetcher's check,
//! made on every fetch because DNS can change after this call.

use crate::auth::Caller;
use crate::error::{ApiError, OrNotFound};
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::Provider;
use calsync_db::connections::{self, NewConnection};
use calsync_db::{specialists, DbError};
use calsync_proto::v1::NoticeReason;
use serde::Deserialize;
use url::Url;

const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    specialist_id: String,
    url: String,
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
    Ok(HttpResponse::Ok().json(serde_json::json!({ "connectionId": connection.id })))
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
