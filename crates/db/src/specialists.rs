//! `specialists` and their weekly working hours (the `availability_rules` table).

use crate::schema::{availability_rules, specialists};
use crate::DbError;
use calsync_core::WorkingHours;
use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = specialists, check_for_backend(diesel::pg::Pg))]
pub struct Specialist {
    pub id: Uuid,
    pub user_id: String,
    pub display_name: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = availability_rules, check_for_backend(diesel::pg::Pg))]
pub struct WorkingHoursRow {
    pub specialist_id: Uuid,
    pub weekday: i16,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = availability_rules)]
pub struct NewWorkingHours {
    pub specialist_id: Uuid,
    pub weekday: i16,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
}

/// Creates the specialist or updates the one with the same `user_id`, and replaces its
/// working hours. Run it inside a transaction so hours are never half-replaced.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    display_name: &str,
    time_zone: &str,
    hours: &[WorkingHours],
) -> Result<Uuid, DbError> {
    let id: Uuid = diesel::insert_into(specialists::table)
        .values((
            specialists::id.eq(Uuid::new_v4()),
            specialists::user_id.eq(user_id),
            specialists::display_name.eq(display_name),
            specialists::time_zone.eq(time_zone),
        ))
        .on_conflict(specialists::user_id)
        .do_update()
        .set((
            specialists::display_name.eq(display_name),
            specialists::time_zone.eq(time_zone),
            specialists::updated_at.eq(diesel::dsl::now),
        ))
        .returning(specialists::id)
        .get_result(conn)
        .await?;
    diesel::delete(availability_rules::table.filter(availability_rules::specialist_id.eq(id)))
        .execute(conn)
        .await?;
    let rows: Vec<NewWorkingHours> = hours
        .iter()
        .map(|h| NewWorkingHours {
            specialist_id: id,
            weekday: i16::from(h.weekday),
            start_time: h.start,
            end_time: h.end,
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(availability_rules::table)
            .values(&rows)
            .execute(conn)
            .await?;
    }
    Ok(id)
}

pub async fn get(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Specialist, DbError> {
    Ok(specialists::table
        .find(id)
        .select(Specialist::as_select())
        .first(conn)
        .await?)
}

pub async fn get_many(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<Specialist>, DbError> {
    Ok(specialists::table
        .filter(specialists::id.eq_any(ids))
        .select(Specialist::as_select())
        .load(conn)
        .await?)
}

pub async fn find_by_user_id(
    conn: &mut AsyncPgConnection,
    user_id: &str,
) -> Result<Specialist, DbError> {
    Ok(specialists::table
        .filter(specialists::user_id.eq(user_id))
        .select(Specialist::as_select())
        .first(conn)
        .await?)
}

/// Working hours of several specialists at once (the marketplace grid asks for hundreds).
pub async fn working_hours_for(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<Vec<WorkingHoursRow>, DbError> {
    Ok(availability_rules::table
        .filter(availability_rules::specialist_id.eq_any(ids))
        .order((availability_rules::weekday, availability_rules::start_time))
        .select(WorkingHoursRow::as_select())
        .load(conn)
        .await?)
}

/// Takes a row lock on the specialist for the rest of the transaction: bookings of one
/// specialist serialise on it, so the external-event check and the insert are atomic.
pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), DbError> {
    specialists::table
        .find(id)
        .select(specialists::id)
        .for_update()
        .first::<Uuid>(conn)
        .await?;
    Ok(())
}
