//! The operator CLI as scripts and monitoring use it: `--version`, `status --json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_db::connections::{self, NewConnection, SyncSuccess};
use calsync_db::specialists;
use calsync_testkit::TestDatabase;
use std::process::{Command, Output};

fn calsync(args: &[&str], database_url: Option<&str>) -> Output {
    calsync_with(args, database_url, &[])
}

fn calsync_with(args: &[&str], database_url: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calsync"));
    cmd.args(args);
    if let Some(url) = database_url {
        cmd.env("CALSYNC__DATABASE__URL", url);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("calsync runs")
}

/// Ada, with one connection of `provider` to `external_id` (no tokens).
async fn ada_connected(
    conn: &mut calsync_db::AsyncPgConnection,
    provider: calsync_core::Provider,
    external_id: &str,
) -> connections::Connection {
    let specialist = specialists::upsert(conn, "ada", "Ada", "UTC", &[])
        .await
        .expect("specialist");
    connections::upsert(
        conn,
        &NewConnection {
            specialist_id: specialist,
            provider,
            external_calendar_id: external_id.into(),
            account_email: None,
            access_token_enc: None,
            refresh_token_enc: None,
            token_expires_at: None,
        },
    )
    .await
    .expect("connection")
}

#[test]
fn version_prints_the_package_version() {
    let out = calsync(&["--version"], None);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("calsync {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn status_json_reports_each_connection_and_a_summary() {
    let db = TestDatabase::new().await.expect("test database");
    let mut conn = db.pool().get().await.expect("connection");
    let connection = ada_connected(&mut conn, calsync_core::Provider::Google, "primary").await;
    drop(conn);

    let url = db.url().to_owned();
    let out = tokio::task::spawn_blocking(move || calsync(&["status", "--json"], Some(&url)))
        .await
        .expect("joined");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"total": 1, "healthy": 0, "expiring": 0, "failing": 1}),
        "never synced counts as failing: {doc}"
    );
    let c = &doc["connections"][0];
    assert_eq!(c["id"], connection.id.to_string());
    assert_eq!(c["specialistId"], connection.specialist_id.to_string());
    assert_eq!(c["provider"], "google");
    assert_eq!(c["health"], "failing");
    assert_eq!(c["webhook"], "missing");
    assert_eq!(c["lastSyncAt"], serde_json::Value::Null);
    assert_eq!(c["needsReauth"], false);
    assert_eq!(c["feedRefreshSecs"], serde_json::Value::Null);
    assert_eq!(c["feedPollSecs"], serde_json::Value::Null, "not a feed");
}

#[tokio::test]
async fn status_shows_what_a_feed_asks_for_next_to_the_interval_it_is_polled_at() {
    let db = TestDatabase::new().await.expect("test database");
    let mut conn = db.pool().get().await.expect("connection");
    let feed = ada_connected(
        &mut conn,
        calsync_core::Provider::Ics,
        "https://calendar.example.org/ada.ics",
    )
    .await;
    let now = chrono::Utc::now();
    let synced = SyncSuccess {
        ics_refresh_interval_secs: Some(3600),
        ..SyncSuccess::default()
    };
    connections::record_success(&mut conn, feed.id, &synced, now, now)
        .await
        .expect("sync recorded");
    drop(conn);

    let url = db.url().to_owned();
    let (json, text) = tokio::task::spawn_blocking(move || {
        let env = [("CALSYNC__ICS__POLL_INTERVAL_SECS", "600")];
        (
            calsync_with(&["status", "--json"], Some(&url), &env),
            calsync_with(&["status"], Some(&url), &env),
        )
    })
    .await
    .expect("joined");
    assert!(json.status.success() && text.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    let c = &doc["connections"][0];
    assert_eq!(c["provider"], "ics");
    assert_eq!(c["feedRefreshSecs"], 3600);
    assert_eq!(c["feedPollSecs"], 600);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("feed asks every 1h; polled every 10m"),
        "{text}"
    );
}

#[test]
fn help_succeeds_and_a_usage_error_exits_2() {
    assert!(calsync(&["--help"], None).status.success());
    assert_eq!(
        calsync(&["status", "--nonsense"], None).status.code(),
        Some(2)
    );
}
