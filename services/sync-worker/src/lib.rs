//! sync-worker: consumes change notices, fetches changed events from the providers
//! (Google sync tokens, Graph delta links, ICS conditional GET), commits them, and runs
//! the scheduler (polling fallback, webhook renewal, cleanup), and drains the write-back
//! outbox (bookings written into the agents' calendars). Replicas coordinate only
//! through PostgreSQL: sync leases per connection and `SKIP LOCKED` claims.

pub mod clock;
pub mod context;
pub mod handler;
pub mod metrics;
mod pacing;
pub mod scheduler;
pub mod sync;
mod traces;

use actix_web::{web, App, HttpServer};
use calsync_connections::Connections;
use calsync_db::{build_pool, PoolSettings};
use calsync_mq::{Batching, ConsumerSettings, Publisher, Topology};
use calsync_runtime::health::{self, HealthState};
use calsync_runtime::{http, Settings};
use clock::{Clock, SystemClock};
use context::WorkerContext;
use std::net::TcpListener;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How long a stopping worker lets its running syncs finish.
const DRAIN_DRIVES: std::time::Duration = std::time::Duration::from_secs(30);

pub struct WorkerServer {
    server: actix_web::dev::Server,
    port: u16,
    ctx: Arc<WorkerContext>,
    run_scheduler: bool,
    run_writeback: bool,
}

impl WorkerServer {
    pub fn build(settings: &Settings, listener: TcpListener) -> anyhow::Result<Self> {
        Self::build_with(settings, listener, Arc::new(SystemClock))
    }

    /// With an injected clock (tests walk simulated weeks).
    pub fn build_with(
        settings: &Settings,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let mut pool_settings = PoolSettings::new(&settings.database.url, "calsync-sync-worker");
        pool_settings.max_size = settings.database.pool_size;
        // A sync checks a connection out of the pool ten times or so: a `SELECT 1`
        // before each was a tenth of its round trips. A connection whose server went
        // away fails its next statement instead, and a failed sync or batch is retried.
        pool_settings.verify_on_checkout = false;
        let pool = build_pool(&pool_settings)?;
        let publisher = Publisher::new(&settings.amqp.url, Topology::new(&settings.amqp.prefix));
        let http_client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let ics = context::ics_fetcher(settings)?;
        let conns = Connections::from_settings(
            settings,
            pool.clone(),
            publisher.clone(),
            http_client,
            clock,
            calsync_connections::owner_name("sync-worker"),
        )?;

        let p = publisher.clone();
        let readiness = calsync_connections::database_readiness(&pool).with("broker", move || {
            let p = p.clone();
            async move { p.check().await.map_err(|e| e.to_string()) }
        });
        let health = HealthState::new("sync-worker", readiness);
        let metrics = metrics::WorkerMetrics::new(&health.registry);
        let conns = Arc::new(conns);
        let writeback = Arc::new(calsync_connections::WriteBack::new(
            Arc::clone(&conns),
            &settings.writeback,
        )?);
        let ctx = Arc::new(WorkerContext {
            conns,
            writeback,
            ics,
            settings: settings.clone(),
            metrics,
            traces: Default::default(),
            commits: Default::default(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .configure(|cfg| health::configure(cfg, health.clone()))
                .default_service(web::to(http::not_found))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self {
            server,
            port,
            ctx,
            run_scheduler: true,
            run_writeback: true,
        })
    }

    /// Leaves the scheduler out (tests that drive `Scheduler::run_once` themselves).
    pub fn without_scheduler(mut self) -> Self {
        self.run_scheduler = false;
        self
    }

    /// Leaves the write-back drain out (tests that call `WriteBack::run_once` themselves).
    pub fn without_writeback(mut self) -> Self {
        self.run_writeback = false;
        self
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> Arc<WorkerContext> {
        Arc::clone(&self.ctx)
    }

    /// Consumes and schedules until `shutdown`; in-flight syncs finish first.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handler = Arc::new(handler::NoticeHandler::new(Arc::clone(&self.ctx)));
        let consumer = tokio::spawn(calsync_mq::run_batch_consumer(
            ConsumerSettings {
                url: self.ctx.settings.amqp.url.clone(),
                topology: self.ctx.publisher.topology().clone(),
                prefetch: self.ctx.settings.amqp.prefetch,
                tag_prefix: "sync-worker".into(),
            },
            Batching {
                max_batch: self.ctx.settings.amqp.batch_size.max(1),
                linger: std::time::Duration::from_millis(self.ctx.settings.amqp.batch_linger_ms),
            },
            Arc::clone(&handler),
            shutdown.clone(),
        ));
        let scheduler = self.run_scheduler.then(|| {
            tokio::spawn(scheduler::Scheduler::new(Arc::clone(&self.ctx)).run(shutdown.clone()))
        });
        let writeback = self.run_writeback.then(|| {
            tokio::spawn(scheduler::drain_writes(
                Arc::clone(&self.ctx),
                shutdown.clone(),
            ))
        });
        http::run_until(self.server, shutdown.clone()).await?;
        let _ = consumer.await;
        handler.finish(DRAIN_DRIVES).await;
        if let Some(s) = scheduler {
            let _ = s.await;
        }
        if let Some(w) = writeback {
            let _ = w.await;
        }
        self.ctx.publisher.close().await;
        Ok(())
    }
}
