//! `GET /api/integrations/{google|microsoft}/connect?specialistId=` (operator token or the
//! agent's own JWT): redirects to the provider's consent page with a signed `state` that
//! expires in ten minutes and names the specialist and provider.

use super::{oauth_provider, state_cookie};
use crate::auth::Caller;
use crate::error::{ApiError, OrNotFound};
use crate::params;
use crate::state::AppState;
use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::{web, HttpResponse};
use calsync_core::SpecialistId;
use calsync_db::{specialists, DbError};
use calsync_providers::security::StatePayload;
use chrono::{Duration, Utc};
use serde::Deserialize;

pub const STATE_TTL: Duration = Duration::minutes(10);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    specialist_id: Option<String>,
}

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
