//! Tracing across the queue (issue 16.3): with `otel.endpoint` set, one trace spans a
//! provider's push through webhook-ingest, the broker and sync-worker to the provider
//! fetch and the commit. The collector is an OTLP/HTTP receiver in this process. A test
//! binary of its own: the exporting subscriber is global to the process.

#[allow(dead_code)]
#[path = "../e2e/provider.rs"]
mod provider;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

use actix_web::{web, App, HttpResponse, HttpServer};
use calsync_proto::Message;
use calsync_runtime::settings::OtelSettings;
use provider::google_event;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::{at, eventually, test_day, Options, TestSystem, GOOGLE_USER};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The parts of OTLP's `ExportTraceServiceRequest` this test reads (prost skips the rest).
#[derive(Clone, PartialEq, Message)]
struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
struct ResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, Message)]
struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    spans: Vec<Span>,
}

#[derive(Clone, PartialEq, Message)]
struct Span {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    name: String,
}

type Received = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP collector on an ephemeral port; returns its base URL.
fn collector(received: Received) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        let received = Arc::clone(&received);
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let received = Arc::clone(&received);
                async move {
                    match ExportTraceServiceRequest::decode(body.as_ref()) {
                        Ok(req) => {
                            let spans = req
                                .resource_spans
                                .into_iter()
                                .flat_map(|r| r.scope_spans)
                                .flat_map(|s| s.spans);
                            received
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .extend(spans);
                            HttpResponse::Ok()
                                .content_type("application/x-protobuf")
                                .finish()
                        }
                        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
                    }
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(format!("http://127.0.0.1:{port}"))
}

/// The trace holding a push's span, the sync it caused as its child, and a provider
/// fetch and a commit below that sync; `None` while it is incomplete.
fn push_to_commit(spans: &[Span]) -> Option<String> {
    let by_id: HashMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let parent_named = |s: &Span, name: &str| {
        by_id
            .get(s.parent_span_id.as_slice())
            .is_some_and(|p| p.name == name)
    };
    spans
        .iter()
        .filter(|s| s.name == "sync")
        .filter(|sync| parent_named(sync, "google_push"))
        .find(|sync| {
            let under_sync = |name: &str| {
                spans.iter().any(|s| {
                    s.name == name
                        && s.trace_id == sync.trace_id
                        && ancestors_reach(&by_id, s, &sync.span_id)
                })
            };
            under_sync("commit") && under_sync("provider.request")
        })
        .map(|sync| hex(&sync.trace_id))
}

fn ancestors_reach(by_id: &HashMap<&[u8], &Span>, from: &Span, target: &[u8]) -> bool {
    let mut at = from;
    for _ in 0..16 {
        if at.parent_span_id == target {
            return true;
        }
        match by_id.get(at.parent_span_id.as_slice()) {
            Some(p) => at = p,
            None => return false,
        }
    }
    false
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_covers_a_push_its_sync_the_provider_fetch_and_the_commit() -> anyhow::Result<()>
{
    let received = Received::default();
    let endpoint = collector(Arc::clone(&received))?;
    let layer =
        calsync_runtime::telemetry::exporting_layer(&OtelSettings { endpoint }, "calsync-test")?
            .ok_or_else(|| anyhow::anyhow!("an endpoint was set, so a layer is made"))?;
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(layer)
        .try_init()?;

    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist("agent-otel").await?;
    let connection = sys.connect_and_sync("google", specialist).await?;
    sys.wait_idle(connection).await?;

    // A coworker's meeting: the sandbox pushes to webhook-ingest, the worker syncs.
    let day = test_day();
    let id = sys
        .google
        .insert_event(GOOGLE_USER, google_event("Traced", at(day, 10, 0), 30))?;
    eventually("the meeting stored", || async {
        Ok(sys
            .events(connection)
            .await?
            .iter()
            .any(|e| e.provider_event_id == id))
    })
    .await?;

    let found = eventually("one trace from push to commit at the collector", || async {
        // Flushing waits on the exporter's HTTP call: off the runtime's threads.
        tokio::task::spawn_blocking(calsync_runtime::telemetry::flush).await?;
        let spans = received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(push_to_commit(&spans).is_some())
    })
    .await;
    if found.is_err() {
        let spans = received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let names: Vec<String> = spans
            .iter()
            .map(|s| {
                let parent = spans
                    .iter()
                    .find(|p| p.span_id == s.parent_span_id)
                    .map_or("-", |p| p.name.as_str());
                format!("{} {} <- {}", &hex(&s.trace_id)[..8], s.name, parent)
            })
            .collect();
        eprintln!("received {} spans:\n{}", spans.len(), names.join("\n"));
    }
    found?;
    sys.shutdown().await
}
