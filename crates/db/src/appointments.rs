//! Marketplace `appointments`. Confirmed ones never overlap: the exclusion constraint
//! `appointments_no_overlap` enforces it, and inserting surfaces it as
//! `DbError::Conflict`.

use crate::schema::appointments;
use crate::DbError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

pub const STATUS_CONFIRMED: &str = "confirmed";
pub const STATUS_CANCELLED: &str = "cancelled";

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = appointments, check_for_backend(diesel::pg::Pg))]
pub struct Appointment {
    pub id: Uuid,
    pub specialist_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub customer: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = appointments)]
pub struct NewAppointment {
    pub id: Uuid,
    pub specialist_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub customer: serde_json::Value,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewAppointment,
) -> Result<Appointment, DbError> {
    Ok(diesel::insert_into(appointments::table)
        .values(new)
        .returning(Appointment::as_returning())
        .get_result(conn)
        .await?)
}

/// Confirmed appointments of the given specialists that overlap `[from, to)`.
pub async fn confirmed_between(
    conn: &mut AsyncPgConnection,
    specialist_ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Appointment>, DbError> {
    Ok(appointments::table
        .filter(appointments::specialist_id.eq_any(specialist_ids))
        .filter(appointments::status.eq(STATUS_CONFIRMED))
        .filter(appointments::starts_at.lt(to))
        .filter(appointments::ends_at.gt(from))
        .order(appointments::starts_at)
        .select(Appointment::as_select())
        .load(conn)
        .await?)
}

/// All appointments (any status) of one specialist overlapping `[from, to)`, for the portal.
pub async fn for_portal(
    conn: &mut AsyncPgConnection,
    specialist_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Appointment>, DbError> {
    Ok(appointments::table
        .filter(appointments::specialist_id.eq(specialist_id))
        .filter(appointments::starts_at.lt(to))
        .filter(appointments::ends_at.gt(from))
        .order(appointments::starts_at)
        .select(Appointment::as_select())
        .load(conn)
        .await?)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Appointment, DbError> {
    Ok(appointments::table
        .find(id)
        .select(Appointment::as_select())
        .first(conn)
        .await?)
}

/// Cancels the appointment (its time is free again at once: the overlap constraint and
/// availability only count confirmed ones). Cancelling a cancelled one changes nothing.
pub async fn cancel(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Appointment, DbError> {
    let changed = diesel::update(
        appointments::table
            .find(id)
            .filter(appointments::status.eq(STATUS_CONFIRMED)),
    )
    .set((
        appointments::status.eq(STATUS_CANCELLED),
        appointments::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Appointment::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    match changed {
        Some(a) => Ok(a),
        None => get(conn, id).await,
    }
}
