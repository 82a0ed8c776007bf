//! What availability reads, as three statements that do not depend on each other: the
//! specialists with their working hours, the health of their calendar connections, and
//! their busy time in a window. Each function returns a future that does not borrow the
//! connection, so a caller can `try_join!` all three and pay one round trip
//! (diesel-async pipelines concurrent queries on one `AsyncPgConnection`).
//!
//! Every statement is a prepared, cached one whose plan is an index scan touching only
//! the rows asked for (see the indexes of migration `2026-12-01-000001`): the fixed
//! predicates are written out literally, not bound, so that the planner can match the
//! partial indexes' predicates in a generic plan too.

use crate::schema::{appointments, availability_rules, calendar_connections as cc};
use crate::schema::{external_events as ev, specialists};
use crate::DbError;
use calsync_core::Provider;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use diesel::expression::{is_aggregate, AppearsOnTable, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::future::Future;
use uuid::Uuid;

/// Events at least this long are read from their own small index; shorter ones are found
/// by their start alone. Must match `external_events_busy_long_idx`.
pub const LONG_EVENT: Duration = Duration::days(2);
/// The longest appointment (`appointments_length_check`).
pub const LONGEST_APPOINTMENT: Duration = Duration::hours(24);

/// A fixed SQL predicate, written into the statement rather than bound, so that a
/// generic plan can still use a partial index whose predicate it states. Never built
/// from input: the text is a `'static` literal of this module.
#[derive(Debug, Clone, Copy)]
struct Predicate(&'static str);

const IS_LONG_EVENT: Predicate =
    Predicate(r#""external_events"."ends_at" - "external_events"."starts_at" > interval '2 days'"#);
const IS_CONFIRMED: Predicate = Predicate(r#""appointments"."status" = 'confirmed'"#);

impl Expression for Predicate {
    type SqlType = Bool;
}
impl<QS> AppearsOnTable<QS> for Predicate {}
impl<QS> SelectableExpression<QS> for Predicate {}
impl<GB> ValidGrouping<GB> for Predicate {
    type IsAggregate = is_aggregate::Never;
}
impl QueryId for Predicate {
    type QueryId = ();
    // Two predicates share the type, so the statement cache keys on the SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}
impl QueryFragment<Pg> for Predicate {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.0);
        Ok(())
    }
}

/// A specialist's zone and one of their working-hours blocks (none: `weekday` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct HoursRow {
    pub specialist_id: Uuid,
    pub time_zone: String,
    pub weekday: Option<i16>,
    pub start_time: Option<NaiveTime>,
    pub end_time: Option<NaiveTime>,
}

/// The statement of `specialists_with_hours`.
macro_rules! hours_query {
    ($ids:expr) => {
        specialists::table
            .left_join(availability_rules::table)
            .filter(specialists::id.eq_any($ids.to_vec()))
            .select((
                specialists::id,
                specialists::time_zone,
                availability_rules::weekday.nullable(),
                availability_rules::start_time.nullable(),
                availability_rules::end_time.nullable(),
            ))
    };
}

/// The specialists among `ids` that exist, each with every working-hours block (one row
/// per block, or one row without a block).
pub fn specialists_with_hours(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> impl Future<Output = Result<Vec<HoursRow>, DbError>> + Send + 'static {
    let rows = hours_query!(ids).load::<HoursRow>(conn);
    async move { Ok(rows.await?) }
}

/// What decides whether a connection's calendar can be vouched for; nothing secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = cc, check_for_backend(diesel::pg::Pg))]
pub struct ConnectionHealth {
    pub specialist_id: Uuid,
    #[diesel(deserialize_as = String)]
    pub provider: Provider,
    pub sync_enabled: bool,
    pub needs_reauth: bool,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error_permanent: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&crate::connections::Connection> for ConnectionHealth {
    fn from(c: &crate::connections::Connection) -> Self {
        Self {
            specialist_id: c.specialist_id,
            provider: c.provider,
            sync_enabled: c.sync_enabled,
            needs_reauth: c.needs_reauth,
            last_sync_at: c.last_sync_at,
            last_error_at: c.last_error_at,
            last_error_permanent: c.last_error_permanent,
            created_at: c.created_at,
        }
    }
}

impl From<&ConnectionHealth> for ConnectionHealth {
    fn from(c: &ConnectionHealth) -> Self {
        *c
    }
}

/// The statement of `connection_health`.
macro_rules! health_query {
    ($ids:expr) => {
        cc::table
            .filter(cc::specialist_id.eq_any($ids.to_vec()))
            .select(ConnectionHealth::as_select())
    };
}

/// The health of every connection of the given specialists.
pub fn connection_health(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> impl Future<Output = Result<Vec<ConnectionHealth>, DbError>> + Send + 'static {
    let rows = health_query!(ids).load::<ConnectionHealth>(conn);
    async move { Ok(rows.await?) }
}

/// A busy interval of one specialist; deliberately carries nothing else (invariant 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct BusyRow {
    pub specialist_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The blocking external events (not those we wrote for a booking: the booking itself
/// blocks that time) of `$ids` overlapping `[$from, $to)`, as two index-only scans:
/// events starting at most `LONG_EVENT` before the window, and the longer ones still
/// running, which `IS_LONG_EVENT` sends to their own small index.
macro_rules! blocking_events {
    ($ids:expr, $from:expr, $to:expr) => {{
        let (from, to) = ($from, $to);
        let long_before = from
            .checked_sub_signed(LONG_EVENT)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let blocking = || {
            ev::table
                .filter(ev::specialist_id.eq_any($ids.to_vec()))
                .filter(ev::blocks_availability)
                .filter(diesel::dsl::not(ev::is_soradin_created))
                .filter(ev::ends_at.gt(from))
                .select((ev::specialist_id, ev::starts_at, ev::ends_at))
        };
        let recent = blocking()
            .filter(ev::starts_at.ge(long_before))
            .filter(ev::starts_at.lt(to));
        let long = blocking()
            .filter(ev::starts_at.lt(long_before))
            .filter(IS_LONG_EVENT);
        recent.union_all(long)
    }};
}

/// Blocking external events alone (see `blocking_events!`).
pub fn blocking_between(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Future<Output = Result<Vec<BusyRow>, DbError>> + Send + 'static {
    let rows = blocking_events!(ids, from, to).load::<BusyRow>(conn);
    async move { Ok(rows.await?) }
}

/// The statement of `busy_between`.
macro_rules! busy_query {
    ($ids:expr, $from:expr, $to:expr) => {{
        let (from, to) = ($from, $to);
        let appointments_from = from
            .checked_sub_signed(LONGEST_APPOINTMENT)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let booked = appointments::table
            .filter(appointments::specialist_id.eq_any($ids.to_vec()))
            .filter(IS_CONFIRMED)
            .filter(appointments::starts_at.ge(appointments_from))
            .filter(appointments::starts_at.lt(to))
            .filter(appointments::ends_at.gt(from))
            .select((
                appointments::specialist_id,
                appointments::starts_at,
                appointments::ends_at,
            ));
        blocking_events!($ids, from, to).union_all(booked)
    }};
}

/// Everything that makes the given specialists busy during `[from, to)`: blocking
/// external events and confirmed appointments, in no particular order. One statement of
/// three index-only scans, each reading only rows that can overlap the window.
pub fn busy_between(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Future<Output = Result<Vec<BusyRow>, DbError>> + Send + 'static {
    let rows = busy_query!(ids, from, to).load::<BusyRow>(conn);
    async move { Ok(rows.await?) }
}

/// `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)` of a statement, run with its bound parameters.
struct Explain<Q>(Q);

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> diesel::query_builder::Query for Explain<Q> {
    type SqlType = diesel::sql_types::Text;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ");
        self.0.walk_ast(out.reborrow())
    }
}

/// The plans PostgreSQL runs the three statements with, for these ids and this window,
/// as `EXPLAIN ANALYZE` prints them (for benchmarks and operators, not for requests).
pub async fn explain(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(&'static str, Vec<String>)>, DbError> {
    let hours = Explain(hours_query!(ids)).load::<String>(conn).await?;
    let health = Explain(health_query!(ids)).load::<String>(conn).await?;
    let busy = Explain(busy_query!(ids, from, to))
        .load::<String>(conn)
        .await?;
    Ok(vec![
        ("specialists with working hours", hours),
        ("connection health", health),
        ("busy time (events, long events, appointments)", busy),
    ])
}
