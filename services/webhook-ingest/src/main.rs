//! webhook-ingest binary: configuration, tracing, then the server until SIGTERM.

use std::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = std::env::args().skip_while(|a| a != "--config").nth(1);
    let settings = calsync_runtime::Settings::load(config.as_deref().map(std::path::Path::new))?;
    calsync_runtime::telemetry::init(&settings.log);
    settings.validate()?;
    let listener = TcpListener::bind(&settings.ingest.bind)?;
    let server = calsync_webhook_ingest::IngestServer::build(&settings, listener)?;
    tracing::info!(port = server.port(), "webhook-ingest listening");
    server.run(calsync_runtime::shutdown_on_signal()).await
}
