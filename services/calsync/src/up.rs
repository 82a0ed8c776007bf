//! `calsync up`: the whole system in one process tree. Creates the database if missing,
//! migrates, declares the queues, starts the provider sandboxes when no real app is
//! configured, then runs api, webhook-ingest and sync-worker as child processes with
//! their output prefixed, and stops them all cleanly on Ctrl-C / SIGTERM.

use base64::Engine;
use calsync_runtime::Settings;
use calsync_sandboxes::google::{GoogleSandbox, GoogleSandboxConfig};
use calsync_sandboxes::graph::{GraphSandbox, GraphSandboxConfig};
use secrecy::ExposeSecret;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const GOOGLE_SANDBOX: &str = "127.0.0.1:8091";
const GRAPH_SANDBOX: &str = "127.0.0.1:8092";
/// How long children get to drain after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Development-only secrets, used when none are configured (with a warning).
const DEV_OPERATOR_TOKEN: &str = "dev-operator-token";
const DEV_MARKETPLACE_TOKEN: &str = "dev-marketplace-token";
const DEV_JWT_SECRET: &str = "dev-jwt-secret-change-me";
const DEV_WEBHOOK_SECRET: &str = "dev-webhook-secret-change-me";
const DEV_KEY: &[u8; 32] = b"calsync-dev-key-never-production";

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let mut env: Vec<(String, String)> = Vec::new();
    dev_secrets(&settings, &mut env);

    let mut sandboxes = (None, None);
    if !settings.google_configured() {
        let cfg = GoogleSandboxConfig {
            bind: GOOGLE_SANDBOX.parse()?,
            ..GoogleSandboxConfig::default()
        };
        let (id, secret) = (cfg.client_id.clone(), cfg.client_secret.clone());
        let sb = GoogleSandbox::start(cfg).await?;
        env.extend([
            ("CALSYNC__GOOGLE__CLIENT_ID".into(), id),
            ("CALSYNC__GOOGLE__CLIENT_SECRET".into(), secret),
            ("CALSYNC__GOOGLE__API_BASE".into(), sb.api_base()),
            ("CALSYNC__GOOGLE__AUTH_URL".into(), sb.auth_url()),
            ("CALSYNC__GOOGLE__TOKEN_URL".into(), sb.token_url()),
        ]);
        println!(
            "[calsync] Google sandbox on {} (no Google client id configured)",
            sb.base_url()
        );
        sandboxes.0 = Some(sb);
    }
    if !settings.microsoft_configured() {
        let cfg = GraphSandboxConfig {
            bind: GRAPH_SANDBOX.parse()?,
            ..GraphSandboxConfig::default()
        };
        let (id, secret) = (cfg.client_id.clone(), cfg.client_secret.clone());
        let sb = GraphSandbox::start(cfg).await?;
        env.extend([
            ("CALSYNC__MICROSOFT__CLIENT_ID".into(), id),
            ("CALSYNC__MICROSOFT__CLIENT_SECRET".into(), secret),
            ("CALSYNC__MICROSOFT__GRAPH_BASE".into(), sb.graph_base()),
            ("CALSYNC__MICROSOFT__AUTH_URL".into(), sb.auth_url()),
            ("CALSYNC__MICROSOFT__TOKEN_URL".into(), sb.token_url()),
        ]);
        println!(
            "[calsync] Microsoft Graph sandbox on {} (no Microsoft client id configured)",
            sb.base_url()
        );
        sandboxes.1 = Some(sb);
    }

    crate::ops::migrate(&settings).await?;
    declare_topology(&settings).await?;

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for (name, arg) in [
        ("api", "api"),
        ("webhook-ingest", "ingest"),
        ("sync-worker", "worker"),
    ] {
        let mut cmd = Command::new(&exe);
        cmd.arg("serve")
            .arg(arg)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        prefix_output(name, &mut child);
        children.push((name, child));
    }
    println!(
        "[calsync] up: api http://{} · webhook-ingest http://{} · sync-worker http://{} — Ctrl-C stops everything",
        settings.api.bind, settings.ingest.bind, settings.worker.bind
    );

    let shutdown = calsync_runtime::shutdown_on_signal();
    let exited = tokio::select! {
        _ = shutdown.cancelled() => None,
        name = first_exit(&mut children) => Some(name),
    };
    if let Some(name) = exited {
        eprintln!("[calsync] {name} exited; stopping the others");
    }
    stop_all(&mut children).await;
    if let Some(sb) = sandboxes.0 {
        sb.stop().await;
    }
    if let Some(sb) = sandboxes.1 {
        sb.stop().await;
    }
    match exited {
        Some(name) => anyhow::bail!("{name} stopped unexpectedly"),
        None => Ok(()),
    }
}

fn dev_secrets(settings: &Settings, env: &mut Vec<(String, String)>) {
    let mut fill = |key: &str, empty: bool, value: String| {
        if empty {
            eprintln!("[calsync] WARNING: {key} is not set; using a development value (never in production)");
            env.push((key.to_owned(), value));
        }
    };
    fill(
        "CALSYNC__API__OPERATOR_TOKEN",
        settings.api.operator_token.expose_secret().is_empty(),
        DEV_OPERATOR_TOKEN.into(),
    );
    fill(
        "CALSYNC__API__MARKETPLACE_TOKEN",
        settings.api.marketplace_token.expose_secret().is_empty(),
        DEV_MARKETPLACE_TOKEN.into(),
    );
    fill(
        "CALSYNC__API__JWT_SECRET",
        settings.api.jwt_secret.expose_secret().is_empty(),
        DEV_JWT_SECRET.into(),
    );
    fill(
        "CALSYNC__SECURITY__WEBHOOK_SECRET",
        settings.security.webhook_secret.expose_secret().is_empty(),
        DEV_WEBHOOK_SECRET.into(),
    );
    fill(
        "CALSYNC__SECURITY__ENCRYPTION_KEY",
        settings.security.encryption_key.expose_secret().is_empty(),
        base64::engine::general_purpose::STANDARD.encode(DEV_KEY),
    );
}

async fn declare_topology(settings: &Settings) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(250);
    for attempt in 1..=8 {
        let result = async {
            let conn = calsync_mq::connect(&settings.amqp.url).await?;
            let ch = conn.create_channel().await?;
            calsync_mq::declare(&ch, &calsync_mq::Topology::new(&settings.amqp.prefix)).await?;
            let _ = conn.close(200, "declared").await;
            anyhow::Ok(())
        }
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 8 => {
                eprintln!("[calsync] broker not reachable yet ({e}); retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn prefix_output(name: &'static str, child: &mut Child) {
    if let Some(out) = child.stdout.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("[{name}] {line}");
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{name}] {line}");
            }
        });
    }
}

async fn first_exit(children: &mut [(&'static str, Child)]) -> &'static str {
    loop {
        for (name, child) in children.iter_mut() {
            if let Ok(Some(_)) = child.try_wait() {
                return name;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn stop_all(children: &mut [(&'static str, Child)]) {
    for (_, child) in children.iter() {
        if let Some(pid) = child.id() {
            // SIGTERM lets each service drain; `kill` avoids unsafe libc calls here.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
    }
    for (name, child) in children.iter_mut() {
        match tokio::time::timeout(STOP_GRACE, child.wait()).await {
            Ok(_) => println!("[calsync] {name} stopped"),
            Err(_) => {
                let _ = child.kill().await;
                eprintln!("[calsync] {name} did not stop in time; killed");
            }
        }
    }
}
