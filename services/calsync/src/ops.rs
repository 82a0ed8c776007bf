//! The one-shot operator commands: migrate, status, renew, sync. They talk to the
//! database and the broker directly, so they work while the api is down.

use calsync_connections::{webhook, Connections, SystemClock};
use calsync_core::webhook::WebhookState;
use calsync_core::Provider;
use calsync_db::calendars::{self, Calendar};
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

/// A whole-unit interval for people: `90s`, `10m`, `12h`, `2d`.
fn every(secs: u64) -> String {
    match secs {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What an ICS feed asks for next to what it gets: the configured interval alone decides
/// polling, so a feed asking for 12 hours is still polled every 10 minutes.
fn feed_line(refresh_secs: Option<i32>, poll_secs: u64) -> String {
    let asks = refresh_secs
        .and_then(|s| u64::try_from(s).ok())
        .map_or_else(
            || "feed names no refresh interval".to_owned(),
            |s| format!("feed asks every {}", every(s)),
        );
    format!("{asks}; polled every {}", every(poll_secs))
}

/// How `status` judges one connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Health {
    Healthy,
    Expiring,
    Failing,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Expiring => "expiring",
            Health::Failing => "failing",
        }
    }
}

struct StatusRow<'a> {
    connection: &'a connections::Connection,
    calendars: Vec<&'a Calendar>,
    webhook: WebhookState,
    health: Health,
    /// What needs attention, if anything: re-authorisation, else the last error.
    error: Option<String>,
}

fn assess<'a>(
    c: &'a connections::Connection,
    cals: &'a [Calendar],
    now: DateTime<Utc>,
    stale_after: Duration,
) -> StatusRow<'a> {
    let webhook = webhook::connection_state(c, cals, now);
    let mine: Vec<&Calendar> = cals.iter().filter(|k| k.connection_id == c.id).collect();
    let stale = c.last_sync_at.is_none_or(|t| now - t > stale_after);
    let health = if c.needs_reauth || c.last_error.is_some() || stale {
        Health::Failing
    } else if webhook.needs_renewal() && webhook != WebhookState::Missing {
        Health::Expiring
    } else {
        Health::Healthy
    };
    let error = if c.needs_reauth {
        Some("needs re-authorisation".to_owned())
    } else {
        c.last_error
            .clone()
            .or_else(|| mine.iter().find_map(|k| k.webhook_last_error.clone()))
    };
    StatusRow {
        connection: c,
        calendars: mine,
        webhook,
        health,
        error,
    }
}

/// The earliest expiry among the connection's blocking calendars' webhooks.
fn earliest_expiry(r: &StatusRow<'_>) -> Option<DateTime<Utc>> {
    r.calendars
        .iter()
        .filter(|k| k.blocking)
        .filter_map(|k| k.webhook_expires_at)
        .min()
}

fn expiry_text(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The table for people, or with `json` one document for scripts:
/// `{"connections": [...], "summary": {"total", "healthy", "expiring", "failing"}}`.
/// ICS feeds also show the refresh interval the feed asks for (`feedRefreshSecs`) next to
/// the configured one they are polled at (`feedPollSecs`).
pub async fn status(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let pool = pool(settings)?;
    let mut db = pool.get().await?;
    let all = connections::list(&mut db, None).await?;
    let ids: Vec<Uuid> = all.iter().map(|c| c.id).collect();
    let cals = calendars::for_connections(&mut db, &ids).await?;
    let now = Utc::now();
    let stale_after = Duration::minutes(settings.availability.stale_after_minutes);
    let ics_poll_secs = settings.ics.poll_interval_secs;
    let rows: Vec<StatusRow<'_>> = all
        .iter()
        .map(|c| assess(c, &cals, now, stale_after))
        .collect();
    let count = |h: Health| rows.iter().filter(|r| r.health == h).count();
    let (healthy, expiring, failing) = (
        count(Health::Healthy),
        count(Health::Expiring),
        count(Health::Failing),
    );
    if json {
        let connections: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let c = r.connection;
                let calendars: Vec<serde_json::Value> = r
                    .calendars
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "calendarId": k.calendar_id,
                            "primary": k.is_primary,
                            "blocking": k.blocking,
                            "writeTo": k.write_to,
                            "webhook": webhook::state_of(c.provider, k, now).as_str(),
                            "webhookExpiresAt": k.webhook_expires_at,
                            "lastSyncAt": k.last_sync_at,
                            "error": k.last_error.clone().or_else(|| k.webhook_last_error.clone()),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "id": c.id,
                    "specialistId": c.specialist_id,
                    "provider": c.provider,
                    "syncEnabled": c.sync_enabled,
                    "health": r.health.as_str(),
                    "webhook": r.webhook.as_str(),
                    "webhookExpiresAt": earliest_expiry(r),
                    "calendars": calendars,
                    "lastSyncAt": c.last_sync_at,
                    "needsReauth": c.needs_reauth,
                    "consecutiveFailures": c.consecutive_failures,
                    "error": r.error,
                    "feedRefreshSecs": c.ics_refresh_interval_secs,
                    "feedPollSecs": (c.provider == Provider::Ics).then_some(ics_poll_secs),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "connections": connections,
            "summary": {
                "total": rows.len(),
                "healthy": healthy,
                "expiring": expiring,
                "failing": failing,
            },
        });
        println!("{doc}");
        return Ok(());
    }
    println!(
        "{:<36}  {:<9}  {:<14}  {:<20}  {:<10}  ERROR",
        "CONNECTION", "PROVIDER", "WEBHOOK", "EXPIRES", "LAST SYNC"
    );
    for r in &rows {
        let c = r.connection;
        println!(
            "{:<36}  {:<9}  {:<14}  {:<20}  {:<10}  {}",
            c.id,
            c.provider,
            r.webhook.as_str(),
            expiry_text(earliest_expiry(r)),
            ago(c.last_sync_at, now),
            r.error
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(80)
                .collect::<String>()
        );
        if c.provider == Provider::Ics {
            println!(
                "  {}",
                feed_line(c.ics_refresh_interval_secs, ics_poll_secs)
            );
        }
        // Each calendar of an account on its own line under its connection.
        for k in r.calendars.iter().filter(|k| k.blocking || k.has_webhook()) {
            println!(
                "  {:<34}  {:<9}  {:<14}  {:<20}  {:<10}  {}",
                format!("calendar {}", k.calendar_id)
                    .chars()
                    .take(34)
                    .collect::<String>(),
                if k.blocking { "blocking" } else { "-" },
                webhook::state_of(c.provider, k, now).as_str(),
                expiry_text(k.webhook_expires_at),
                ago(k.last_sync_at, now),
                k.last_error
                    .as_deref()
                    .or(k.webhook_last_error.as_deref())
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect::<String>()
            );
        }
    }
    println!(
        "{} connections: {healthy} healthy, {expiring} expiring, {failing} failing",
        rows.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_line_names_what_the_feed_asks_and_what_it_gets() {
        assert_eq!(
            feed_line(Some(3600), 600),
            "feed asks every 1h; polled every 10m"
        );
        assert_eq!(
            feed_line(None, 90),
            "feed names no refresh interval; polled every 90s"
        );
        assert_eq!(every(2 * 86_400), "2d");
        assert_eq!(every(5400), "90m");
    }
}
