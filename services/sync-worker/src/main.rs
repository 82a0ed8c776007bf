//! sync-worker binary: configuration, tracing, then consume and schedule until SIGTERM.

use std::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = std::env::args().skip_while(|a| a != "--config").nth(1);
    let settings = calsync_runtime::Settings::load(config.as_deref().map(std::path::Path::new))?;
    calsync_runtime::telemetry::init(&settings.log);
    settings.validate()?;
    let listener = TcpListener::bind(&settings.worker.bind)?;
    let server = calsync_sync_worker::WorkerServer::build(&settings, listener)?;
    tracing::info!(port = server.port(), "sync-worker listening");
    server.run(calsync_runtime::shutdown_on_signal()).await
}
