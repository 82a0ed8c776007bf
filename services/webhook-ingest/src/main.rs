//! webhook-ingest binary: configuration, tracing, then the server until SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = calsync_runtime::Settings::for_service("calsync-webhook-ingest")?;
    let listener = std::net::TcpListener::bind(&settings.ingest.bind)?;
    let server = calsync_webhook_ingest::IngestServer::build(&settings, listener)?;
    tracing::info!(port = server.port(), "webhook-ingest listening");
    let outcome = server.run(calsync_runtime::shutdown_on_signal()).await;
    calsync_runtime::telemetry::shutdown();
    outcome
}
