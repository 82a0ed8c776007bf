//! `calsync`, the operator CLI: `up` runs the whole system, `migrate`, `status`,
//! `renew`, `sync`, `ics busy` for debugging feeds, and `healthcheck` for containers.

mod healthcheck;
mod ops;
mod up;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "calsync",
    version,
    about = "Keeps marketplace availability true to agents' calendars",
    after_help = "Configuration: built-in defaults, then --config FILE (or CALSYNC_CONFIG), \
                  then CALSYNC__SECTION__KEY environment variables (see README.md)."
)]
struct Cli {
    /// Configuration file (else CALSYNC_CONFIG, else built-in defaults + environment).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if missing, migrate, declare the queues and run all three
    /// services (with provider sandboxes when no Google/Microsoft app is configured).
    Up,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Connections, their webhooks and sync health; exits 0 whatever their state.
    Status {
        /// One JSON document on stdout instead of the table, for scripts and monitoring.
        #[arg(long)]
        json: bool,
    },
    /// Renew webhooks that are missing or expire within 24 hours (all with --force).
    Renew {
        /// Renew every webhook, not only those missing or about to expire.
        #[arg(long)]
        force: bool,
        /// Only this specialist's connections (the id `POST /api/specialists` returned).
        #[arg(long = "specialist", value_name = "ID")]
        specialist: Option<uuid::Uuid>,
    },
    /// Enqueue a sync of every enabled connection.
    Sync {
        /// Only this specialist's connections (the id `POST /api/specialists` returned).
        #[arg(long = "specialist", value_name = "ID")]
        specialist: Option<uuid::Uuid>,
    },
    /// The dead-letter queue: notices that failed every attempt.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Exit 0 when URL answers 2xx within 3 seconds, else 1: the container image's
    /// HEALTHCHECK (the image has no curl).
    Healthcheck {
        /// An http:// URL, e.g. http://127.0.0.1:8081/readyz (default: the api's).
        #[arg(
            env = "CALSYNC_HEALTHCHECK_URL",
            default_value = "http://127.0.0.1:8080/readyz"
        )]
        url: String,
    },
    /// ICS feed tools.
    Ics {
        #[command(subcommand)]
        command: IcsCommand,
    },
    /// Run one service in the foreground (what `up` starts for each).
    #[command(hide = true)]
    Serve {
        /// Which service.
        service: Service,
    },
}

#[derive(Subcommand)]
enum IcsCommand {
    /// Busy intervals of a feed file: {"busy": [{"uid","start","end"}]}, UTC, sorted.
    Busy {
        /// The .ics file to read.
        file: PathBuf,
        /// Start of the window, RFC 3339 (e.g. 2026-03-02T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        from: String,
        /// End of the window, RFC 3339, exclusive.
        #[arg(long, value_name = "TIME")]
        to: String,
        /// Zone of floating and all-day times (default UTC).
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// What is in the dead-letter queue and why (nothing is consumed).
    List {
        /// Show at most this many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Put dead letters back on the work queue, their attempts starting over.
    Replay {
        /// Replay every message in the dead-letter queue.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// The message id `calsync dlq list` shows.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Service {
    /// api: availability, booking, the portal, integrations.
    Api,
    /// webhook-ingest: provider push notifications.
    Ingest,
    /// sync-worker: queue consumer and scheduler.
    Worker,
}

impl Service {
    /// The `service.name` its traces carry, as the single-service binaries name theirs.
    fn trace_name(&self) -> &'static str {
        match self {
            Service::Api => "calsync-api",
            Service::Ingest => "calsync-webhook-ingest",
            Service::Worker => "calsync-sync-worker",
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // 0 for --help and --version (the image's default command is --help), 2 for
            // a usage error.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if let Command::Ics {
        command: IcsCommand::Busy { file, from, to, tz },
    } = &cli.command
    {
        let code = calsync_ical::cli::run_busy_cli(file, from, to, tz.as_deref());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    // Needs no configuration: a container probe must not fail on settings.
    if let Command::Healthcheck { url } = &cli.command {
        return healthcheck::run(url);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("calsync: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("calsync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = calsync_runtime::Settings::load(cli.config.as_deref())?;
    let name = match &cli.command {
        Command::Serve { service } => service.trace_name(),
        _ => "calsync",
    };
    calsync_runtime::telemetry::init(&settings.log, &settings.otel, name);
    let outcome = command(cli, settings).await;
    calsync_runtime::telemetry::shutdown();
    outcome
}

async fn command(cli: Cli, settings: calsync_runtime::Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Up => up::run(settings).await,
        Command::Migrate => ops::migrate(&settings).await,
        Command::Status { json } => ops::status(&settings, json).await,
        Command::Renew { force, specialist } => ops::renew(&settings, force, specialist).await,
        Command::Sync { specialist } => ops::sync(&settings, specialist).await,
        Command::Serve { service } => serve(settings, service).await,
        Command::Dlq { command } => match command {
            DlqCommand::List { limit } => ops::dlq_list(&settings, limit).await,
            DlqCommand::Replay { all, id } => ops::dlq_replay(&settings, all, id).await,
        },
        Command::Ics { .. } | Command::Healthcheck { .. } => Ok(()),
    }
}

async fn serve(settings: calsync_runtime::Settings, service: Service) -> anyhow::Result<()> {
    settings.validate()?;
    let shutdown = calsync_runtime::shutdown_on_signal();
    match service {
        Service::Api => {
            let l = std::net::TcpListener::bind(&settings.api.bind)?;
            calsync_api::ApiServer::build(&settings, l)?
                .run(shutdown)
                .await
        }
        Service::Ingest => {
            let l = std::net::TcpListener::bind(&settings.ingest.bind)?;
            calsync_webhook_ingest::IngestServer::build(&settings, l)?
                .run(shutdown)
                .await
        }
        Service::Worker => {
            let l = std::net::TcpListener::bind(&settings.worker.bind)?;
            calsync_sync_worker::WorkerServer::build(&settings, l)?
                .run(shutdown)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Subcommands without an about and arguments without help, as `calsync sub --arg`.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() {
                out.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                out.push(path.clone());
            }
            undocumented(sub, &path, out);
        }
    }

    #[test]
    fn every_subcommand_and_argument_has_help_text() {
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "calsync", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
        Cli::command().debug_assert();
    }

    #[test]
    fn status_takes_json() {
        let cli = Cli::try_parse_from(["calsync", "status", "--json"]).map_err(|e| e.to_string());
        assert!(
            matches!(
                cli,
                Ok(Cli {
                    command: Command::Status { json: true },
                    ..
                })
            ),
            "status --json parses"
        );
    }
}
