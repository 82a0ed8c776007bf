//! Shared test setup over `calsync_testkit::TestEnv` (database, broker prefix, secrets,
//! sandboxes): a worker built on a manual clock, fixtures, and polling waits with
//! timeouts.

use calsync_db::connections::{self, Connection, NewConnection};
use calsync_db::{specialists, DbPool};
use calsync_runtime::Settings;
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::context::WorkerContext;
use calsync_sync_worker::WorkerServer;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A worker on `clock`, without its own scheduler (tests tick it).
pub fn worker_with(settings: &Settings, clock: &ManualClock) -> WorkerServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    WorkerServer::build_with(settings, listener, Arc::new(clock.clone()))
        .unwrap()
        .without_scheduler()
}

pub async fn specialist(pool: &DbPool, user: &str, tz: &str) -> Uuid {
    let mut db = pool.get().await.unwrap();
    specialists::upsert(&mut db, user, user, tz, &[])
        .await
        .unwrap()
}

pub async fn connect(
    pool: &DbPool,
    specialist_id: Uuid,
    provider: &str,
    calendar: &str,
) -> Connection {
    let mut db = pool.get().await.unwrap();
    connections::upsert(
        &mut db,
        &NewConnection {
            specialist_id,
            provider: provider.parse().expect("provider"),
            external_calendar_id: calendar.to_owned(),
            account_email: None,
            access_token_enc: None,
            refresh_token_enc: None,
            token_expires_at: None,
        },
    )
    .await
    .unwrap()
}

pub async fn connection(ctx: &WorkerContext, id: Uuid) -> Connection {
    let mut db = ctx.pool.get().await.unwrap();
    connections::get(&mut db, id).await.unwrap()
}

/// Stored instances of a connection as (provider event id, start, end), sorted.
pub async fn stored(pool: &DbPool, id: Uuid) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    let mut db = pool.get().await.unwrap();
    let mut rows: Vec<_> = calsync_db::events::for_connection(&mut db, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.provider_event_id, e.starts_at, e.ends_at))
        .collect();
    rows.sort();
    rows
}

/// Polls `check` until it yields `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
