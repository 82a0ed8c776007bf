//! `oauth_states_used`: the nonces of OAuth states already spent at a callback.

use crate::schema::oauth_states_used as osu;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Spends a state's nonce: true the first time, false for a replay. Sweeps the nonces
/// whose states expired (they could not be replayed anyway: expiry is checked first).
pub async fn spend(
    conn: &mut AsyncPgConnection,
    nonce: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    diesel::delete(osu::table.filter(osu::expires_at.lt(now)))
        .execute(conn)
        .await?;
    let inserted = diesel::insert_into(osu::table)
        .values((osu::nonce.eq(nonce), osu::expires_at.eq(expires_at)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}
