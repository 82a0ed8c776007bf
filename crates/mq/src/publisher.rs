//! A publisher that returns only after the broker confirmed the message. webhook-ingest
//! answers a provider 2xx only after this returns Ok; anything else becomes a 503 so
//! the provider retries, and no notification is acknowledged and then lost.
//!
//! Throughput: a publisher holds one or more *lanes* (a broker connection with one
//! confirm-mode channel each) and spreads publishes over them round-robin. Within a
//! lane publishes are pipelined: each goes out at once and waits for its own confirm,
//! which lapin matches by delivery tag (the broker acknowledges a run of tags with one
//! `multiple` ack, so a group of in-flight publishes is confirmed together). Several
//! lanes let the broker work on several channel processes at once and keep one slow
//! confirm (a disk sync) from holding up every request. The open link of a lane is read
//! without waiting; only reopening it after a failure is serialised.

use crate::topology::{connect, ROUTING_KEY};
use crate::{MqError, Topology};
use calsync_proto::v1::ChangeNotice;
use calsync_proto::Message;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bound on one publish including its confirm: past it the caller answers 503.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const PERSISTENT: u8 = 2;
/// The most lanes a publisher opens (each is a broker connection).
const MAX_LANES: usize = 32;

/// Cheap to clone; all clones share the same lanes.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
    // The runtime the broker connections are opened on. actix-web handlers run on
    // per-worker runtimes; lapin's I/O must live on one long-lived runtime, so links
    // are opened there. Publishing itself only queues frames and awaits the confirm,
    // which works from any runtime.
    rt: tokio::runtime::Handle,
}

struct Inner {
    url: String,
    topology: Topology,
    lanes: Vec<Lane>,
    next: AtomicUsize,
    generation: AtomicU64,
}

#[derive(Default)]
struct Lane {
    /// The open link; read on every publish, written only when it is replaced.
    current: RwLock<Option<Link>>,
    /// Held while opening, so a failure reopens the lane once, not once per publish.
    opening: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Link {
    generation: u64,
    conn: Arc<Connection>,
    channel: Channel,
}

impl Link {
    fn usable(&self) -> bool {
        self.conn.status().connected() && self.channel.status().connected()
    }
}

impl Publisher {
    /// One lane (one broker connection). Does not connect yet: a service starts (and
    /// reports not-ready) while the broker is down, instead of crash-looping. Must be
    /// called inside a tokio runtime.
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self::with_lanes(url, topology, 1)
    }

    /// `lanes` broker connections (1..=32), each with one confirming channel, used
    /// round-robin: for a service whose every request is a publish (webhook-ingest).
    pub fn with_lanes(url: impl Into<String>, topology: Topology, lanes: usize) -> Self {
        let lanes = lanes.clamp(1, MAX_LANES);
        Self {
            inner: Arc::new(Inner {
                url: url.into(),
                topology,
                lanes: (0..lanes).map(|_| Lane::default()).collect(),
                next: AtomicUsize::new(0),
                generation: AtomicU64::new(0),
            }),
            rt: tokio::runtime::Handle::current(),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Whether the broker can be reached now (readiness probes).
    pub async fn check(&self) -> Result<(), MqError> {
        self.link(0).await.map(|_| ())
    }

    /// Publishes a change notice to the work exchange and waits for the confirm.
    pub async fn publish_notice(&self, notice: &ChangeNotice) -> Result<(), MqError> {
        let exchange = self.inner.topology.exchange();
        self.publish(&exchange, ROUTING_KEY, &notice.encode_to_vec(), 1)
            .await
    }

    /// Publishes `notices` as one message (see `calsync_proto::encode_notices`) and
    /// waits for its confirm: one broker write for all of them.
    pub async fn publish_notices(&self, notices: Vec<ChangeNotice>) -> Result<(), MqError> {
        let exchange = self.inner.topology.exchange();
        let payload = calsync_proto::encode_notices(notices);
        self.publish(&exchange, ROUTING_KEY, &payload, 1).await
    }

    /// The lanes this publisher spreads over (its publishes in flight at once, at most).
    pub fn lanes(&self) -> usize {
        self.inner.lanes.len()
    }

    /// Publishes raw bytes with an attempt header and waits for the confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        attempt: u32,
    ) -> Result<(), MqError> {
        let lane = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.lanes.len();
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        let link = tokio::time::timeout_at(deadline, self.link(lane))
            .await
            .map_err(|_| MqError::Timeout(CONFIRM_TIMEOUT))??;
        let outcome = tokio::time::timeout_at(
            deadline,
            publish_confirmed(&link.channel, exchange, routing_key, payload, attempt, None),
        )
        .await
        .unwrap_or(Err(MqError::Timeout(CONFIRM_TIMEOUT)));
        if outcome.is_err() {
            // Drop a link that failed (it may also have lost the topology): the next
            // publish on this lane opens a fresh one and declares again.
            self.discard(lane, link.generation);
        }
        outcome
    }

    pub async fn close(&self) {
        let links: Vec<Link> = self
            .inner
            .lanes
            .iter()
            .filter_map(|l| l.current.write().ok().and_then(|mut c| c.take()))
            .collect();
        let closing = self.rt.spawn(async move {
            for link in links {
                let _ = link.conn.close(200, "shutdown").await;
            }
        });
        let _ = closing.await;
    }

    /// The lane's open link, opening it (on the publisher's runtime) when needed.
    async fn link(&self, lane: usize) -> Result<Link, MqError> {
        if let Some(link) = self.inner.current(lane) {
            return Ok(link);
        }
        let inner = Arc::clone(&self.inner);
        match self.rt.spawn(async move { inner.open(lane).await }).await {
            Ok(r) => r,
            Err(e) => Err(MqError::NotConfirmed(format!("publish task failed: {e}"))),
        }
    }

    fn discard(&self, lane: usize, generation: u64) {
        let Some(l) = self.inner.lanes.get(lane) else {
            return;
        };
        let old = match l.current.write() {
            Ok(mut cur) if cur.as_ref().is_some_and(|c| c.generation == generation) => cur.take(),
            _ => None,
        };
        if let Some(old) = old {
            self.rt.spawn(async move {
                let _ = old.conn.close(200, "reopening").await;
            });
        }
    }
}

impl Inner {
    fn current(&self, lane: usize) -> Option<Link> {
        let cur = self.lanes.get(lane)?.current.read().ok()?;
        cur.as_ref().filter(|l| l.usable()).cloned()
    }

