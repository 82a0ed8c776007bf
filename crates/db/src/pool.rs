//! The diesel-async connection pool (deadpool), with timeouts so a database outage turns
//! into a prompt 503 instead of requests queueing forever.

use crate::DbError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use std::time::Duration;

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub url: String,
    pub max_size: usize,
    /// How long a caller waits for a free connection before getting `Unavailable`.
    pub acquire_timeout: Duration,
    /// Server-side cap on any one statement, so a runaway query cannot pin a connection.
    pub statement_timeout: Duration,
    pub application_name: String,
    /// No parallel workers for this pool's statements: short index scans only pay their
    /// start-up (milliseconds, and CPU the other requests wanted).
    pub serial_statements: bool,
    /// Ask the server (`SELECT 1`) before handing out a pooled connection. Off, a
    /// connection whose server went away is still dropped as soon as its socket closes
    /// (`is_broken`), and at worst its next statement fails with `Unavailable`; on, every
    /// checkout costs a round trip.
    pub verify_on_checkout: bool,
}

impl PoolSettings {
    pub fn new(url: impl Into<String>, application_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_size: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            application_name: application_name.into(),
            serial_statements: false,
            verify_on_checkout: true,
        }
    }
}

pub fn build_pool(settings: &PoolSettings) -> Result<DbPool, DbError> {
    let mut cfg = ManagerConfig::<AsyncPgConnection>::default();
    if !settings.verify_on_checkout {
        cfg.recycling_method = RecyclingMethod::Fast;
    }
    let statement_ms = settings.statement_timeout.as_millis();
    let app = settings.application_name.replace('\'', "");
    let serial = if settings.serial_statements {
        "; SET max_parallel_workers_per_gather = 0"
    } else {
        ""
    };
    cfg.custom_setup = Box::new(move |url| {
        let app = app.clone();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(&format!(
                "SET application_name = '{app}'; SET statement_timeout = {statement_ms}{serial}"
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(&settings.url, cfg);
    Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .build()
        .map_err(|e| DbError::Unavailable(Box::new(e)))
}

/// A cheap round trip for readiness probes.
pub async fn ping(pool: &DbPool) -> Result<(), DbError> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}
