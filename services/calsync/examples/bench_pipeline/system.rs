//! The system under test as the bench sees it: the api (as operator and as the
//! marketplace), the sandboxes' admin endpoints (as coworkers), the database and the
//! broker (read only: what is pending, what is queued), the services' metrics and
//! their processes.

use anyhow::{anyhow, bail, Context};
use calsync_db::connections::{self, Connection};
use calsync_db::{build_pool, DbPool, PoolSettings};
use calsync_mq::Topology;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Graph,
}

impl Provider {
    pub fn path(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Graph => "microsoft",
        }
    }
}

#[derive(Debug)]
pub struct Agent {
    pub provider: Provider,
    /// The sandbox account (Google calendar id / Graph UPN) the agent consented as.
    pub user: String,
    pub specialist: Uuid,
    pub connection: Uuid,
    /// Slots handed out so far: the k-th change books slot k (see `changes::slot`).
    pub slots: std::sync::atomic::AtomicU32,
}

/// A live Google watch channel, as its push headers need it.
#[derive(Debug, Clone)]
pub struct GoogleChannel {
    pub id: String,
    pub token: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub messages_sent: u64,
}

pub struct Sys {
    pub http: reqwest::Client,
    pub api: String,
    pub ingest: String,
    pub google: String,
    pub graph: String,
    pub operator_token: String,
    pub pool: DbPool,
    pub database_url: String,
    pub topology: Topology,
    amqp: lapin::Channel,
    _amqp_conn: lapin::Connection,
}

