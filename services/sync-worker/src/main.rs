//! sync-worker binary: configuration, tracing, then the server until SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = calsync_runtime::Settings::for_service("calsync-sync-worker")?;
    let listener = std::net::TcpListener::bind(&settings.worker.bind)?;
    let server = calsync_sync_worker::WorkerServer::build(&settings, listener)?;
    tracing::info!(port = server.port(), "sync-worker listening");
    let outcome = server.run(calsync_runtime::shutdown_on_signal()).await;
    calsync_runtime::telemetry::shutdown();
    outcome
}
