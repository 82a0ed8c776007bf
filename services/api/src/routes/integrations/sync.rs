//! `GET|POST /api/integrations/sync[?specialistId=]` (operator): asks for a sync of every
//! enabled connection, and marks webhooks that are missing or expire within 24 hours
//! for renewal by the sync-worker.

use super::setup_webhooks::classify;
use crate::auth::OperatorAuth;
use crate::error::ApiError;
use crate::notices::{self, Enqueued};
use crate::params;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use calsync_core::Provider;
use calsync_db::{connections, DbError};
use calsync_proto::v1::NoticeReason;
use chrono::Utc;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    specialist_id: Option<String>,
}

pub async fn handle(
    _op: OperatorAuth,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let filter = q
        .specialist_id
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| params::uuid(s, "specialistId"))
        .transpose()?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let now = Utc::now();
    let (mut enqueued, mut unconfirmed, mut to_renew) = (0u64, 0u64, 0u64);
    for c in connections::list(&mut conn, filter).await? {
        if !c.sync_enabled || c.needs_reauth {
            continue;
        }
        let Ok(provider) = c.provider.parse::<Provider>() else {
            continue;
        };
        match notices::request_sync(
            &state,
            &mut conn,
            c.id,
            provider,
            NoticeReason::Manual,
            false,
            now,
        )
        .await?
        {
            Enqueued::Published => enqueued += 1,
            Enqueued::RecordedOnly => {
                enqueued += 1;
                unconfirmed += 1;
            }
            Enqueued::Inactive => {}
        }
        if classify(&c, now).needs_renewal() {
            connections::request_webhook_renewal(&mut conn, c.id, false).await?;
            to_renew += 1;
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "enqueued": enqueued,
        "webhooksToRenew": to_renew,
        "notPublished": unconfirmed,
    })))
}
