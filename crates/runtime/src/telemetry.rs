//! Tracing for binaries (libraries never install a subscriber): human or JSON lines,
//! filtered by `log.level` unless `RUST_LOG` says otherwise.

use crate::settings::{LogFormat, LogSettings};
use tracing_subscriber::{fmt, EnvFilter};

/// Log targets that print secrets below INFO.
const NEVER_BELOW_INFO: &[&str] = &["tokio_postgres"];

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(log: &LogSettings) {
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
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
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
