//! Tracing for binaries (libraries never install a subscriber): human or JSON lines,
//! filtered by `log.level` unless `RUST_LOG` says otherwise; with `otel.endpoint` set,
//! the same spans are exported as OpenTelemetry traces over OTLP/HTTP.
//!
//! One change is one trace across the queue: webhook-ingest stamps the W3C trace
//! context of its request into the `ChangeNotice` (`trace_context`), sync-worker makes
//! its sync span a child of it (`continue_trace`); provider calls send `traceparent`
//! themselves (`calsync_providers::http`, which sits beside this crate, not above it).

use crate::settings::{LogFormat, LogSettings, OtelSettings};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Log targets that print secrets below INFO.
const NEVER_BELOW_INFO: &[&str] = &["tokio_postgres"];

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The exporting provider, when `otel.endpoint` is set (flushed by `shutdown`).
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("otel.endpoint {0:?} is not an http(s) URL")]
    Endpoint(String),
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Installs the global subscriber once; later calls (tests) are no-ops. `service` is
/// the `service.name` of exported traces.
pub fn init(log: &LogSettings, otel: &OtelSettings, service: &str) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // At debug, tokio-postgres logs every statement's bound parameters (a feed URL, a
    // token): never, whatever level is asked for.
    for quiet in NEVER_BELOW_INFO {
        if let Ok(d) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour only on a terminal: `calsync up` pipes each service's output.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let lines = match log.format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Human => fmt::layer().with_target(false).with_ansi(ansi).boxed(),
    };
    // A collector that cannot be set up must not stop the service: it runs untraced
    // and says so once logging is up.
    let (traces, refused) = match exporting_layer(otel, service) {
        Ok(layer) => (layer, None),
        Err(e) => (None, Some(e)),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(traces)
        .try_init()
        .is_ok();
    if let (true, Some(e)) = (installed, refused) {
        tracing::error!(error.message = %e, "traces are not exported");
    }
}

/// The layer that exports spans, when an endpoint is configured; also installs the
/// W3C propagator and the global provider. For tests that run a collector in-process.
pub fn exporting_layer<S>(
    otel: &OtelSettings,
    service: &str,
) -> Result<Option<impl Layer<S>>, TelemetryError>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let endpoint = otel.endpoint.trim();
    if endpoint.is_empty() {
        return Ok(None);
    }
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TelemetryError::Endpoint(endpoint.to_owned()));
    }
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer(service.to_owned());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);
    Ok(Some(tracing_opentelemetry::layer().with_tracer(tracer)))
}

/// Sends what is buffered (tests, before they look at the collector).
pub fn flush() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
    }
}

/// Flushes and stops the exporter; a service calls it on its way out.
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.shutdown();
    }
}

/// The current span's W3C trace context as (traceparent, tracestate); empty strings
/// when traces are not exported.
pub fn trace_context() -> (String, String) {
    let mut carrier = HashMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    (
        carrier.remove(TRACEPARENT).unwrap_or_default(),
        carrier.remove(TRACESTATE).unwrap_or_default(),
    )
}

/// Makes `span` a child of the trace a message carried (nothing when it carried none,
/// or an unreadable one: a bad header from outside never fails the work).
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: &str) {
    if traceparent.is_empty() {
        return;
    }
    let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    if !tracestate.is_empty() {
        carrier.insert(TRACESTATE.to_owned(), tracestate.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    span.set_parent(cx);
}

/// For tests: quiet unless `TEST_LOG` is set, and captured per test.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = fmt()
            .with_env_filter(EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ))
            .with_test_writer()
            .try_init();
    }
}
