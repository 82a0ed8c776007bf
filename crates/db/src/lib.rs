//! calsync's PostgreSQL layer: the diesel schema, row types, typed query functions (one
//! module per table), the diesel-async connection pool and the embedded migrations.
//! Callers own transactions: query functions take `&mut AsyncPgConnection`.

pub mod appointments;
pub mod availability;
pub mod calendar_writes;
pub mod calendars;
pub mod connections;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod migrate;
pub mod notify;
pub mod oauth_states;
pub mod pool;
pub mod prepared;
pub mod schema;
pub mod specialists;

pub use diesel_async::AsyncPgConnection;
pub use error::DbError;
pub use pool::{build_pool, DbConn, DbPool, PoolSettings};
