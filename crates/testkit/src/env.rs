//! `TestEnv`: the one harness under the api, worker, ingest and end-to-end tests. It
//! gives a test its own database, its own broker prefix, random secrets, the provider
//! sandboxes it asks for, and a `Settings` value that points at all of them, ready to
//! build any service from (Z2P `spawn_app`, CIO `TestApp::init().with_…()`).
//!
//! Dropping it fails the test when messages are left in the work queue or the
//! dead-letter queue: a notice nobody handled is a change nobody synced. A test that
//! leaves messages on purpose says so with [`TestEnv::expect_leftover_messages`].

use crate::logging::init_test_logging;
use crate::queues::{self, QueueDepths};
use crate::{TestBroker, TestDatabase};
use base64::Engine;
use calsync_db::DbPool;
use calsync_mq::{Publisher, Topology};
use calsync_proto::v1::ChangeNotice;
use calsync_runtime::Settings;
use calsync_sandboxes::google::{GoogleSandbox, GoogleSandboxConfig};
use calsync_sandboxes::graph::{GraphSandbox, GraphSandboxConfig};
use calsync_sandboxes::ics::IcsFeedServer;
use rand::RngCore;
use secrecy::SecretString;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The secrets a test's services are configured with; random per `TestEnv`, so a test
/// that passes only because it guessed a constant is impossible.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Bearer token of the operator endpoints (`api.operator_token`).
    pub operator_token: String,
    /// HS256 secret of agent tokens (`api.jwt_secret`).
    pub jwt_secret: String,
    /// Base64 of 32 random bytes (`security.encryption_key`).
    pub encryption_key: String,
    /// HMAC secret of channel tokens and clientState (`security.webhook_secret`).
    pub webhook_secret: String,
}

impl Secrets {
    pub fn random() -> Self {
        Self {
            operator_token: format!("operator-{}", random_b64(18)),
            jwt_secret: random_b64(32),
            encryption_key: random_b64(32),
            webhook_secret: random_b64(24),
        }
    }
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Binds a loopback listener on a free port and returns it with its `http://` base URL,
/// for services that report the port they serve on (bind first, then build).
pub fn local_listener() -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    Ok((listener, url))
}

/// What a `TestEnv` starts besides the broker prefix. `TestEnv::builder()`.
#[derive(Default)]
pub struct TestEnvBuilder {
    no_database: bool,
    google: Option<GoogleSandboxConfig>,
    graph: Option<GraphSandboxConfig>,
    ics: bool,
}

impl TestEnvBuilder {
    /// No database (webhook-ingest owns no tables); `settings.database` keeps its default.
    pub fn without_database(mut self) -> Self {
        self.no_database = true;
        self
    }

    pub fn with_google_sandbox(self) -> Self {
        self.with_google_sandbox_config(GoogleSandboxConfig::default())
    }

    pub fn with_google_sandbox_config(mut self, cfg: GoogleSandboxConfig) -> Self {
        self.google = Some(cfg);
        self
    }

    pub fn with_graph_sandbox(self) -> Self {
        self.with_graph_sandbox_config(GraphSandboxConfig::default())
    }

    pub fn with_graph_sandbox_config(mut self, cfg: GraphSandboxConfig) -> Self {
        self.graph = Some(cfg);
        self
    }

    /// An ICS feed server on loopback, and loopback allowed to the ICS fetcher.
    pub fn with_ics_server(mut self) -> Self {
        self.ics = true;
        self
    }

    pub async fn build(self) -> anyhow::Result<TestEnv> {
        init_test_logging();
        let secrets = Secrets::random();
        let broker = TestBroker::new();
        let db = if self.no_database {
            None
        } else {
            Some(TestDatabase::new().await?)
        };

        let mut s = Settings::defaults()?;
        if let Some(db) = &db {
            s.database.url = db.url().to_owned();
            s.database.pool_size = 8;
        }
        s.amqp.url = broker.url.clone();
        s.amqp.prefix = broker.prefix().to_owned();
        s.api.bind = "127.0.0.1:0".into();
        s.ingest.bind = "127.0.0.1:0".into();
        s.worker.bind = "127.0.0.1:0".into();
        s.api.operator_token = SecretString::from(secrets.operator_token.clone());
        s.api.jwt_secret = SecretString::from(secrets.jwt_secret.clone());
        s.security.encryption_key = SecretString::from(secrets.encryption_key.clone());
        s.security.webhook_secret = SecretString::from(secrets.webhook_secret.clone());

        let google = match self.google {
            Some(cfg) => {
                let sandbox = GoogleSandbox::start(cfg).await?;
                s.google.client_id = sandbox.client_id().to_owned();
                s.google.client_secret = SecretString::from(sandbox.client_secret());
                s.google.api_base = sandbox.api_base();
                s.google.auth_url = sandbox.auth_url();
                s.google.token_url = sandbox.token_url();
                Some(sandbox)
            }
            None => None,
        };
        let graph = match self.graph {
            Some(cfg) => {
                s.microsoft.client_id = cfg.client_id.clone();
                s.microsoft.client_secret = SecretString::from(cfg.client_secret.clone());
                let sandbox = GraphSandbox::start(cfg).await?;
                s.microsoft.graph_base = sandbox.graph_base();
                s.microsoft.auth_url = sandbox.auth_url();
                s.microsoft.token_url = sandbox.token_url();
                Some(sandbox)
            }
            None => None,
        };
        let ics = if self.ics {
            s.ics.allow_hosts = vec!["127.0.0.1".to_owned()];
            Some(IcsFeedServer::start().await?)
        } else {
            None
        };
        s.validate()?;

        Ok(TestEnv {
            settings: s,
            secrets,
            leftovers_expected: AtomicBool::new(false),
            google,
            graph,
            ics,
            broker,
            db,
        })
    }
}

