//! Embedded migrations, run through diesel-async's connection wrapper so libpq is never
//! linked. An advisory lock keeps replicas that start together from migrating at once.

use crate::{DbError, DbPool};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Arbitrary but fixed: the advisory lock key all calsync processes agree on.
const MIGRATION_LOCK_KEY: i64 = 0x0063_616c_7379_6e63;

/// Applies pending migrations; returns the versions applied.
pub async fn run_pending(database_url: &str) -> Result<Vec<String>, DbError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, DbError> {
        use diesel::RunQueryDsl;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| DbError::Unavailable(Box::new(e)))?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)?;
        let result = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.iter().map(|m| m.to_string()).collect())
            .map_err(|e| DbError::Migration(e.to_string()));
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)?;
        result
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}

/// Why a database is not at the schema this binary was built for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error("{} migration(s) pending, oldest {}; run `calsync migrate`", .pending.len(), .pending.first().map_or("?", String::as_str))]
    Behind { pending: Vec<String> },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Versions of the migrations embedded in this binary, oldest first.
pub fn embedded_versions() -> Result<Vec<String>, DbError> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

/// Embedded migrations the database has not applied yet, oldest first. Versions the
/// database has and this binary lacks do not count: a newer release may have migrated
/// ahead during a rolling update, and expand/contract migrations keep this one working.
pub async fn pending(pool: &DbPool) -> Result<Vec<String>, DbError> {
    use diesel::sql_types::{Bool, Text};
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let mut conn = pool.get().await?;
    // Asking first keeps an unmigrated database an answer ("all pending"), not an error.
    let table: Exists =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS exists")
            .get_result(&mut conn)
            .await?;
    let applied: Vec<String> = if table.exists {
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<Version>(&mut conn)
            .await?
            .into_iter()
            .map(|v| v.version)
            .collect()
    } else {
        Vec::new()
    };
    Ok(embedded_versions()?
        .into_iter()
        .filter(|v| !applied.contains(v))
        .collect())
}

/// Readiness at the schema version: a service must not take traffic on a database that
/// lacks a migration it relies on, so `/readyz` fails until `calsync migrate` has run.
pub async fn check_schema(pool: &DbPool) -> Result<(), SchemaError> {
    let pending = pending(pool).await?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(SchemaError::Behind { pending })
    }
}

/// Reverts every applied migration (tests check that down migrations work).
pub async fn revert_all(database_url: &str) -> Result<usize, DbError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<usize, DbError> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| DbError::Unavailable(Box::new(e)))?;
        conn.revert_all_migrations(MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| DbError::Migration(e.to_string()))
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}

/// Creates the database named in `database_url` when it does not exist, by connecting
/// to the server's `postgres` database. Used by `calsync up` on a fresh machine.
pub async fn create_database_if_missing(database_url: &str) -> Result<bool, DbError> {
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, RunQueryDsl};

    let mut parsed = url_parts(database_url)?;
    let name = std::mem::take(&mut parsed.db);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(DbError::Migration(format!(
            "unsupported database name {name:?}"
        )));
    }
    let admin_url = format!("{}postgres{}", parsed.prefix, parsed.suffix);
    let mut conn = AsyncPgConnection::establish(&admin_url)
        .await
        .map_err(|e| DbError::Unavailable(Box::new(e)))?;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(&name)
            .get_result(&mut conn)
            .await?;
    if row.exists {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await?;
    Ok(true)
}

struct UrlParts {
    prefix: String,
    db: String,
    suffix: String,
}

/// Splits `postgres://user@host:port/db?opts` around the database name.
fn url_parts(url: &str) -> Result<UrlParts, DbError> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| DbError::Migration("database URL has no scheme".into()))?
        + 3;
    let path_start = url[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end + 1)
        .ok_or_else(|| DbError::Migration("database URL names no database".into()))?;
    let rest = &url[path_start..];
    let (db, suffix) = match rest.find('?') {
        Some(q) => (&rest[..q], &rest[q..]),
        None => (rest, ""),
    };
    Ok(UrlParts {
        prefix: url[..path_start].to_owned(),
        db: db.to_owned(),
        suffix: suffix.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_cut_out_of_the_url() {
        let p = url_parts("postgres://postgres@127.0.0.1:5432/calsync?sslmode=disable")
            .map_err(|e| e.to_string());
        let p = p
            .as_ref()
            .map(|p| (p.prefix.as_str(), p.db.as_str(), p.suffix.as_str()));
        assert_eq!(
            p,
            Ok((
                "postgres://postgres@127.0.0.1:5432/",
                "calsync",
                "?sslmode=disable"
            ))
        );
    }
}
