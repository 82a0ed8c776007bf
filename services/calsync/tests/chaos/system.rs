//! The system under test as real processes: `calsync serve api|ingest|worker` children
//! configured only through `CALSYNC__*` variables, a database of their own and an AMQP
//! prefix of their own, both reached through fault-injecting proxies, and the provider
//! sandboxes in this process. Also the agents: specialists created and calendars
//! connected through the api's OAuth flow, as a browser walks it.

use crate::config::Config;
use anyhow::{anyhow, bail, Context};
use base64::Engine;
use calsync_db::connections::{self, Connection};
use calsync_db::events::{self, EventRow};
use calsync_mq::Topology;
use calsync_sandboxes::google::{GoogleSandbox, GoogleSandboxConfig, GoogleState};
use calsync_sandboxes::graph::{GraphSandbox, GraphSandboxConfig, GraphState};
use calsync_testkit::{ChaosProxy, TestBroker, TestDatabase};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use uuid::Uuid;

pub const OPERATOR_TOKEN: &str = "chaos-operator-token";
const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(150);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prov {
    Google,
    Graph,
}

impl Prov {
    pub fn api_name(self) -> &'static str {
        match self {
            Prov::Google => "google",
            Prov::Graph => "microsoft",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub idx: usize,
    pub prov: Prov,
    /// The sandbox user (Google calendar id / Graph UPN).
    pub user: String,
    pub specialist: Uuid,
    pub connection: Uuid,
}

/// One sync-worker process. Its `HOSTNAME` is its name, so the lease owner it writes
/// (`sync-worker-<name>-<uuid>`) says which process holds a lease.
pub struct Worker {
    pub name: String,
    child: Child,
}

pub struct System {
    exe: PathBuf,
    env: Vec<(String, String)>,
    pub log_dir: PathBuf,
    pub api_url: String,
    pub http: reqwest::Client,
    services: Mutex<Vec<(String, Child)>>,
    pub workers: Mutex<Vec<Worker>>,
    next_worker: AtomicUsize,
    pub pg: ChaosProxy,
    pub mq: ChaosProxy,
    pub google: GoogleState,
    pub graph: GraphState,
    google_sandbox: Mutex<Option<GoogleSandbox>>,
    graph_sandbox: Mutex<Option<GraphSandbox>>,
    // Last: dropped after every process that used them is gone.
    pub broker: TestBroker,
    pub db: TestDatabase,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn random_key() -> String {
    let bytes: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The server a URL names, and the same URL pointing at `proxy` instead.
async fn through(url: &str, proxy: SocketAddr) -> anyhow::Result<(SocketAddr, String)> {
    let mut u = reqwest::Url::parse(url).with_context(|| format!("parsing {url}"))?;
    let host = u.host_str().ok_or_else(|| anyhow!("{url} names no host"))?;
    let port = u
        .port_or_known_default()
        .or(match u.scheme() {
            "postgres" | "postgresql" => Some(5432),
            "amqp" => Some(5672),
            _ => None,
        })
        .ok_or_else(|| anyhow!("{url} names no port"))?;
    let target = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| anyhow!("{host} does not resolve"))?;
    u.set_host(Some(&proxy.ip().to_string()))?;
    u.set_port(Some(proxy.port()))
        .map_err(|()| anyhow!("cannot set a port on {url}"))?;
    Ok((target, u.to_string()))
}

/// A proxy in front of the server `url` names (not started yet: its target is needed).
async fn proxy_for(url: &str) -> anyhow::Result<(ChaosProxy, String)> {
    // The proxy's own address is only known once it listens; resolve the target first.
    let (target, _) = through(url, "127.0.0.1:1".parse()?).await?;
    let proxy = ChaosProxy::start(target).await?;
    let (_, via) = through(url, proxy.addr()).await?;
    Ok((proxy, via))
}

impl System {
    pub async fn start(cfg: &Config, log_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let db = TestDatabase::new().await.context("test database")?;
        let broker = TestBroker::new();
        let (pg, db_url) = proxy_for(db.url()).await?;
        let (mq, amqp_url) = proxy_for(&broker.url).await?;
        // The services declare what they use too; declaring first (directly, not through
        // the proxy) means no start-up ordering matters.
        let conn = calsync_mq::connect(&broker.url).await?;
        let ch = conn.create_channel().await?;
        calsync_mq::declare(&ch, &Topology::new(broker.prefix())).await?;
        let _ = conn.close(200, "declared").await;

        // Short-lived access tokens (refreshed 2 minutes before expiry, so about every
        // 30 s) put token refreshes, and Microsoft's refresh-token rotation, under the
        // faults too; small pages make syncs page, so a fault can land between pages.
        let google_cfg = GoogleSandboxConfig {
            access_token_ttl: ACCESS_TOKEN_TTL,
            default_page_size: 10,
            ..GoogleSandboxConfig::default()
        };
        let graph_cfg = GraphSandboxConfig {
            access_token_ttl: ACCESS_TOKEN_TTL,
            ..GraphSandboxConfig::default()
        };
        let google_sandbox = GoogleSandbox::start(google_cfg.clone()).await?;
        let graph_sandbox = GraphSandbox::start(graph_cfg.clone()).await?;

        let (api_port, ingest_port) = (free_port()?, free_port()?);
        let api_url = format!("http://127.0.0.1:{api_port}");
        let ingest_url = format!("http://127.0.0.1:{ingest_port}");
        let env: Vec<(String, String)> = [
            ("CALSYNC__DATABASE__URL", db_url),
            ("CALSYNC__DATABASE__POOL_SIZE", "8".into()),
            ("CALSYNC__AMQP__URL", amqp_url),
            ("CALSYNC__AMQP__PREFIX", broker.prefix().to_owned()),
            ("CALSYNC__API__BIND", format!("127.0.0.1:{api_port}")),
            ("CALSYNC__API__PUBLIC_URL", api_url.clone()),
            ("CALSYNC__API__OPERATOR_TOKEN", OPERATOR_TOKEN.into()),
            (
                "CALSYNC__API__JWT_SECRET",
                format!("jwt-{}", Uuid::new_v4()),
            ),
            ("CALSYNC__INGEST__BIND", format!("127.0.0.1:{ingest_port}")),
            ("CALSYNC__INGEST__PUBLIC_URL", ingest_url),
            (
                "CALSYNC__WORKER__POLL_INTERVAL_SECS",
                cfg.poll_interval.as_secs().to_string(),
            ),
            ("CALSYNC__WORKER__SCHEDULER_TICK_MS", "250".into()),
            ("CALSYNC__SECURITY__ENCRYPTION_KEY", random_key()),
            (
                "CALSYNC__SECURITY__WEBHOOK_SECRET",
                format!("hook-{}", Uuid::new_v4()),
            ),
            ("CALSYNC__GOOGLE__CLIENT_ID", google_cfg.client_id.clone()),
            ("CALSYNC__GOOGLE__CLIENT_SECRET", google_cfg.client_secret),
            ("CALSYNC__GOOGLE__API_BASE", google_sandbox.api_base()),
            ("CALSYNC__GOOGLE__AUTH_URL", google_sandbox.auth_url()),
            ("CALSYNC__GOOGLE__TOKEN_URL", google_sandbox.token_url()),
            ("CALSYNC__MICROSOFT__CLIENT_ID", graph_cfg.client_id.clone()),
            ("CALSYNC__MICROSOFT__CLIENT_SECRET", graph_cfg.client_secret),
            ("CALSYNC__MICROSOFT__GRAPH_BASE", graph_sandbox.graph_base()),
            ("CALSYNC__MICROSOFT__AUTH_URL", graph_sandbox.auth_url()),
            ("CALSYNC__MICROSOFT__TOKEN_URL", graph_sandbox.token_url()),
            ("CALSYNC__LOG__LEVEL", "info".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

        let sys = Self {
            exe: PathBuf::from(env!("CARGO_BIN_EXE_calsync")),
            env,
            log_dir: log_dir.to_owned(),
            api_url: api_url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()?,
            services: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            next_worker: AtomicUsize::new(1),
            pg,
            mq,
            google: google_sandbox.state(),
            graph: graph_sandbox.state(),
            google_sandbox: Mutex::new(Some(google_sandbox)),
            graph_sandbox: Mutex::new(Some(graph_sandbox)),
            broker,
            db,
        };
        for (name, arg, port) in [("api", "api", api_port), ("ingest", "ingest", ingest_port)] {
            let child = sys.spawn(arg, name, &[])?;
            sys.services.lock().await.push((name.to_owned(), child));
            sys.wait_healthy(name, port).await?;
        }
        for _ in 0..cfg.workers {
            sys.spawn_worker().await?;
        }
        Ok(sys)
    }

    fn spawn(&self, service: &str, log: &str, extra: &[(String, String)]) -> anyhow::Result<Child> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{log}.log")))?;
        let mut cmd = Command::new(&self.exe);
        // Only what this run sets: nothing from the caller's own calsync configuration.
        for (k, _) in std::env::vars() {
            if k.starts_with("CALSYNC") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .arg(service)
            .envs(self.env.iter().cloned())
            .envs(extra.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        Ok(cmd.spawn()?)
    }

    async fn wait_healthy(&self, name: &str, port: u16) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{port}/healthz");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{name} did not answer /healthz within 60 s (log: {})",
                    self.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts one more sync-worker and waits until it answers.
    pub async fn spawn_worker(&self) -> anyhow::Result<String> {
        let n = self.next_worker.fetch_add(1, Ordering::SeqCst);
        let name = format!("chaos-w{n}");
        let port = free_port()?;
        let child = self.spawn(
            "worker",
            &format!("worker-{n}"),
            &[
                ("CALSYNC__WORKER__BIND".into(), format!("127.0.0.1:{port}")),
                ("HOSTNAME".into(), name.clone()),
            ],
        )?;
        self.workers.lock().await.push(Worker {
            name: name.clone(),
            child,
        });
        self.wait_healthy(&name, port).await?;
        Ok(name)
    }

    /// `kill -9` of the worker whose lease owner name is `owner` (or of the first one);
    /// returns the name of the worker killed.
    pub async fn kill_worker(&self, owner: Option<&str>) -> anyhow::Result<String> {
        let mut workers = self.workers.lock().await;
        let at = owner
            .and_then(|o| {
                workers
                    .iter()
                    .position(|w| o.starts_with(&format!("sync-worker-{}-", w.name)))
            })
            .unwrap_or(0);
        if workers.is_empty() {
            bail!("no worker to kill");
        }
        let mut w = workers.remove(at);
        drop(workers);
        w.child.start_kill()?; // SIGKILL
        let _ = w.child.wait().await;
        Ok(w.name)
    }

    /// Services that exited although nobody stopped them.
    pub async fn exited(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, child) in self.services.lock().await.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                out.push(format!("{name} ({status})"));
            }
        }
        for w in self.workers.lock().await.iter_mut() {
            if let Ok(Some(status)) = w.child.try_wait() {
                out.push(format!("{} ({status})", w.name));
            }
        }
        out
    }

