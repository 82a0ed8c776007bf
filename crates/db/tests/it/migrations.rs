//! The embedded migrations go up, down and up again on an empty database, and the
//! second "up" builds exactly the catalog the first one did.

use crate::support::within;
use calsync_db::migrate;
use calsync_testkit::TestDatabase;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every table, column, constraint and index of the public schema, one line each,
/// sorted. Diesel's own bookkeeping table is left out: it survives `revert_all`.
const CATALOG: &str = "
    SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
           || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, '-') AS line
      FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
    UNION ALL
    SELECT 'constraint ' || cl.relname || '.' || co.conname || ' ' || pg_get_constraintdef(co.oid)
      FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
      JOIN pg_namespace n ON n.oid = cl.relnamespace
     WHERE n.nspname = 'public' AND cl.relname <> '__diesel_schema_migrations'
    UNION ALL
    SELECT 'index ' || indexname || ' ' || indexdef
      FROM pg_indexes
     WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'
    ORDER BY 1";

async fn catalog(url: &str) -> Vec<String> {
    let mut conn = within("connecting", AsyncPgConnection::establish(url))
        .await
        .expect("connection");
    let rows: Vec<Line> = within(
        "reading the catalog",
        diesel::sql_query(CATALOG).load(&mut conn),
    )
    .await
    .expect("catalog");
    rows.into_iter().map(|r| r.line).collect()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_to_the_same_catalog() {
    let db = within("creating an empty database", TestDatabase::empty())
        .await
        .expect("empty database");
    assert!(
        catalog(db.url()).await.is_empty(),
        "a new database has no tables"
    );

    let applied = within("first up", migrate::run_pending(db.url()))
        .await
        .expect("up");
    assert!(
        !applied.is_empty(),
        "an empty database has pending migrations"
    );
    let first = catalog(db.url()).await;
    for expected in [
        "constraint appointments.appointments_no_overlap EXCLUDE USING gist",
        "constraint external_events.external_events_connection_event_key UNIQUE",
        "index external_events_busy_idx",
        "column calendar_connections.lease_owner text nullable=YES",
    ] {
        assert!(
            first.iter().any(|l| l.starts_with(expected)),
            "catalog lacks {expected:?}:\n{}",
            first.join("\n")
        );
    }
    let again = within("second up", migrate::run_pending(db.url()))
        .await
        .expect("noop up");
    assert!(
        again.is_empty(),
        "nothing is pending right after migrating: {again:?}"
    );

    let reverted = within("down", migrate::revert_all(db.url()))
        .await
        .expect("down");
    assert_eq!(
        reverted,
        applied.len(),
        "every applied migration is reverted"
    );
    let after_down = catalog(db.url()).await;
    assert!(
        after_down.is_empty(),
        "down leaves tables behind:\n{}",
        after_down.join("\n")
    );

    let reapplied = within("up again", migrate::run_pending(db.url()))
        .await
        .expect("up again");
    assert_eq!(reapplied, applied, "the same migrations apply again");
    let second = catalog(db.url()).await;
    assert_eq!(first, second, "up after down builds a different catalog");
}

async fn execute(url: &str, sql: &str) {
    let mut conn = within("connecting", AsyncPgConnection::establish(url))
        .await
        .expect("connection");
    within(sql, diesel::sql_query(sql).execute(&mut conn))
        .await
        .expect("statement");
}

#[tokio::test]
async fn the_schema_is_current_only_when_every_embedded_migration_is_applied() {
    let db = within("creating an empty database", TestDatabase::empty())
        .await
        .expect("empty database");
    let embedded = migrate::embedded_versions().expect("embedded versions");
    assert!(!embedded.is_empty(), "the binary embeds migrations");

    let pending = within("pending before", migrate::pending(db.pool()))
        .await
        .expect("pending");
    assert_eq!(pending, embedded, "an empty database lacks every migration");
    let behind = within("check before", migrate::check_schema(db.pool())).await;
    assert!(
        matches!(&behind, Err(migrate::SchemaError::Behind { pending }) if pending.len() == embedded.len()),
        "{behind:?}"
    );

    let applied = within("up", migrate::run_pending(db.url()))
        .await
        .expect("up");
    assert_eq!(applied, embedded, "migrate applies what pending named");
    within("check after", migrate::check_schema(db.pool()))
        .await
        .expect("current after migrating");

    // A binary newer than its database: the newest migration is missing again.
    let newest = embedded.last().expect("a newest migration");
    execute(
        db.url(),
        &format!("DELETE FROM __diesel_schema_migrations WHERE version = '{newest}'"),
    )
    .await;
    let pending = within("pending again", migrate::pending(db.pool()))
        .await
        .expect("pending");
    assert_eq!(pending, std::slice::from_ref(newest));
    let behind = within("check again", migrate::check_schema(db.pool()))
        .await
        .map_err(|e| e.to_string());
    assert!(
        behind.as_ref().is_err_and(|e| e.contains(newest.as_str())),
        "the readiness message names the missing migration: {behind:?}"
    );

    // A database a newer release already migrated ahead still serves this binary.
    execute(
        db.url(),
        &format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{newest}'), ('99991231235959')"
        ),
    )
    .await;
    within("check ahead", migrate::check_schema(db.pool()))
        .await
        .expect("a database ahead of the binary is current for it");
}
