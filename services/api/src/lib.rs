//! api: availability for the marketplace, race-free booking, the agent portal (JSON and
//! a server-rendered schedule page) and the integration endpoints (OAuth connect and
//! callback, ICS connect, webhook setup and status, manual sync). It reads the shared
//! database and asks the sync-worker for syncs through RabbitMQ.

pub mod auth;
pub mod cache;
pub mod error;
pub mod freshness;
pub mod limit;
mod metrics;
pub mod openapi;
pub mod params;
pub mod portal;
pub mod request_log;
pub mod routes;
pub mod slots;
pub mod state;

pub use error::ApiError;
pub use state::AppState;

use actix_web::{middleware, web, App, HttpServer};
use cache::AvailabilityCache;
use calsync_db::{build_pool, DbPool, PoolSettings};
use calsync_mq::{Publisher, Topology};
use calsync_runtime::health::{self, HealthState};
use calsync_runtime::{http, Settings};
use std::net::TcpListener;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How long the availability cache waits before trying LISTEN again.
const LISTEN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

pub struct ApiServer {
    server: actix_web::dev::Server,
    port: u16,
    publisher: Publisher,
    cache: Arc<AvailabilityCache>,
    database_url: String,
}

impl ApiServer {
    /// Binds `listener` (port 0 in tests) and prepares the server; `run` serves it.
    pub fn build(settings: &Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let mut pool_settings = PoolSettings::new(&settings.database.url, "calsync-api");
        pool_settings.max_size = settings.database.pool_size;
        // Availability is a round trip per request: no extra one to check out a connection,
        // and no parallel workers for its short index scans.
        pool_settings.serial_statements = true;
        pool_settings.verify_on_checkout = false;
        let pool = build_pool(&pool_settings)?;
        let publisher = Publisher::new(&settings.amqp.url, Topology::new(&settings.amqp.prefix));
        Self::build_with(settings, listener, pool, publisher)
    }

    /// Like `build`, with the pool and publisher given (tests pass their own topology).
    pub fn build_with(
        settings: &Settings,
        listener: TcpListener,
        pool: DbPool,
        publisher: Publisher,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let p = publisher.clone();
        let readiness =
            calsync_connections::database_readiness(&pool).reporting("broker", move || {
                let p = p.clone();
                async move { p.check().await.map_err(|e| e.to_string()) }
            });
        let health = HealthState::new("api", readiness);
        let request_metrics = web::Data::new(metrics::RequestMetrics::new(&health.registry));
        let state = web::Data::new(AppState::new(settings, pool, publisher.clone())?);
        let cache = Arc::clone(&state.cache);
        let body_limit = settings.api.max_body_bytes;
        let cors_origins =
            routes::cors_origins(&settings.api.cors_origins).map_err(anyhow::Error::msg)?;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(metrics::track))
                .wrap(tracing_actix_web::TracingLogger::<
                    request_log::RedactingRootSpan,
                >::new())
                .app_data(state.clone())
                .app_data(request_metrics.clone())
                .app_data(http::json_config(body_limit))
                .app_data(http::query_config())
                .configure(|cfg| health::configure(cfg, health.clone()))
                .configure(routes::configure(cors_origins.clone()))
                .default_service(web::to(http::not_found))
        })
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self {
            server,
            port,
            publisher,
            cache,
            database_url: settings.database.url.clone(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The availability cache (its statistics, whether LISTEN is in effect).
    pub fn availability_cache(&self) -> Arc<AvailabilityCache> {
        Arc::clone(&self.cache)
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let listening = shutdown.child_token();
        let listener = tokio::spawn(cache::keep_listening(
            self.cache,
            self.database_url,
            LISTEN_RETRY,
            listening.clone(),
        ));
        let served = http::run_until(self.server, shutdown).await;
        listening.cancel();
        let _ = listener.await;
        served?;
        self.publisher.close().await;
        Ok(())
    }
}