impl Sys {
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        api: &str,
        ingest: &str,
        google: &str,
        graph: &str,
        operator_token: &str,
        database_url: &str,
        amqp_url: &str,
        amqp_prefix: &str,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(512)
            .build()?;
        let mut pool_settings = PoolSettings::new(database_url, "calsync-bench");
        pool_settings.max_size = 4;
        let pool = build_pool(&pool_settings)?;
        let conn = calsync_mq::connect(amqp_url).await?;
        let amqp = conn.create_channel().await?;
        Ok(Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            ingest: ingest.trim_end_matches('/').to_owned(),
            google: google.trim_end_matches('/').to_owned(),
            graph: graph.trim_end_matches('/').to_owned(),
            operator_token: operator_token.to_owned(),
            pool,
            database_url: database_url.to_owned(),
            topology: Topology::new(amqp_prefix),
            amqp,
            _amqp_conn: conn,
        })
    }

    /// Waits until `base/readyz` answers 200.
    pub async fn wait_ready(&self, base: &str, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ok = self
                .http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{base}/readyz not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A specialist in UTC working 09:00–17:00 every day.
    pub async fn create_specialist(&self, user_id: &str) -> anyhow::Result<Uuid> {
        let hours: Vec<Value> = (1..=7)
            .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"}))
            .collect();
        let resp = self
            .http
            .post(format!("{}/api/specialists", self.api))
            .bearer_auth(&self.operator_token)
            .json(&json!({"userId": user_id, "displayName": user_id, "timeZone": "UTC", "workingHours": hours}))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("POST /api/specialists → {status}: {body}");
        }
        body["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {body}"))?
            .parse()
            .context("specialist id")
    }

    /// The OAuth flow as the agent's browser walks it: connect (operator bearer) → the
    /// provider's consent page, where the agent picks account `user` (`login_hint`) and
    /// consents → callback. Returns the connection id once the webhook is open.
    pub async fn connect_agent(
        &self,
        provider: Provider,
        specialist: Uuid,
        user: &str,
    ) -> anyhow::Result<Uuid> {
        let resp = self
            .http
            .get(format!(
                "{}/api/integrations/{}/connect",
                self.api,
                provider.path()
            ))
            .query(&[("specialistId", specialist.to_string())])
            .bearer_auth(&self.operator_token)
            .send()
            .await?;
        // The state may be bound to the browser by a cookie: carry it like one.
        let cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next().map(str::to_owned))
            .collect();
        let consent = location(resp, "connect").await?;
        let mut consent = reqwest::Url::parse(&consent)?;
        consent.query_pairs_mut().append_pair("login_hint", user);
        let resp = self.http.get(consent.as_str()).send().await?;
        let callback = location(resp, "consent").await?;
        let mut req = self.http.get(&callback);
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        let resp = req.send().await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("callback → {status}: {body}");
        }
        if body["webhook"]["status"] != "created" {
            bail!("webhook was not created: {body}");
        }
        body["connectionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no connectionId in {body}"))?
            .parse()
            .context("connection id")
    }

    pub async fn connection(&self, id: Uuid) -> anyhow::Result<Connection> {
        let mut db = self.pool.get().await?;
        Ok(connections::get(&mut db, id).await?)
    }

    /// The primary calendar's row of an OAuth connection (its cursor and webhook).
    pub async fn primary_calendar(
        &self,
        id: Uuid,
    ) -> anyhow::Result<calsync_db::calendars::Calendar> {
        let mut db = self.pool.get().await?;
        calsync_db::calendars::list(&mut db, id)
            .await?
            .into_iter()
            .find(|k| k.is_primary)
            .ok_or_else(|| anyhow::anyhow!("connection {id} has no primary calendar"))
    }

    /// The primary calendar rows of every OAuth connection, by connection.
    pub async fn primary_calendars(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<Uuid, calsync_db::calendars::Calendar>> {
        let mut db = self.pool.get().await?;
        let ids: Vec<Uuid> = connections::list(&mut db, None)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        Ok(calsync_db::calendars::for_connections(&mut db, &ids)
            .await?
            .into_iter()
            .filter(|k| k.is_primary)
            .map(|k| (k.connection_id, k))
            .collect())
    }

    pub async fn all_connections(&self) -> anyhow::Result<Vec<Connection>> {
        let mut db = self.pool.get().await?;
        Ok(connections::list(&mut db, None).await?)
    }

    /// Ready messages in the work queue and its consumers.
    pub async fn work_queue(&self) -> anyhow::Result<(u32, u32)> {
        let q = self
            .amqp
            .queue_declare(
                &self.topology.work_queue(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        Ok((q.message_count(), q.consumer_count()))
    }

    /// Drops the ready messages of the work queue; returns how many.
    pub async fn purge_work_queue(&self) -> anyhow::Result<u32> {
        Ok(self
            .amqp
            .queue_purge(
                &self.topology.work_queue(),
                lapin::options::QueuePurgeOptions::default(),
            )
            .await?)
    }

    /// The live watch channel on a Google calendar, from the sandbox's registry.
    pub async fn google_channel(&self, calendar: &str) -> anyhow::Result<GoogleChannel> {
        self.google_channels()
            .await?
            .remove(calendar)
            .ok_or_else(|| anyhow!("no live channel on {calendar}"))
    }

    /// The live watch channel of every Google calendar, from the sandbox's registry.
    pub async fn google_channels(&self) -> anyhow::Result<HashMap<String, GoogleChannel>> {
        let body: Value = self
            .http
            .get(format!("{}/_sandbox/channels", self.google))
            .send()
            .await?
            .json()
            .await?;
        let mut out: HashMap<String, GoogleChannel> = HashMap::new();
        for c in body["items"].as_array().into_iter().flatten() {
            if c["stopped"].as_bool() != Some(false) {
                continue;
            }
            let s = |k: &str| -> anyhow::Result<String> {
                c[k].as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("channel without {k}: {c}"))
            };
            let ch = GoogleChannel {
                id: s("id")?,
                token: s("token")?,
                resource_id: s("resourceId")?,
                resource_uri: s("resourceUri")?,
                messages_sent: c["messagesSent"].as_u64().unwrap_or(0),
            };
            let calendar = s("calendarId")?;
            let newer = out
                .get(&calendar)
                .is_none_or(|old| old.messages_sent <= ch.messages_sent);
            if newer {
                out.insert(calendar, ch);
            }
        }
        Ok(out)
    }

    /// `events.list` calls the Google sandbox answered on `calendar`.
    pub async fn google_list_calls(&self, calendar: &str) -> anyhow::Result<u64> {
        let body: Value = self
            .http
            .get(format!(
                "{}/_sandbox/calendars/{calendar}/list-calls",
                self.google
            ))
            .send()
            .await?
            .json()
            .await?;
        body["listCalls"]
            .as_u64()
            .ok_or_else(|| anyhow!("no listCalls in {body}"))
    }

    /// When the Graph sandbox started delivering the first notification naming each
    /// event id (first attempt of the POST that carried it).
    pub async fn graph_push_starts(&self) -> anyhow::Result<HashMap<String, DateTime<Utc>>> {
        let body: Value = self
            .http
            .get(format!("{}/_sandbox/deliveries", self.graph))
            .timeout(Duration::from_secs(120))
            .send()
            .await?
            .json()
            .await?;
        let mut starts: HashMap<String, DateTime<Utc>> = HashMap::new();
        for d in body["value"].as_array().into_iter().flatten() {
            if d["kind"] != "change" || d["attempt"].as_u64() != Some(1) {
                continue;
            }
            let Some(at) = d["at"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            else {
                continue;
            };
            let at = at.with_timezone(&Utc);
            for item in d["body"]["value"].as_array().into_iter().flatten() {
                if let Some(id) = item["resourceData"]["id"].as_str() {
                    let e = starts.entry(id.to_owned()).or_insert(at);
                    *e = (*e).min(at);
                }
            }
        }
        Ok(starts)
    }
}

/// Sum of a Prometheus counter family (every label set) on a `/metrics` page.
pub async fn metric_sum(http: &reqwest::Client, base: &str, suffix: &str) -> anyhow::Result<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let family = name.split('{').next()?;
            family
                .ends_with(suffix)
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum())
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

/// Resident memory (current and peak, KiB) of a process.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Children of `parent` as (pid, command line).
pub fn children(parent: u32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: fields follow the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            out.push((pid, cmd));
        }
    }
    out
}