/// One test's world. Field order is drop order: sandboxes, then the broker prefix,
/// then the database.
pub struct TestEnv {
    /// Points at this env's database, prefix, secrets and sandboxes; tests adjust it
    /// before building a service.
    pub settings: Settings,
    pub secrets: Secrets,
    leftovers_expected: AtomicBool,
    google: Option<GoogleSandbox>,
    graph: Option<GraphSandbox>,
    ics: Option<IcsFeedServer>,
    pub broker: TestBroker,
    db: Option<TestDatabase>,
}

impl TestEnv {
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder::default()
    }

    /// A database and a broker prefix, no sandboxes.
    pub async fn new() -> anyhow::Result<Self> {
        Self::builder().build().await
    }

    #[expect(clippy::expect_used, reason = "a test that asked for no database")]
    pub fn db(&self) -> &TestDatabase {
        self.db
            .as_ref()
            .expect("this TestEnv was built without_database()")
    }

    pub fn pool(&self) -> &DbPool {
        self.db().pool()
    }

    /// The prefix's topology, with the short retry delays of `TestBroker`.
    pub fn topology(&self) -> &Topology {
        &self.broker.topology
    }

    /// A confirming publisher on this env's prefix.
    pub fn publisher(&self) -> Publisher {
        Publisher::new(&self.broker.url, self.broker.topology.clone())
    }

    #[expect(clippy::expect_used, reason = "a test that asked for no sandbox")]
    pub fn google(&self) -> &GoogleSandbox {
        self.google
            .as_ref()
            .expect("build the TestEnv with_google_sandbox()")
    }

    #[expect(clippy::expect_used, reason = "a test that asked for no sandbox")]
    pub fn graph(&self) -> &GraphSandbox {
        self.graph
            .as_ref()
            .expect("build the TestEnv with_graph_sandbox()")
    }

    #[expect(clippy::expect_used, reason = "a test that asked for no feed server")]
    pub fn ics(&self) -> &IcsFeedServer {
        self.ics
            .as_ref()
            .expect("build the TestEnv with_ics_server()")
    }

    /// Stops the sandboxes and the feed server, waiting for their in-flight requests.
    pub async fn stop_sandboxes(&mut self) {
        if let Some(sandbox) = self.google.take() {
            sandbox.stop().await;
        }
        if let Some(sandbox) = self.graph.take() {
            sandbox.stop().await;
        }
        if let Some(server) = self.ics.take() {
            server.stop().await;
        }
    }

    /// Messages ready now in the work queue and the dead-letter queue.
    pub async fn queue_depths(&self) -> anyhow::Result<QueueDepths> {
        queues::depths(&self.broker.url, &self.broker.topology).await
    }

    /// Messages ready now in the work queue.
    pub async fn work_queue_depth(&self) -> anyhow::Result<u32> {
        Ok(self.queue_depths().await?.work)
    }

    /// Waits (at most `timeout`) until nothing is ready in the work queue or waiting
    /// in a retry queue, so services that are still consuming can finish before they
    /// are stopped and `Drop` looks. Returns the depths it saw last; `Drop` judges
    /// them. Does not wait when the test said it leaves messages on purpose.
    pub async fn wait_for_empty_work_queue(
        &self,
        timeout: Duration,
    ) -> anyhow::Result<QueueDepths> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let depths = self.queue_depths().await?;
            let idle = depths.work == 0 && depths.retrying == 0;
            let done = idle || self.leftovers_expected.load(Ordering::SeqCst);
            if done || tokio::time::Instant::now() >= deadline {
                return Ok(depths);
            }
            tokio::time::sleep(queues::POLL).await;
        }
    }

    /// Takes every notice ready in the work queue now (a test with no worker that
    /// checks what was enqueued), leaving it empty.
    pub async fn drain_work_queue(&self) -> anyhow::Result<Vec<ChangeNotice>> {
        let queue = self.broker.topology.work_queue();
        queues::take(&self.broker.url, &queue, usize::MAX, Duration::ZERO).await
    }

    /// Takes up to `n` notices off the work queue, waiting at most `timeout` for them.
    pub async fn take_notices(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ChangeNotice>> {
        let queue = self.broker.topology.work_queue();
        queues::take(&self.broker.url, &queue, n, timeout).await
    }

    /// Says that this test leaves messages in the queues on purpose (no consumer ran,
    /// or the point is what was queued); `Drop` then does not fail it.
    pub fn expect_leftover_messages(&self) {
        self.leftovers_expected.store(true, Ordering::SeqCst);
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() || self.leftovers_expected.load(Ordering::SeqCst) {
            return;
        }
        let (url, topology) = (self.broker.url.clone(), self.broker.topology.clone());
        match queues::depths_blocking(url, topology) {
            Ok(d) if d.work == 0 && d.dead_letter == 0 => {}
            Ok(d) => panic!(
                "the test left {} message(s) in the work queue and {} in the dead-letter \
                 queue ({} retrying) of prefix {}: handle them (run a worker, or \
                 drain_work_queue()), or call TestEnv::expect_leftover_messages() if \
                 leaving them is the point",
                d.work,
                d.dead_letter,
                d.retrying,
                self.broker.prefix()
            ),
            Err(e) => eprintln!("TestEnv: could not look at the queues: {e:#}"),
        }
    }
}
