//! `booking_idempotency_keys`: the first answer to a booking made with an
//! `Idempotency-Key`, so that a retry gets that answer again instead of a second booking.
//! A key is live for `retention` after its booking; an expired key may be used afresh.

use crate::schema::booking_idempotency_keys as keys;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// The answer remembered under a key.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = keys, check_for_backend(diesel::pg::Pg))]
pub struct Remembered {
    pub request_sha256: Vec<u8>,
    pub appointment_id: Uuid,
    pub response: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The live answer under `key`, if one was stored after `live_since`.
pub async fn find(
    conn: &mut AsyncPgConnection,
    key: &str,
    live_since: DateTime<Utc>,
) -> Result<Option<Remembered>, DbError> {
    Ok(keys::table
        .find(key)
        .filter(keys::created_at.gt(live_since))
        .select(Remembered::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Stores the answer under `key`, replacing an expired one. `false` when a live answer
/// is already stored (a concurrent request with the same key committed first).
pub async fn remember(
    conn: &mut AsyncPgConnection,
    key: &str,
    request_sha256: &[u8],
    appointment_id: Uuid,
    response: &serde_json::Value,
    live_since: DateTime<Utc>,
) -> Result<bool, DbError> {
    diesel::delete(
        keys::table
            .find(key)
            .filter(keys::created_at.le(live_since)),
    )
    .execute(conn)
    .await?;
    let written = diesel::insert_into(keys::table)
        .values((
            keys::key.eq(key),
            keys::request_sha256.eq(request_sha256),
            keys::appointment_id.eq(appointment_id),
            keys::response.eq(response),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(written == 1)
}

/// Deletes the keys that expired at `live_since`; returns how many.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    live_since: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(keys::table.filter(keys::created_at.le(live_since)))
            .execute(conn)
            .await?,
    )
}
