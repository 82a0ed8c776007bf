//! Request metrics: a counter by route pattern and status, and a latency histogram by
//! route pattern. Patterns (`/api/integrations/{provider}/connect`), never raw paths, so
//! label values stay few.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use calsync_runtime::metrics::{counter_vec, histogram_vec};
use prometheus::{HistogramVec, IntCounterVec, Registry};
use std::time::Instant;

#[derive(Clone)]
pub struct RequestMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl RequestMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            requests: counter_vec(
                registry,
                "api_requests_total",
                "HTTP requests answered by api, by route pattern and status",
                &["route", "status"],
            ),
            latency: histogram_vec(
                registry,
                "api_request_duration_seconds",
                "Time to answer an api request, by route pattern",
                &["route"],
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
        }
    }
}

/// `actix_web::middleware::from_fn` body.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<actix_web::web::Data<RequestMetrics>>()
        .cloned();
    let started = Instant::now();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        m.requests
            .with_label_values(&[&route, res.status().as_str()])
            .inc();
        m.latency
            .with_label_values(&[&route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
