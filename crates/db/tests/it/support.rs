//! Fixtures shared by the db tests: a fresh database, a specialist, a connection.

use calsync_db::connections::{self, Connection, NewConnection};
use calsync_db::{specialists, DbConn};
use calsync_testkit::TestDatabase;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// Upper bound on any single test step, so a broken database fails a test, not hangs it.
pub const STEP: Duration = Duration::from_secs(30);

/// Runs `fut` under the step timeout and panics with `what` when it runs out.
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {STEP:?}"),
    }
}

pub async fn test_db() -> TestDatabase {
    within("creating the test database", TestDatabase::new())
        .await
        .expect("test database")
}

pub async fn conn(db: &TestDatabase) -> DbConn {
    within("getting a pooled connection", db.pool().get())
        .await
        .expect("pooled connection")
}

pub async fn specialist(conn: &mut DbConn, user: &str) -> Uuid {
    specialists::upsert(conn, user, "Agent", "Europe/Berlin", &[])
        .await
        .expect("specialist")
}

pub fn new_connection(specialist_id: Uuid, provider: &str, calendar: &str) -> NewConnection {
    NewConnection {
        specialist_id,
        provider: provider.parse().expect("provider"),
        external_calendar_id: calendar.to_owned(),
        account_email: None,
        access_token_enc: None,
        refresh_token_enc: None,
        token_expires_at: None,
    }
}

pub async fn connection(
    conn: &mut DbConn,
    specialist_id: Uuid,
    provider: &str,
    calendar: &str,
) -> Connection {
    connections::upsert(conn, &new_connection(specialist_id, provider, calendar))
        .await
        .expect("connection")
}
