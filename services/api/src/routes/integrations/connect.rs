//! `GET /api/integrations/{google|microsoft}/connect?specialistId=` (operator token or the
//! agent's own JWT): redirects to the provider's consent page with a signed `state` that
//! expires in ten minutes and names the specialist and provider.

use super::{oauth_provider, state_cookie};
use crate::auth::Caller;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::state::AppState;
use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::{web, HttpResponse};
use calsync_core::SpecialistId;
use calsync_db::{specialists, DbError};
use calsync_providers::security::StatePayload;
use chrono::{Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

pub const STATE_TTL: Duration = Duration::minutes(10);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Query {
    #[param(required = true, value_type = String, format = Uuid)]
    specialist_id: Option<String>,
}

/// Sends the agent to the provider's consent page.
#[utoipa::path(
    get,
    path = "/api/integrations/{provider}/connect",
    tag = "integrations",
    params(
        ("provider" = String, Path, description = "`google` or `microsoft`"),
        Query,
        ("token" = Option<String>, Query, description = "The agent's JWT, for a plain browser link (else the Authorization header)"),
    ),
    security(("operator" = []), ("agent" = [])),
    responses(
        (status = 302, description = "To the consent page, with a signed state that expires in 10 minutes",
            headers(("Location" = String, description = "The provider's consent page"))),
        (status = 400, description = "specialistId is missing or not a UUID", body = ErrorBody),
        (status = 401, description = "Neither the operator token nor an agent token", body = ErrorBody),
        (status = 403, description = "An agent acting for another specialist", body = ErrorBody),
        (status = 404, description = "Unknown provider or specialist", body = ErrorBody),
        (status = 503, description = "The provider is not configured, or the database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let provider = oauth_provider(&path)?;
    let id = params::uuid(
        params::required(&q.specialist_id, "specialistId")?,
        "specialistId",
    )?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let specialist = specialists::get(&mut conn, id)
        .await
        .or_not_found("specialist")?;
    drop(conn);
    caller.ensure_acts_for(&specialist.user_id)?;
    let payload = StatePayload::new(SpecialistId(id), provider, Utc::now(), STATE_TTL);
    let signed = state.state_signer.sign(&payload);
    let url = state.conns.clients.oauth(provider)?.consent_url(&signed);
    let cookie = state_cookie(
        Some(&payload.nonce),
        state.secure_cookies,
        STATE_TTL.num_seconds(),
    );
    Ok(HttpResponse::Found()
        .insert_header((LOCATION, url.as_str()))
        .insert_header((SET_COOKIE, cookie))
        .finish())
}
