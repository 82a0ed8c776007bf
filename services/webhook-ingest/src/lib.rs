//! webhook-ingest: receives Google push notifications and Microsoft Graph change and
//! lifecycle notifications, authenticates them without a database round trip (the
//! channel token / clientState is an HMAC over the connection id), publishes a
//! `ChangeNotice` with publisher confirms, and only then answers 2xx. Broker trouble
//! answers 503 so the provider retries: nothing is acknowledged and then lost.

mod coalesce;
mod error;
#[cfg(test)]
mod gate;
mod group;
mod routes;
mod state;

pub use error::IngestError;
pub use state::IngestState;

use actix_web::{web, App, HttpServer};
use calsync_mq::{Publisher, Topology};
use calsync_providers::security::WebhookSigner;
use calsync_runtime::health::{self, HealthState, Readiness};
use calsync_runtime::{http, Settings};
use std::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Broker connections the publisher spreads group messages over, and so the most groups
/// in flight at once: more than one flies only while a full group waits (see `group`),
/// when one channel's confirms would otherwise pace every push.
const PUBLISH_LANES: usize = 4;

pub struct IngestServer {
    server: actix_web::dev::Server,
    port: u16,
    publisher: Publisher,
}

impl IngestServer {
    /// Binds `listener` (port 0 in tests) and prepares the server; `run` serves it.
    pub fn build(settings: &Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let publisher = Publisher::with_lanes(
            &settings.amqp.url,
            Topology::new(&settings.amqp.prefix),
            PUBLISH_LANES,
        );
        Self::build_with(settings, listener, publisher)
    }

    pub fn build_with(
        settings: &Settings,
        listener: TcpListener,
        publisher: Publisher,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let signer = WebhookSigner::with_previous(
            settings.security.webhook_secret.clone(),
            settings.security.previous_webhook_secrets.clone(),
        );
        let p = publisher.clone();
        let readiness = Readiness::new().with("broker", move || {
            let p = p.clone();
            async move { p.check().await.map_err(|e| e.to_string()) }
        });
        let health = HealthState::new("webhook-ingest", readiness);
        let state = web::Data::new(IngestState::new(
            signer,
            publisher.clone(),
            &health.registry,
        ));
        let body_limit = settings.ingest.max_body_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .app_data(http::payload_config(body_limit))
                .app_data(http::json_config(body_limit))
                .app_data(http::query_config())
                .configure(|cfg| health::configure(cfg, health.clone()))
                .configure(routes::config)
                .default_service(web::to(http::not_found))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self {
            server,
            port,
            publisher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        http::run_until(self.server, shutdown).await?;
        self.publisher.close().await;
        Ok(())
    }
}
