//! `TestSystem`: the whole of calsync in this process on ephemeral ports (api,
//! webhook-ingest, one or more sync-workers) over a `TestEnv` (its own PostgreSQL
//! database, RabbitMQ prefix, secrets and both provider sandboxes), plus typed helpers
//! that act as the operator, the agent and the coworker, and read what the system
//! stored.

use crate::provider::{Google, Graph, SandboxProvider};
use anyhow::{anyhow, bail};
use calsync_api::ApiServer;
use calsync_db::connections::{self, Connection};
use calsync_db::events::{self, EventRow};
use calsync_mq::{Publisher, Topology};
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider};
use calsync_sandboxes::google::{GoogleSandboxConfig, GoogleState};
use calsync_sandboxes::graph::{GraphSandboxConfig, GraphState};
use calsync_sync_worker::clock::{Clock, ManualClock, SystemClock};
use calsync_sync_worker::context::WorkerContext;
use calsync_sync_worker::WorkerServer;
use calsync_testkit::{local_listener, TestEnv};
use calsync_webhook_ingest::IngestServer;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

#[allow(unused_imports)]
pub use crate::provider::{GOOGLE_USER, GRAPH_USER};

/// How long the system gets to show a change: generous for a loaded 2-core CI machine;
/// the measured push → availability latency is tens of milliseconds.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The marketplace's bearer token in these tests.
pub const MARKETPLACE_TOKEN: &str = "e2e-marketplace-token";

/// What to start.
pub struct Options {
    pub workers: usize,
    /// `Some`: every worker reads this clock (tests walk time for renewals).
    pub clock: Option<ManualClock>,
    /// Run the workers' own scheduler loop (tests that drive `run_once` switch it off).
    pub scheduler: bool,
    pub google: GoogleSandboxConfig,
    pub graph: GraphSandboxConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 1,
            clock: None,
            scheduler: true,
            google: GoogleSandboxConfig::default(),
            graph: GraphSandboxConfig {
                // Deliver at once and retry quickly: tests wait on pushes.
                notification_batch_window: std::time::Duration::from_millis(5),
                delivery_retry_base: std::time::Duration::from_millis(100),
                ..GraphSandboxConfig::default()
            },
        }
    }
}

pub struct TestSystem {
    pub api_url: String,
    pub ingest_url: String,
    pub http: reqwest::Client,
    pub google: GoogleState,
    pub graph: GraphState,
    pub workers: Vec<Arc<WorkerContext>>,
    pub publisher: Publisher,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    shutdown: CancellationToken,
    _stop_on_drop: DropGuard,
    /// Set by `shutdown`: only a system stopped that way had its queues drained.
    stopped: bool,
    // Last: dropped after every server that holds a connection to its database and
    // broker; its Drop fails the test if notices were left unhandled.
    pub env: TestEnv,
}

impl TestSystem {
    pub async fn start(opts: Options) -> anyhow::Result<Self> {
        let mut env = TestEnv::builder()
            .with_google_sandbox_config(opts.google.clone())
            .with_graph_sandbox_config(opts.graph.clone())
            .build()
            .await?;
        let (api_l, api_url) = local_listener()?;
        let (ingest_l, ingest_url) = local_listener()?;

        let s = &mut env.settings;
        s.api.public_url = api_url.clone();
        s.ingest.public_url = ingest_url.clone();
        s.worker.scheduler_tick_ms = 100;
        s.api.marketplace_token = MARKETPLACE_TOKEN.to_owned().into();
        s.validate()?;
        let s = &env.settings;

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let ingest = IngestServer::build(s, ingest_l)?;
        tasks.push(tokio::spawn(ingest.run(shutdown.clone())));
        let api = ApiServer::build(s, api_l)?;
        tasks.push(tokio::spawn(api.run(shutdown.clone())));
        let clock: Arc<dyn Clock> = match &opts.clock {
            Some(c) => Arc::new(c.clone()),
            None => Arc::new(SystemClock),
        };
        let mut workers = Vec::new();
        for _ in 0..opts.workers {
            let (l, _) = local_listener()?;
            let mut w = WorkerServer::build_with(s, l, Arc::clone(&clock))?;
            if !opts.scheduler {
                w = w.without_scheduler();
            }
            workers.push(w.context());
            tasks.push(tokio::spawn(w.run(shutdown.clone())));
        }
        let publisher = Publisher::new(&s.amqp.url, Topology::new(&s.amqp.prefix));
        Ok(Self {
            api_url,
            ingest_url,
            http: reqwest::Client::builder()
                // A browser: the OAuth state is bound to the cookie the connect sets.
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            google: env.google().state(),
            graph: env.graph().state(),
            workers,
            publisher,
            tasks,
            _stop_on_drop: shutdown.clone().drop_guard(),
            shutdown,
            stopped: false,
            env,
        })
    }