    async fn open(&self, lane: usize) -> Result<Link, MqError> {
        let l = self
            .lanes
            .get(lane)
            .ok_or_else(|| MqError::NotConfirmed(format!("no publisher lane {lane}")))?;
        let _opening = l.opening.lock().await;
        if let Some(link) = self.current(lane) {
            // Another publish reopened it while this one waited.
            return Ok(link);
        }
        let conn = connect(&self.url).await?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        crate::declare(&channel, &self.topology).await?;
        let link = Link {
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            conn: Arc::new(conn),
            channel,
        };
        let old = l
            .current
            .write()
            .map_err(|_| MqError::NotConfirmed("publisher lane lock poisoned".into()))?
            .replace(link.clone());
        if let Some(old) = old {
            let _ = old.conn.close(200, "reopened").await;
        }
        Ok(link)
    }
}

pub(crate) async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    attempt: u32,
    reason: Option<&str>,
) -> Result<(), MqError> {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from(crate::ATTEMPT_HEADER),
        AMQPValue::LongLongInt(i64::from(attempt)),
    );
    if let Some(r) = reason {
        // Why a message was dead-lettered, for `calsync dlq list`; bounded, as a
        // header must stay small.
        let r: String = r.chars().take(500).collect();
        headers.insert(
            ShortString::from(crate::ERROR_HEADER),
            AMQPValue::LongString(r.into()),
        );
    }
    let props = BasicProperties::default()
        // Every copy gets an id of its own: `calsync dlq replay ID` names one.
        .with_message_id(ShortString::from(uuid::Uuid::new_v4().simple().to_string()))
        .with_delivery_mode(PERSISTENT)
        .with_content_type(ShortString::from("application/x-protobuf"))
        .with_headers(headers);
    let confirm = ch
        .basic_publish(
            exchange,
            routing_key,
            // mandatory: an unroutable message comes back instead of vanishing.
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            payload,
            props,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) => Err(MqError::NotConfirmed(format!(
            "unroutable: {}",
            returned.reply_text
        ))),
        Confirmation::Nack(_) => Err(MqError::NotConfirmed("nack".into())),
        Confirmation::NotRequested => Err(MqError::NotConfirmed(
            "channel is not in confirm mode".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calsync_testkit::TestBroker;

    /// The test broker's topology, as this crate's type (testkit links its own copy).
    fn topology(broker: &TestBroker) -> Topology {
        let mut t = Topology::new(broker.prefix());
        t.retry_delays = broker.topology.retry_delays.clone();
        t
    }

    fn notice(i: u64) -> ChangeNotice {
        ChangeNotice {
            connection_id: uuid::Uuid::new_v4().to_string(),
            message_number: i,
            ..ChangeNotice::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publishes_spread_over_lanes_are_each_confirmed() -> Result<(), MqError> {
        let broker = TestBroker::new();
        let publisher = Publisher::with_lanes(&broker.url, topology(&broker), 3);
        let tasks: Vec<_> = (0..90)
            .map(|i| {
                let p = publisher.clone();
                tokio::spawn(async move { p.publish_notice(&notice(i)).await })
            })
            .collect();
        for t in tasks {
            t.await
                .map_err(|e| MqError::NotConfirmed(e.to_string()))??;
        }
        let opened = (0..3)
            .filter(|&i| publisher.inner.current(i).is_some())
            .count();
        assert_eq!(opened, 3, "round-robin opened every lane");
        let depth = broker
            .depth(&broker.topology.work_queue())
            .await
            .map_err(|e| MqError::NotConfirmed(e.to_string()))?;
        assert_eq!(depth, 90, "every confirmed notice is in the queue");
        publisher.close().await;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lane_whose_connection_died_reopens_on_the_next_publish() -> Result<(), MqError> {
        let broker = TestBroker::new();
        let publisher = Publisher::with_lanes(&broker.url, topology(&broker), 1);
        publisher.publish_notice(&notice(1)).await?;
        let first = publisher
            .inner
            .current(0)
            .ok_or_else(|| MqError::NotConfirmed("no link after a publish".into()))?;
        first.conn.close(320, "killed by the test").await?;
        publisher.publish_notice(&notice(2)).await?;
        let second = publisher
            .inner
            .current(0)
            .ok_or_else(|| MqError::NotConfirmed("no link after the reopen".into()))?;
        assert!(second.generation > first.generation, "a fresh link");
        publisher.close().await;
        Ok(())
    }
}
