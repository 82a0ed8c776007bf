//! A PostgreSQL database per test, cloned from a migrated template so a test pays
//! milliseconds, not a migration run. The template's name carries a hash of
//! `migrations/`, so a changed migration builds a new one. Dropped with the test.

use anyhow::Context;
use calsync_db::{build_pool, DbPool, PoolSettings};
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::sync::OnceCell;

/// Server to create test databases on; override with `CALSYNC_TEST_DATABASE_URL`
/// (a URL of the server's maintenance database).
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const TEST_DB_PREFIX: &str = "calsync_t_";
/// Serialises template builds across test binaries running at once.
const TEMPLATE_LOCK_KEY: i64 = 0x7465_6d70_6c61_7465;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

fn admin_url() -> String {
    std::env::var("CALSYNC_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into())
}

/// `admin_url` with its database name replaced.
pub fn url_for(db: &str) -> String {
    let admin = admin_url();
    match admin.rfind('/') {
        Some(i) => format!("{}/{db}", &admin[..i]),
        None => admin,
    }
}

fn migrations_hash() -> anyhow::Result<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        for f in ["up.sql", "down.sql"] {
            let p = entry.path().join(f);
            if p.exists() {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(
            f.to_string_lossy()
                .rsplit("migrations")
                .next()
                .unwrap_or_default(),
        );
        h.update(std::fs::read(&f)?);
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    datname: String,
}

async fn ensure_template() -> anyhow::Result<String> {
    let name = format!("calsync_tpl_{}", migrations_hash()?);
    let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut admin)
        .await?;
    let result = async {
        let existing: Vec<Name> =
            diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&name)
                .load(&mut admin)
                .await?;
        if existing.is_empty() {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut admin)
                .await?;
            calsync_db::migrate::run_pending(&url_for(&building)).await?;
            // Renaming last means a template that exists is always complete.
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut admin)
                .await?;
        }
        sweep_leftovers(&mut admin).await?;
        anyhow::Ok(())
    }
    .await;
    diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))
        .execute(&mut admin)
        .await?;
    result?;
    Ok(name)
}

/// Drops test databases left by test processes that no longer run (crashed or killed).
async fn sweep_leftovers(admin: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let rows: Vec<Name> =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind::<Text, _>(format!("{TEST_DB_PREFIX}%"))
            .load(admin)
            .await?;
    for row in rows {
        // LIKE reads `_` as a wildcard, so the template (`calsync_tpl_…`) matches too.
        let Some(rest) = row.datname.strip_prefix(TEST_DB_PREFIX) else {
            continue;
        };
        let pid = rest.split('_').next().unwrap_or("");
        let alive = Path::new("/proc").join(pid).exists();
        if !pid.is_empty() && !alive {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                row.datname
            ))
            .execute(admin)
            .await;
        }
    }
    Ok(())
}

/// One test's database; dropped (forcibly) when this value is.
pub struct TestDatabase {
    name: String,
    url: String,
    pool: Option<DbPool>,
}

impl TestDatabase {
    pub async fn new() -> anyhow::Result<Self> {
        let template = TEMPLATE.get_or_try_init(ensure_template).await?.clone();
        let name = format!(
            "{TEST_DB_PREFIX}{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
        diesel::sql_query(format!(
            "CREATE DATABASE {name} TEMPLATE {template} STRATEGY = FILE_COPY"
        ))
        .execute(&mut admin)
        .await
        .context("creating the test database from the template")?;
        let url = url_for(&name);
        let mut settings = PoolSettings::new(&url, "calsync-test");
        settings.max_size = 8;
        let pool = build_pool(&settings)?;
        Ok(Self {
            name,
            url,
            pool: Some(pool),
        })
    }

    /// A fresh, empty (unmigrated) database, for migration tests.
    pub async fn empty() -> anyhow::Result<Self> {
        let name = format!(
            "{TEST_DB_PREFIX}{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let url = url_for(&name);
        let pool = build_pool(&PoolSettings::new(&url, "calsync-test"))?;
        Ok(Self {
            name,
            url,
            pool: Some(pool),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    #[expect(clippy::expect_used, reason = "the pool is only taken in Drop")]
    pub fn pool(&self) -> &DbPool {
        self.pool.as_ref().expect("pool present until drop")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.close();
        }
        let name = std::mem::take(&mut self.name);
        // Drop runs outside async context; a short-lived runtime on its own thread does
        // the DROP so this works from both sync and async tests.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        })
        .join();
    }
}
