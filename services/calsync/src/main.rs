//! `calsync`, the operator CLI: `up` runs the whole system, `migrate`, `status`,
//! `renew`, `sync`, and `ics busy` for debugging feeds.

mod ops;
mod up;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "calsync",
    about = "Keeps marketplace availability true to agents' calendars"
)]
struct Cli {
    /// Configuration file (else CALSYNC_CONFIG, else built-in defaults + environment).
    #[arg(long, global = true)]
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
    /// Connections, their webhooks and sync health.
    Status,
    /// Renew webhooks that are missing or expire within 24 hours (all with --force).
    Renew {
        #[arg(long)]
        force: bool,
        #[arg(long = "specialist")]
        specialist: Option<uuid::Uuid>,
    },
    /// Enqueue a sync of every enabled connection.
    Sync {
        #[arg(long = "specialist")]
        specialist: Option<uuid::Uuid>,
    },
    /// The dead-letter queue: notices that failed every attempt.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// ICS feed tools.
    Ics {
        #[command(subcommand)]
        command: IcsCommand,
    },
    /// Run one service in the foreground (what `up` starts for each).
    #[command(hide = true)]
    Serve { service: Service },
}

#[derive(Subcommand)]
enum IcsCommand {
    /// Busy intervals of a feed file: {"busy": [{"uid","start","end"}]}, UTC, sorted.
    Busy {
        file: PathBuf,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Zone of floating and all-day times (default UTC).
        #[arg(long)]
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
    Api,
    Ingest,
    Worker,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    if let Command::Ics {
        command: IcsCommand::Busy { file, from, to, tz },
    } = &cli.command
    {
        let code = calsync_ical::cli::run_busy_cli(file, from, to, tz.as_deref());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
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
    calsync_runtime::telemetry::init(&settings.log);
    match cli.command {
        Command::Up => up::run(settings).await,
        Command::Migrate => ops::migrate(&settings).await,
        Command::Status => ops::status(&settings).await,
        Command::Renew { force, specialist } => ops::renew(&settings, force, specialist).await,
        Command::Sync { specialist } => ops::sync(&settings, specialist).await,
        Command::Serve { service } => serve(settings, service).await,
        Command::Dlq { command } => match command {
            DlqCommand::List { limit } => ops::dlq_list(&settings, limit).await,
            DlqCommand::Replay { all, id } => ops::dlq_replay(&settings, all, id).await,
        },
        Command::Ics { .. } => Ok(()),
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
