//! Shared pieces of the broker tests: notices, a recording handler, a consumer running
//! in the background, and bounded waits.

use calsync_mq::{run_consumer, ConsumerSettings, HandleError, Handler, Publisher};
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider};
use calsync_testkit::{ChaosProxy, TestBroker};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Default bound on a wait for something the broker should do in well under a second.
pub const WAIT: Duration = Duration::from_secs(15);

pub async fn within<F: Future>(what: &str, limit: Duration, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not happen within {limit:?}"),
    }
}

/// Polls `check` until it returns true, failing the test after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(what, limit, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
}

pub fn notice() -> ChangeNotice {
    ChangeNotice {
        connection_id: uuid::Uuid::new_v4().to_string(),
        provider: Provider::Google as i32,
        reason: NoticeReason::Webhook as i32,
        channel_id: "channel".to_owned(),
        message_number: 7,
        resource_state: "exists".to_owned(),
        received_at_ms: 1_700_000_000_000,
        full_resync: false,
        ..ChangeNotice::default()
    }
}

pub fn amqp_url_via(addr: SocketAddr) -> String {
    format!("amqp://guest:guest@{addr}/%2f")
}

/// A proxy in front of the local broker that tests can cut.
pub async fn broker_proxy() -> ChaosProxy {
    let target: SocketAddr = "127.0.0.1:5672".parse().expect("address");
    ChaosProxy::start(target).await.expect("proxy")
}

pub fn publisher(broker: &TestBroker) -> Publisher {
    Publisher::new(broker.url.clone(), broker.topology.clone())
}

pub async fn depth(broker: &TestBroker, queue: &str) -> u32 {
    within("reading a queue depth", WAIT, broker.depth(queue))
        .await
        .expect("queue depth")
}

/// What the recording handler does with each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Succeed,
    /// Fails transiently on the first `n` calls for a notice, then succeeds.
    FailTransiently(u32),
    FailPermanently,
    /// Never returns: the consumer holds the delivery unacked until it dies.
    Hang,
}

/// Records every call by connection id and behaves as told.
pub struct Recorder {
    behaviour: Behaviour,
    delay: Duration,
    calls: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(behaviour: Behaviour) -> Arc<Self> {
        Self::slow(behaviour, Duration::ZERO)
    }

    pub fn slow(behaviour: Behaviour, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            delay,
            calls: Mutex::new(Vec::new()),
        })
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().expect("calls").len()
    }

    /// How many times each connection id was handled.
    pub fn per_id(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for id in self.calls() {
            *m.entry(id).or_insert(0) += 1;
        }
        m
    }
}

impl Handler for Recorder {
    async fn handle(&self, notice: ChangeNotice) -> Result<(), HandleError> {
        let nth = {
            let mut calls = self.calls.lock().expect("calls");
            calls.push(notice.connection_id.clone());
            calls.iter().filter(|c| **c == notice.connection_id).count()
        };
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match self.behaviour {
            Behaviour::Succeed => Ok(()),
            Behaviour::FailTransiently(n) if nth <= n as usize => {
                Err(HandleError::Transient(format!("failure {nth}")))
            }
            Behaviour::FailTransiently(_) => Ok(()),
            Behaviour::FailPermanently => Err(HandleError::Permanent("never works".into())),
            Behaviour::Hang => std::future::pending().await,
        }
    }
}

/// `run_consumer` on a background task; aborted if the test ends without `stop`.
pub struct RunningConsumer {
    token: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl RunningConsumer {
    pub fn start(broker: &TestBroker, url: String, handler: Arc<Recorder>, prefetch: u16) -> Self {
        let settings = ConsumerSettings {
            url,
            topology: broker.topology.clone(),
            prefetch,
            tag_prefix: "it".to_owned(),
        };
        let token = CancellationToken::new();
        let handle = tokio::spawn(run_consumer(settings, handler, token.clone()));
        Self {
            token,
            handle: Some(handle),
        }
    }

    /// Graceful shutdown: in-flight deliveries finish, then the consumer returns.
    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(handle) = self.handle.take() {
            within("the consumer stopping", WAIT, handle)
                .await
                .expect("consumer task");
        }
    }

    /// Kills the consumer task without letting it finish anything.
    pub fn abort(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}
