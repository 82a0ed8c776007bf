//! What every calsync service binary shares: configuration loading, tracing, the
//! health/readiness/metrics endpoints and graceful shutdown.

pub mod health;
pub mod http;
pub mod metrics;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use health::{HealthState, Readiness};
pub use settings::{Settings, StalePolicy};
pub use shutdown::shutdown_on_signal;
