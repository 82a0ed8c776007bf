//! `GET /api/integrations/{google|microsoft}/callback?code=&state=`: the provider sends
//! the agent back here. Verifies the signed `state`, exchanges the code, stores the
//! tokens encrypted, awaits the webhook setup, then asks for the first (full) sync; a
//! webhook failure is recorded on the connection and reported, never fatal.

use super::{cookie_value, oauth_provider, state_cookie, PRIMARY_CALENDAR, STATE_COOKIE};
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::state::AppState;
use actix_web::http::header::SET_COOKIE;
use actix_web::{web, HttpRequest, HttpResponse};
use calsync_connections::error_chain;
use calsync_core::time::rfc3339_utc;
use calsync_core::Provider;
use calsync_db::connections::{self, NewConnection};
use calsync_db::{oauth_states, specialists, DbError};
use calsync_proto::v1::NoticeReason;
use calsync_providers::{ProviderError, TokenSet};
use chrono::Utc;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The `webhook` object of the callback answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReport {
    /// `created` or `failed`.
    #[schema(value_type = String, example = "created")]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackAnswer {
    connection_id: Uuid,
    webhook: WebhookReport,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// The provider's authorisation code.
    code: Option<String>,
    /// The signed state issued by `connect` (single-use, 10 minutes).
    state: Option<String>,
    /// Set by the provider when consent was denied.
    error: Option<String>,
}

/// Where the provider sends the agent back: stores the tokens, sets up the webhook and
/// starts the first sync.
#[utoipa::path(
    get,
    path = "/api/integrations/{provider}/callback",
    tag = "integrations",
    params(
        ("provider" = String, Path, description = "`google` or `microsoft`"),
        Query,
    ),
    responses(
        (status = 200, description = "Connected; a webhook failure is reported, never fatal", body = CallbackAnswer),
        (status = 400, description = "Consent denied, or a missing, tampered or expired state or code", body = ErrorBody),
        (status = 404, description = "Unknown provider or specialist", body = ErrorBody),
        (status = 429, description = "This client address asked too often", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a request passes again"))),
        (status = 502, description = "The provider failed", body = ErrorBody),
        (status = 503, description = "The provider is not configured, or the database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let provider = oauth_provider(&path)?;
    let now = Utc::now();
    if let Some(e) = &q.error {
        return Err(ApiError::bad_request(
            "consent_denied",
            format!(
                "the provider did not grant access: {}",
                e.chars().take(100).collect::<String>()
            ),
        ));
    }
    let signed = q
        .state
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("invalid_state", "state is missing"))?;
    let payload = state
        .state_signer
        .verify(signed, now)
        .map_err(|e| ApiError::bad_request("invalid_state", e.to_string()))?;
    if payload.provider != provider {
        return Err(ApiError::bad_request(
            "invalid_state",
            "state was issued for another provider",
        ));
    }
    // Bound to the browser that started the connect: a state carried to another
    // browser (a phished callback link) lacks the cookie.
    let bound = cookie_value(&req, STATE_COOKIE)
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(payload.nonce.as_bytes())));
    if !bound {
        return Err(ApiError::bad_request(
            "invalid_state",
            "state was not started by this browser; start the connect again",
        ));
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_parameter", "code is required"))?;
    let specialist_id = payload.specialist_id.0;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    // Single-use, spent before the code is: a replayed callback does nothing.
    if !oauth_states::spend(&mut conn, &payload.nonce, payload.expires_at, now).await? {
        return Err(ApiError::bad_request(
            "invalid_state",
            "state was already used; start the connect again",
        ));
    }
    specialists::get(&mut conn, specialist_id)
        .await
        .or_not_found("specialist")?;

    let tokens = exchange(&state, provider, code).await?;
    // Google sends no refresh token when consent was not given again: keep the stored one.
    let refresh_token_enc = match &tokens.refresh_token {
        Some(r) => Some(state.conns.cipher.encrypt(r.expose_secret())),
        None => connections::list(&mut conn, Some(specialist_id))
            .await?
            .into_iter()
            .find(|c| c.provider == provider && c.external_calendar_id == PRIMARY_CALENDAR)
            .and_then(|c| c.refresh_token_enc),
    };
    let connection = connections::upsert(
        &mut conn,
        &NewConnection {
            specialist_id,
            provider,
            external_calendar_id: PRIMARY_CALENDAR.to_owned(),
            account_email: None,
            access_token_enc: Some(
                state
                    .conns
                    .cipher
                    .encrypt(tokens.access_token.expose_secret()),
            ),
            refresh_token_enc,
            token_expires_at: Some(tokens.expires_at),
        },
    )
    .await?;
    // Read-your-writes for the caller: the notification would come a moment later.
    state.cache.invalidate(specialist_id);
    tracing::info!(connection.id = %connection.id, provider = provider.as_str(), "calendar connected");
    // The webhook first: a push during the first (full) sync then only causes one
    // more sync, and the worker never sees a connection without its webhook and opens
    // a second one.
    let opened = state
        .conns
        .open_webhooks(&connection, &tokens.access_token)
        .await?;
    // One report for the connection: the first failure, else the earliest expiry.
    let failed = opened.iter().find_map(|w| w.outcome.as_ref().err());
    let report = match failed {
        Some(e) => WebhookReport {
            status: "failed",
            expires_at: None,
            error: Some(error_chain(e)),
        },
        None => WebhookReport {
            status: "created",
            expires_at: opened
                .iter()
                .filter_map(|w| w.outcome.as_ref().ok().map(|o| o.expires_at))
                .min()
                .map(rfc3339_utc),
            error: None,
        },
    };
    state
        .conns
        .request_sync(
            &mut conn,
            connection.id,
            provider,
            NoticeReason::Initial,
            true,
        )
        .await?;

    Ok(HttpResponse::Ok()
        .insert_header((SET_COOKIE, state_cookie(None, state.secure_cookies, 0)))
        .json(CallbackAnswer {
            connection_id: connection.id,
            webhook: report,
        }))
}

async fn exchange(state: &AppState, provider: Provider, code: &str) -> Result<TokenSet, ApiError> {
    let app = state.conns.clients.oauth(provider)?;
    app.exchange_code(code).await.map_err(|e| match e {
        ProviderError::InvalidGrant { .. } | ProviderError::BadRequest { .. } => {
            ApiError::bad_request(
                "invalid_code",
                format!("the authorisation code was refused: {e}"),
            )
        }
        other => ApiError::Provider(other),
    })
}
