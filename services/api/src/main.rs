//! api binary: configuration, tracing, then the server until SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = calsync_runtime::Settings::for_service("calsync-api")?;
    let listener = std::net::TcpListener::bind(&settings.api.bind)?;
    let server = calsync_api::ApiServer::build(&settings, listener)?;
    tracing::info!(port = server.port(), "api listening");
    let outcome = server.run(calsync_runtime::shutdown_on_signal()).await;
    calsync_runtime::telemetry::shutdown();
    outcome
}