/// The load averages (1, 5, 15 min).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// CPU time used so far by the processes the bench cares about, by process and group,
/// plus the machine's busy time: two snapshots make a phase's CPU profile. A process
/// that exits between them loses its share (PostgreSQL backends come and go).
#[derive(Debug, Clone)]
pub struct CpuSnap {
    at: std::time::Instant,
    /// pid → (group, seconds of CPU so far).
    procs: HashMap<u32, (String, f64)>,
    machine_busy: f64,
}

/// Linux reports process times in USER_HZ ticks, 100 on every mainstream build.
const TICKS: f64 = 100.0;

/// Which group a process belongs to, if the bench reports it.
fn group_of(
    pid: u32,
    ppid: u32,
    comm: &str,
    up_pid: Option<u32>,
    worker2: Option<u32>,
) -> Option<String> {
    let name = if Some(pid) == up_pid {
        "up+sandboxes"
    } else if Some(pid) == worker2 {
        "worker2"
    } else if up_pid.is_some() && Some(ppid) == up_pid {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        match cmd.trim().rsplit(' ').next().unwrap_or_default() {
            "ingest" => "ingest",
            "worker" => "worker",
            "api" => "api",
            _ => "up-child",
        }
    } else if pid == std::process::id() {
        "bench"
    } else if comm == "beam.smp" {
        "rabbitmq"
    } else if comm == "postgres" {
        "postgres"
    } else {
        return None;
    };
    Some(name.to_owned())
}

impl CpuSnap {
    pub fn take(up_pid: Option<u32>, worker2: Option<u32>) -> Self {
        let mut procs = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let Some((head, rest)) = stat.rsplit_once(')') else {
                    continue;
                };
                let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
                let f: Vec<&str> = rest.split_whitespace().collect();
                // After the command: state ppid ...; utime and stime are stat fields 14
                // and 15, indexes 11 and 12 here.
                let (Some(ppid), Some(ut), Some(st)) = (
                    f.get(1).and_then(|p| p.parse::<u32>().ok()),
                    f.get(11).and_then(|p| p.parse::<f64>().ok()),
                    f.get(12).and_then(|p| p.parse::<f64>().ok()),
                ) else {
                    continue;
                };
                if let Some(g) = group_of(pid, ppid, comm, up_pid, worker2) {
                    procs.insert(pid, (g, (ut + st) / TICKS));
                }
            }
        }
        let machine_busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let line = s.lines().next()?.to_owned();
                let v: Vec<f64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let total: f64 = v.iter().take(8).sum();
                let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
                Some((total - idle) / TICKS)
            })
            .unwrap_or(0.0);
        Self {
            at: std::time::Instant::now(),
            procs,
            machine_busy,
        }
    }

    /// Each group's CPU since `earlier` as % of one core, and the whole machine's.
    pub fn since(&self, earlier: &CpuSnap) -> String {
        let wall = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let mut groups: Vec<(String, f64)> = Vec::new();
        for (pid, (group, secs)) in &self.procs {
            let then = earlier
                .procs
                .get(pid)
                .filter(|(g, _)| g == group)
                .map_or(0.0, |(_, s)| *s);
            let used = (secs - then).max(0.0);
            match groups.iter_mut().find(|(g, _)| g == group) {
                Some((_, s)) => *s += used,
                None => groups.push((group.clone(), used)),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ours = 0.0;
        let mut parts: Vec<String> = groups
            .iter()
            .map(|(g, s)| {
                let p = s / wall * 100.0;
                ours += p;
                format!("{g} {p:.0}")
            })
            .collect();
        let machine = (self.machine_busy - earlier.machine_busy).max(0.0) / wall * 100.0;
        parts.push(format!("others {:.0}", (machine - ours).max(0.0)));
        parts.push(format!(
            "machine {machine:.0}/{}",
            std::thread::available_parallelism().map_or(1, |n| n.get()) * 100
        ));
        parts.join(" · ")
    }
}
