//! The connection's OAuth tokens, stored encrypted (the cipher is the caller's).

use crate::schema::calendar_connections as cc;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Stores refreshed tokens. `refresh_token_enc = None` keeps the old refresh token
/// (Google does not send a new one on refresh; Microsoft rotates it).
pub async fn store_tokens(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    access_token_enc: &[u8],
    refresh_token_enc: Option<&[u8]>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    match refresh_token_enc {
        Some(r) => {
            diesel::update(cc::table.find(id))
                .set((
                    cc::access_token_enc.eq(access_token_enc),
                    cc::refresh_token_enc.eq(r),
                    cc::token_expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(cc::table.find(id))
                .set((
                    cc::access_token_enc.eq(access_token_enc),
                    cc::token_expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?
        }
    };
    Ok(())
}
