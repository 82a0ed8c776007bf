//! Integration tests of calsync-db against a real PostgreSQL: each test gets its own
//! database cloned from the migrated template (`calsync_testkit::TestDatabase`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod appointments;
mod availability;
mod calendar_writes;
mod calendars;
mod claims;
mod connections;
mod events;
mod migrations;
mod pool;
mod schema;
mod support;