    pub fn settings(&self) -> &calsync_runtime::Settings {
        &self.env.settings
    }

    fn operator_token(&self) -> &str {
        &self.env.secrets.operator_token
    }

    /// Lets the workers drain the work queue, then stops every server (in-flight syncs
    /// finish) and the sandboxes. Dropping the system then checks that no notice was
    /// left in the work or dead-letter queue; every test ends here.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.env.wait_for_empty_work_queue(SETTLE).await?;
        self.shutdown.cancel();
        for t in std::mem::take(&mut self.tasks) {
            match tokio::time::timeout(std::time::Duration::from_secs(15), t).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => bail!("a service failed: {e:#}"),
                Ok(Err(e)) => bail!("a service task panicked: {e}"),
                Err(_) => bail!("a service did not stop within 15 s"),
            }
        }
        self.publisher.close().await;
        self.env.stop_sandboxes().await;
        self.stopped = true;
        Ok(())
    }

    // ---- operator and agent, through the api ----

    /// A specialist in UTC working 09:00–17:00 every day of the week.
    pub async fn create_specialist(&self, user_id: &str) -> anyhow::Result<Uuid> {
        let hours: Vec<Value> = (1..=7)
            .map(|d| json!({"weekday": d, "start": "09:00", "end": "17:00"}))
            .collect();
        let resp = self
            .http
            .post(format!("{}/api/specialists", self.api_url))
            .bearer_auth(self.operator_token())
            .json(&json!({"userId": user_id, "displayName": "E2E Agent", "timeZone": "UTC", "workingHours": hours}))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("POST /api/specialists → {status}: {body}");
        }
        let id = body["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {body}"))?;
        Ok(id.parse()?)
    }

    /// The OAuth connect flow as an agent's browser walks it: connect → consent page
    /// (the sandbox consents at once) → callback. Returns the callback's JSON.
    pub async fn connect(&self, provider: &str, specialist: Uuid) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(format!(
                "{}/api/integrations/{provider}/connect",
                self.api_url
            ))
            .query(&[("specialistId", specialist.to_string())])
            .bearer_auth(self.operator_token())
            .send()
            .await?;
        let consent = location(resp, "connect").await?;
        let resp = self.http.get(&consent).send().await?;
        let callback = location(resp, "consent").await?;
        if !callback.starts_with(&self.api_url) {
            bail!("consent redirected to {callback}, not to the api");
        }
        let resp = self.http.get(&callback).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("callback → {status}: {body}");
        }
        Ok(body)
    }

    /// `GET` (no body) or `PUT` (a body) `/api/integrations/connections/{id}/calendars`
    /// as the operator; the status and the JSON answer.
    pub async fn calendars_api(
        &self,
        connection: Uuid,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!(
            "{}/api/integrations/connections/{connection}/calendars",
            self.api_url
        );
        let req = match &body {
            None => self.http.get(url),
            Some(b) => self.http.put(url).json(b),
        };
        let resp = req.bearer_auth(self.operator_token()).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await?))
    }

    /// Connects and waits for the first full sync; returns the connection id.
    pub async fn connect_and_sync(&self, provider: &str, specialist: Uuid) -> anyhow::Result<Uuid> {
        let body = self.connect(provider, specialist).await?;
        let id: Uuid = body["connectionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no connectionId in {body}"))?
            .parse()?;
        if body["webhook"]["status"] != "created" {
            bail!("webhook was not created: {body}");
        }
        eventually("the first sync", || async {
            Ok(self.connection(id).await?.last_sync_at.is_some())
        })
        .await?;
        self.wait_idle(id).await?;
        // The api opens the webhook and the worker keeps it alive: between them exactly
        // one must be open at the provider, and it must be the one stored.
        let stored = self.primary_calendar(id).await?;
        let open = self.open_webhooks(provider);
        let expected = match provider {
            "google" => Google::stored_webhook(&stored),
            _ => Graph::stored_webhook(&stored),
        };
        if open.len() != 1 || expected.as_ref() != open.first() {
            bail!("after connecting, open webhooks {open:?} but stored {expected:?}");
        }
        Ok(id)
    }

    /// Ids of the live Google channels or Graph subscriptions at the sandbox.
    pub fn open_webhooks(&self, provider: &str) -> Vec<String> {
        let open = match provider {
            "google" => Google::open_webhooks(self),
            _ => Graph::open_webhooks(self),
        };
        open.into_iter().map(|w| w.id).collect()
    }

    /// Slot starts offered on `day` between 09:00 and 17:00 UTC for 60 minutes.
    pub async fn slot_starts(
        &self,
        specialist: Uuid,
        day: NaiveDate,
    ) -> anyhow::Result<Vec<DateTime<Utc>>> {
        let (slots, _) = self.availability(specialist, day).await?;
        Ok(slots)
    }

    pub async fn availability(
        &self,
        specialist: Uuid,
        day: NaiveDate,
    ) -> anyhow::Result<(Vec<DateTime<Utc>>, Value)> {
        let resp = self
            .http
            .get(format!("{}/api/availability", self.api_url))
            .query(&[
                ("specialistId", specialist.to_string()),
                ("from", at(day, 9, 0).to_rfc3339()),
                ("to", at(day, 17, 0).to_rfc3339()),
                ("duration", "60".into()),
            ])
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("availability → {status}: {body}");
        }
        let slots = body["slots"]
            .as_array()
            .ok_or_else(|| anyhow!("no slots in {body}"))?
            .iter()
            .map(|s| {
                let start = s["start"]
                    .as_str()
                    .ok_or_else(|| anyhow!("slot without start"))?;
                Ok(DateTime::parse_from_rfc3339(start)?.with_timezone(&Utc))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((slots, body))
    }

    /// Waits until the 60-minute slot at `start` is offered (or not).
    pub async fn wait_slot(
        &self,
        specialist: Uuid,
        start: DateTime<Utc>,
        offered: bool,
    ) -> anyhow::Result<()> {
        let what = format!(
            "slot {start} {}",
            if offered { "offered" } else { "withdrawn" }
        );
        eventually(&what, || async {
            Ok(self
                .slot_starts(specialist, start.date_naive())
                .await?
                .contains(&start)
                == offered)
        })
        .await
    }

    /// Books `minutes` from `start` as the marketplace; the status and the answer.
    pub async fn book(
        &self,
        specialist: Uuid,
        start: DateTime<Utc>,
        minutes: i64,
        customer: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}/api/appointments", self.api_url))
            .bearer_auth(MARKETPLACE_TOKEN)
            .json(&json!({
                "specialistId": specialist,
                "start": start.to_rfc3339(),
                "end": (start + Duration::minutes(minutes)).to_rfc3339(),
                "customer": {"name": customer},
            }))
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    /// Cancels a booking as the marketplace; the status.
    pub async fn cancel(&self, appointment: Uuid) -> anyhow::Result<u16> {
        let resp = self
            .http
            .delete(format!("{}/api/appointments/{appointment}", self.api_url))
            .bearer_auth(MARKETPLACE_TOKEN)
            .send()
            .await?;
        Ok(resp.status().as_u16())
    }

    // ---- what the system stored ----

    pub async fn connection(&self, id: Uuid) -> anyhow::Result<Connection> {
        let mut db = self.env.pool().get().await?;
        Ok(connections::get(&mut db, id).await?)
    }

    /// The primary calendar's row of an OAuth connection: its cursor and webhook.
    pub async fn primary_calendar(
        &self,
        id: Uuid,
    ) -> anyhow::Result<calsync_db::calendars::Calendar> {
        let mut db = self.env.pool().get().await?;
        calsync_db::calendars::primary(&mut db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection {id} has no primary calendar"))
    }

    /// Every known calendar of a connection, primary first.
    pub async fn calendars(
        &self,
        id: Uuid,
    ) -> anyhow::Result<Vec<calsync_db::calendars::Calendar>> {
        let mut db = self.env.pool().get().await?;
        Ok(calsync_db::calendars::list(&mut db, id).await?)
    }

    pub async fn events(&self, connection: Uuid) -> anyhow::Result<Vec<EventRow>> {
        let mut db = self.env.pool().get().await?;
        Ok(events::for_connection(&mut db, connection).await?)
    }

    /// Stored events of `connection` as (provider event id, start, end).
    pub async fn event_spans(
        &self,
        connection: Uuid,
    ) -> anyhow::Result<Vec<(String, DateTime<Utc>, DateTime<Utc>)>> {
        Ok(self
            .events(connection)
            .await?
            .into_iter()
            .map(|e| (e.provider_event_id, e.starts_at, e.ends_at))
            .collect())
    }

    // ---- the push path, by hand ----

    /// POSTs a Google push to webhook-ingest as Google would; returns the status.
    pub async fn google_push(
        &self,
        channel: &str,
        token: &str,
        number: u64,
        state: &str,
    ) -> anyhow::Result<u16> {
        let resp = self
            .http
            .post(format!("{}/webhooks/google", self.ingest_url))
            .header("X-Goog-Channel-ID", channel)
            .header("X-Goog-Channel-Token", token)
            .header("X-Goog-Resource-ID", "resource")
            .header(
                "X-Goog-Resource-URI",
                "https://www.googleapis.com/calendar/v3/calendars/primary/events",
            )
            .header("X-Goog-Resource-State", state)
            .header("X-Goog-Message-Number", number.to_string())
            .header("Content-Length", "0")
            .send()
            .await?;
        Ok(resp.status().as_u16())
    }

    /// Publishes a webhook notice for `connection` straight to the broker.
    pub async fn publish_notice(&self, connection: Uuid, provider: Provider) -> anyhow::Result<()> {
        let notice = ChangeNotice {
            connection_id: connection.to_string(),
            provider: provider as i32,
            reason: NoticeReason::Webhook as i32,
            received_at_ms: Utc::now().timestamp_millis(),
            ..ChangeNotice::default()
        };
        Ok(self.publisher.publish_notice(&notice).await?)
    }

    /// Publishes `n` webhook notices for `connection` at once over `links` broker
    /// connections (one confirming channel each), as several ingest replicas would.
    pub async fn burst(&self, connection: Uuid, n: usize, links: usize) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for link in 0..links.max(1) {
            let publisher = Publisher::new(
                &self.settings().amqp.url,
                Topology::new(&self.settings().amqp.prefix),
            );
            let count = n / links.max(1) + usize::from(link < n % links.max(1));
            tasks.spawn(async move {
                for _ in 0..count {
                    let notice = ChangeNotice {
                        connection_id: connection.to_string(),
                        provider: Provider::Google as i32,
                        reason: NoticeReason::Webhook as i32,
                        received_at_ms: Utc::now().timestamp_millis(),
                        ..ChangeNotice::default()
                    };
                    publisher.publish_notice(&notice).await?;
                }
                publisher.close().await;
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    }

    /// Ready messages in the work queue.
    pub async fn queue_depth(&self) -> anyhow::Result<u32> {
        self.env.work_queue_depth().await
    }

    /// Waits until the work queue is empty and no worker holds the connection's lease.
    pub async fn wait_idle(&self, connection: Uuid) -> anyhow::Result<()> {
        // Ready messages are 0 as soon as the consumer holds them, before they are
        // recorded: idle must hold for a while, longer than a batch takes to record.
        let calm = std::sync::atomic::AtomicU32::new(0);
        eventually("the worker to go idle", || async {
            let c = self.connection(connection).await?;
            let idle = self.queue_depth().await? == 0 && c.lease_owner.is_none() && !c.sync_pending;
            let n = if idle {
                calm.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
            } else {
                calm.store(0, std::sync::atomic::Ordering::SeqCst);
                0
            };
            if idle && n < 4 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(n >= 4)
        })
        .await
    }
}

impl Drop for TestSystem {
    fn drop(&mut self) {
        if !self.stopped {
            // The test returned an error (or panicked) before `shutdown`: its own
            // failure is the news, not the notices it left behind.
            self.env.expect_leftover_messages();
        }
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

/// `day` at `h:m` UTC.
pub fn at(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(h, m, 0).unwrap_or_default())
}

/// A day far enough ahead that every slot of it is in the future.
pub fn test_day() -> NaiveDate {
    (Utc::now() + Duration::days(2)).date_naive()
}

/// Holds `check` for `window`: for asserting that something does NOT happen.
pub async fn stays(window: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        if !check() {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    check()
}

/// Polls `check` until it holds, for at most `SETTLE`; never a fixed sleep.
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut last_err = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match last_err {
                Some(e) => e.context(format!("{what}: not within {SETTLE:?}")),
                None => anyhow!("{what}: not within {SETTLE:?}"),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
