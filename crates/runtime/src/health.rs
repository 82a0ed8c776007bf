//! `/healthz` (the process is alive), `/readyz` (its dependencies answer, read-only and
//! time-bounded) and `/metrics` (Prometheus text), mounted by every service.

use actix_web::{web, HttpResponse};
use futures_like::BoxFuture;
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::Arc;
use std::time::Duration;

/// Each readiness probe gets at most this long before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

mod futures_like {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

/// A named dependency check, e.g. ("database", ping).
pub type Probe = Arc<dyn Fn() -> BoxFuture<Result<(), String>> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Readiness {
    /// (name, probe, whether readiness depends on it)
    probes: Vec<(&'static str, Probe, bool)>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with<F, Fut>(mut self, name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.probes
            .push((name, Arc::new(move || Box::pin(f())), true));
        self
    }

    /// A dependency the service can serve without: reported in `/readyz`, never failing
    /// it (api's broker: availability and booking need only the database, and a sync
    /// request it cannot publish is recorded for the worker's scheduler anyway).
    pub fn reporting<F, Fut>(mut self, name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.probes
            .push((name, Arc::new(move || Box::pin(f())), false));
        self
    }

    /// Runs every probe concurrently; returns (all ok, per-probe report).
    pub async fn check(&self) -> (bool, serde_json::Value) {
        let checks = self.probes.iter().map(|(name, probe, required)| {
            let fut = probe();
            async move {
                let r = match tokio::time::timeout(PROBE_TIMEOUT, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
                };
                (*name, r, *required)
            }
        });
        let results = join_all(checks).await;
        let ok = results
            .iter()
            .all(|(_, r, required)| r.is_ok() || !required);
        let mut report = serde_json::Map::new();
        for (name, r, required) in results {
            let mut entry = match r {
                Ok(()) => serde_json::json!({"ok": true}),
                Err(e) => serde_json::json!({"ok": false, "error": e}),
            };
            if !required {
                entry["required"] = serde_json::Value::Bool(false);
            }
            report.insert(name.to_owned(), entry);
        }
        (ok, serde_json::Value::Object(report))
    }
}

async fn join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    // Probes are few (two or three); awaiting them in a tokio::join-free way keeps this
    // crate off the futures dependency while they still overlap via their own I/O.
    for h in handles {
        out.push(h.await);
    }
    out
}

/// Shared by the three routes.
#[derive(Clone)]
pub struct HealthState {
    pub service: &'static str,
    pub readiness: Readiness,
    pub registry: Registry,
}

impl HealthState {
    pub fn new(service: &'static str, readiness: Readiness) -> Self {
        let registry = Registry::new_custom(Some("calsync".into()), None).unwrap_or_default();
        Self {
            service,
            readiness,
            registry,
        }
    }
}

/// Mounts `/healthz`, `/readyz` and `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig, state: HealthState) {
    cfg.app_data(web::Data::new(state))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz(state: web::Data<HealthState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "service": state.service}))
}

async fn readyz(state: web::Data<HealthState>) -> HttpResponse {
    let (ok, report) = state.readiness.check().await;
    let body = serde_json::json!({"ready": ok, "service": state.service, "checks": report});
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<HealthState>) -> HttpResponse {
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut buf) {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(buf),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reporting_probe_shows_its_failure_without_failing_readiness() {
        let r = Readiness::new()
            .with("database", || async { Ok(()) })
            .reporting("broker", || async { Err("connection refused".to_owned()) });
        let (ok, report) = r.check().await;
        assert!(ok, "{report}");
        assert_eq!(report["broker"]["ok"], false);
        assert_eq!(report["broker"]["required"], false);
        let r = r.with("schema", || async {
            Err("2 migrations pending".to_owned())
        });
        assert!(!r.check().await.0);
    }
}
