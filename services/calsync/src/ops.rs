//! The one-shot operator commands: migrate, status, renew, sync. They talk to the
//! database and the broker directly, so they work while the api is down.

use calsync_connections::{webhook, Connections, SystemClock};
use calsync_core::webhook::WebhookState;
use calsync_db::{build_pool, connections, DbPool, PoolSettings};
use calsync_mq::{Publisher, Topology};
use calsync_runtime::Settings;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    if calsync_db::migrate::create_database_if_missing(&settings.database.url).await? {
        println!("created the database");
    }
    let applied = calsync_db::migrate::run_pending(&settings.database.url).await?;
    if applied.is_empty() {
        println!("database is up to date");
    } else {
        for m in applied {
            println!("applied {m}");
        }
    }
    Ok(())
}

fn pool(settings: &Settings) -> anyhow::Result<DbPool> {
    Ok(build_pool(&PoolSettings::new(
        &settings.database.url,
        "calsync-cli",
    ))?)
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let d = now - t;
            if d < Duration::minutes(1) {
                format!("{}s ago", d.num_seconds())
            } else if d < Duration::hours(2) {
                format!("{}m ago", d.num_minutes())
            } else {
                format!("{}h ago", d.num_hours())
            }
        }
    }
}

pub async fn status(settings: &Settings) -> anyhow::Result<()> {
    let pool = pool(settings)?;
    let mut db = pool.get().await?;
    let all = connections::list(&mut db, None).await?;
    let now = Utc::now();
    let stale_after = Duration::minutes(settings.availability.stale_after_minutes);
    println!(
        "{:<36}  {:<9}  {:<14}  {:<20}  {:<10}  ERROR",
        "CONNECTION", "PROVIDER", "WEBHOOK", "EXPIRES", "LAST SYNC"
    );
    let (mut healthy, mut expiring, mut failing) = (0, 0, 0);
    for c in &all {
        let state = webhook::state_of(c, now);
        let stale = c.last_sync_at.is_none_or(|t| now - t > stale_after);
        if c.needs_reauth || c.last_error.is_some() || stale {
            failing += 1;
        } else if state.needs_renewal() && state != WebhookState::Missing {
            expiring += 1;
        } else {
            healthy += 1;
        }
        let error = if c.needs_reauth {
            "needs re-authorisation".to_owned()
        } else {
            c.last_error
                .clone()
                .or_else(|| c.webhook_last_error.clone())
                .unwrap_or_default()
        };
        println!(
            "{:<36}  {:<9}  {:<14}  {:<20}  {:<10}  {}",
            c.id,
            c.provider,
            state.as_str(),
            c.webhook_expires_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into()),
            ago(c.last_sync_at, now),
            error.chars().take(80).collect::<String>()
        );
    }
    println!(
        "{} connections: {healthy} healthy, {expiring} expiring, {failing} failing",
        all.len()
    );
    Ok(())
}

/// The connection logic as the CLI uses it: requests recorded in the database and
/// announced on the broker; no provider is called from here.
fn connections(settings: &Settings) -> anyhow::Result<Connections> {
    let publisher = Publisher::new(&settings.amqp.url, Topology::new(&settings.amqp.prefix));
    Ok(Connections::from_settings(
        settings,
        pool(settings)?,
        publisher,
        reqwest::Client::new(),
        Arc::new(SystemClock),
        calsync_connections::owner_name("calsync-cli"),
    )?)
}

pub async fn renew(
    settings: &Settings,
    force: bool,
    specialist: Option<Uuid>,
) -> anyhow::Result<()> {
    let conns = connections(settings)?;
    let report = conns.renew_webhooks(specialist, force).await;
    conns.publisher.close().await;
    let report = report?;
    println!("{} webhooks queued for renewal", report.webhooks_to_renew);
    warn_unpublished(report.not_published);
    Ok(())
}

pub async fn sync(settings: &Settings, specialist: Option<Uuid>) -> anyhow::Result<()> {
    let conns = connections(settings)?;
    let report = conns.sync_all(specialist).await;
    conns.publisher.close().await;
    let report = report?;
    println!(
        "{} connections queued for sync ({} webhooks to renew)",
        report.enqueued, report.webhooks_to_renew
    );
    warn_unpublished(report.not_published);
    Ok(())
}

fn warn_unpublished(n: u64) {
    if n > 0 {
        eprintln!(
            "{n} notices were not confirmed by the broker; the sync-worker's scheduler picks them up within a minute"
        );
    }
}

pub async fn dlq_list(settings: &Settings, limit: usize) -> anyhow::Result<()> {
    let topology = Topology::new(&settings.amqp.prefix);
    let letters = calsync_mq::dlq::list(&settings.amqp.url, &topology, limit).await?;
    println!(
        "{:<32}  {:<36}  {:>8}  REASON",
        "ID", "CONNECTION", "ATTEMPTS"
    );
    for d in &letters {
        println!(
            "{:<32}  {:<36}  {:>8}  {}",
            d.id.as_deref().unwrap_or("-"),
            d.connection_id.as_deref().unwrap_or("(undecodable)"),
            d.attempts,
            d.reason.as_deref().unwrap_or("-")
        );
    }
    println!("{} dead letters shown", letters.len());
    Ok(())
}

pub async fn dlq_replay(settings: &Settings, all: bool, id: Option<String>) -> anyhow::Result<()> {
    use calsync_mq::dlq::Replay;
    let which = match (all, id) {
        (true, _) => Replay::All,
        (false, Some(id)) => Replay::Id(id),
        (false, None) => anyhow::bail!("name a message id or pass --all"),
    };
    let topology = Topology::new(&settings.amqp.prefix);
    let n = calsync_mq::dlq::replay(&settings.amqp.url, &topology, &which).await?;
    if n == 0 && matches!(which, Replay::Id(_)) {
        anyhow::bail!("no dead letter with that id");
    }
    println!("{n} dead letters put back on the work queue");
    Ok(())
}
