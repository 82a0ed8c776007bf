//! Registering metrics on a service's own registry (not the process-global one, so
//! that `calsync up` can run three services in one process without clashes).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

#[expect(
    clippy::expect_used,
    reason = "metric definitions are static; a bad one is a programming error caught by any test"
)]
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    let _ = registry.register(Box::new(c.clone()));
    c
}

#[expect(
    clippy::expect_used,
    reason = "metric definitions are static; a bad one is a programming error caught by any test"
)]
pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    let _ = registry.register(Box::new(g.clone()));
    g
}

#[expect(
    clippy::expect_used,
    reason = "metric definitions are static; a bad one is a programming error caught by any test"
)]
pub fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric definition");
    let _ = registry.register(Box::new(h.clone()));
    h
}
