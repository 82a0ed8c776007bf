//! Test logging: one subscriber per test binary, installed on first use, writing
//! through the test harness's capture. Quiet unless `TEST_LOG` is set; `RUST_LOG`
//! filters (default `info`).

use std::sync::Once;
use tracing_subscriber::EnvFilter;

static INIT: Once = Once::new();

/// Installs the test subscriber once; later calls (and a subscriber someone else
/// installed first) are left alone.
pub fn init_test_logging() {
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}
