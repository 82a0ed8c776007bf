//! sync-worker: consumes change notices, fetches changed events from the providers
//! (Google sync tokens, Graph delta links, ICS conditional GET), commits them, and runs
//! the scheduler (polling fallback, webhook renewal, cleanup). Replicas coordinate only
//! through PostgreSQL: sync leases per connection and `SKIP LOCKED` claims.

pub mod clock;
pub mod context;
pub mod handler;
pub mod metrics;
pub mod scheduler;
pub mod sync;

use actix_web::{web, App, HttpServer};
use calsync_db::{build_pool, PoolSettings};
use calsync_mq::{ConsumerSettings, Publisher, Topology};
use calsync_providers::security::{TokenCipher, WebhookSigner};
use calsync_runtime::health::{self, HealthState, Readiness};
use calsync_runtime::{http, Settings};
use clock::{Clock, SystemClock};
use context::WorkerContext;
use std::net::TcpListener;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct WorkerServer {
    server: actix_web::dev::Server,
    port: u16,
    ctx: Arc<WorkerContext>,
    run_scheduler: bool,
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
        let pool = build_pool(&pool_settings)?;
        let publisher = Publisher::new(&settings.amqp.url, Topology::new(&settings.amqp.prefix));
        let http_client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let (google, microsoft) = context::provider_clients(settings, &http_client)?;
        let ics = context::ics_fetcher(settings)?;
        let cipher = TokenCipher::with_previous(
            &settings.security.encryption_key,
            &settings.security.previous_encryption_keys,
        )
        .map_err(|e| anyhow::anyhow!("security.encryption_key: {e}"))?;
        let signer = WebhookSigner::with_previous(
            settings.security.webhook_secret.clone(),
            settings.security.previous_webhook_secrets.clone(),
        );

        let (p, db) = (publisher.clone(), pool.clone());
        let readiness = Readiness::new()
            .with("database", move || {
                let db = db.clone();
                async move { calsync_db::pool::ping(&db).await.map_err(|e| e.to_string()) }
            })
            .with("schema", {
                let db = pool.clone();
                move || {
                    let db = db.clone();
                    async move {
                        calsync_db::migrate::check_schema(&db)
                            .await
                            .map_err(|e| e.to_string())
                    }
                }
            })
            .with("broker", move || {
                let p = p.clone();
                async move { p.check().await.map_err(|e| e.to_string()) }
            });
        let health = HealthState::new("sync-worker", readiness);
        let metrics = metrics::WorkerMetrics::new(&health.registry);
        let ctx = Arc::new(WorkerContext {
            pool,
            publisher,
            clock,
            cipher,
            signer,
            google,
            microsoft,
            ics,
            settings: settings.clone(),
            metrics,
            owner: format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple()),
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
        })
    }

    /// Leaves the scheduler out (tests that drive `Scheduler::run_once` themselves).
    pub fn without_scheduler(mut self) -> Self {
        self.run_scheduler = false;
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
        let consumer = tokio::spawn(calsync_mq::run_consumer(
            ConsumerSettings {
                url: self.ctx.settings.amqp.url.clone(),
                topology: self.ctx.publisher.topology().clone(),
                prefetch: self.ctx.settings.amqp.prefetch,
                tag_prefix: "sync-worker".into(),
            },
            Arc::new(handler::NoticeHandler {
                ctx: Arc::clone(&self.ctx),
            }),
            shutdown.clone(),
        ));
        let scheduler = self.run_scheduler.then(|| {
            tokio::spawn(scheduler::Scheduler::new(Arc::clone(&self.ctx)).run(shutdown.clone()))
        });
        http::run_until(self.server, shutdown.clone()).await?;
        let _ = consumer.await;
        if let Some(s) = scheduler {
            let _ = s.await;
        }
        self.ctx.publisher.close().await;
        Ok(())
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "worker".into())
}
