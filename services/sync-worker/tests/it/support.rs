//! Shared test setup: settings for a per-test database and broker prefix, a worker
//! built on a manual clock, fixtures, and polling waits with timeouts.

use calsync_db::connections::{self, Connection, NewConnection};
use calsync_db::{specialists, DbPool};
use calsync_runtime::Settings;
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::context::WorkerContext;
use calsync_sync_worker::WorkerServer;
use calsync_testkit::{TestBroker, TestDatabase};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::future::Future;
use std::net::TcpListener;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use uuid::Uuid;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
});

/// "0123456789abcdef0123456789abcdef", base64: a 32-byte key.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub struct World {
    pub db: TestDatabase,
    pub broker: TestBroker,
    pub settings: Settings,
}

impl World {
    pub async fn new() -> Self {
        LazyLock::force(&TRACING);
        let db = TestDatabase::new().await.unwrap();
        let broker = TestBroker::new();
        let mut s = Settings::defaults().unwrap();
        s.database.url = db.url().to_owned();
        s.database.pool_size = 8;
        s.amqp.url = broker.url.clone();
        s.amqp.prefix = broker.prefix().to_owned();
        s.api.operator_token = SecretString::from("operator");
        s.api.jwt_secret = SecretString::from("jwt");
        s.security.webhook_secret = SecretString::from("webhook-secret");
        s.security.encryption_key = SecretString::from(KEY);
        s.ics.allow_hosts = vec!["127.0.0.1".to_owned()];
        s.validate().unwrap();
        Self {
            db,
            broker,
            settings: s,
        }
    }

    pub fn pool(&self) -> &DbPool {
        self.db.pool()
    }

    /// A worker on `clock`, without its own scheduler (tests tick it).
    pub fn worker(&self, clock: &ManualClock) -> WorkerServer {
        worker_with(&self.settings, clock)
    }

    pub fn work_queue(&self) -> String {
        calsync_mq::Topology::new(self.broker.prefix()).work_queue()
    }
}

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