    /// Stops every process (SIGKILL: nothing of theirs is kept) and the sandboxes.
    pub async fn stop(&self) {
        for (_, child) in self.services.lock().await.iter_mut() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        for w in self.workers.lock().await.iter_mut() {
            let _ = w.child.start_kill();
            let _ = w.child.wait().await;
        }
        if let Some(sb) = self.google_sandbox.lock().await.take() {
            sb.stop().await;
        }
        if let Some(sb) = self.graph_sandbox.lock().await.take() {
            sb.stop().await;
        }
    }

    // ---- operator and agents, through the api ----

    /// A specialist in UTC working 08:00–18:00 every day.
    pub async fn create_specialist(&self, user_id: &str) -> anyhow::Result<Uuid> {
        let hours: Vec<Value> = (1..=7)
            .map(|d| json!({"weekday": d, "start": "08:00", "end": "18:00"}))
            .collect();
        let resp = self
            .http
            .post(format!("{}/api/specialists", self.api_url))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"userId": user_id, "displayName": user_id, "timeZone": "UTC", "workingHours": hours}))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("POST /api/specialists → {status}: {body}");
        }
        Ok(body["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {body}"))?
            .parse()?)
    }

    /// The OAuth connect flow as the agent's browser walks it, choosing the account
    /// `user` on the consent page (`login_hint`). Returns the connection id.
    pub async fn connect(&self, prov: Prov, specialist: Uuid, user: &str) -> anyhow::Result<Uuid> {
        let resp = self
            .http
            .get(format!(
                "{}/api/integrations/{}/connect",
                self.api_url,
                prov.api_name()
            ))
            .query(&[("specialistId", specialist.to_string())])
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await?;
        // Each flow is its own browser: agents connect concurrently, and one shared jar
        // would hand one flow's state cookie to another.
        let cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next().map(str::to_owned))
            .collect();
        let mut consent = reqwest::Url::parse(&location(resp, "connect").await?)?;
        consent.query_pairs_mut().append_pair("login_hint", user);
        let resp = self.http.get(consent).send().await?;
        let callback = location(resp, "consent").await?;
        let resp = self
            .http
            .get(&callback)
            .header("cookie", cookies.join("; "))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("callback → {status}: {body}");
        }
        if body["webhook"]["status"] != "created" {
            bail!("{user}: webhook not created: {body}");
        }
        Ok(body["connectionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no connectionId in {body}"))?
            .parse()?)
    }

    // ---- what the system stored (read directly, not through the proxy) ----

    pub async fn connections(&self) -> anyhow::Result<Vec<Connection>> {
        let mut db = self.db.pool().get().await?;
        Ok(connections::list(&mut db, None).await?)
    }

    /// The primary calendar's row of an OAuth connection: its cursor and webhook.
    pub async fn primary_calendar(
        &self,
        id: Uuid,
    ) -> anyhow::Result<calsync_db::calendars::Calendar> {
        let mut db = self.db.pool().get().await?;
        calsync_db::calendars::primary(&mut db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection {id} has no primary calendar"))
    }

    pub async fn events(&self, connection: Uuid) -> anyhow::Result<Vec<EventRow>> {
        let mut db = self.db.pool().get().await?;
        Ok(events::for_connection(&mut db, connection).await?)
    }

    /// Messages ready in a queue of this run's prefix (read directly).
    pub async fn queue_depth(&self, queue: &str) -> anyhow::Result<u32> {
        self.broker.depth(queue).await
    }
}

async fn location(resp: reqwest::Response, step: &str) -> anyhow::Result<String> {
    let status = resp.status();
    if status.as_u16() != 302 {
        let body = resp.text().await.unwrap_or_default();
        bail!("{step}: expected 302, got {status}: {body}");
    }
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{step}: 302 without Location"))
}
