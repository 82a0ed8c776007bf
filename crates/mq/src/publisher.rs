//! A publisher that returns only after the broker confirmed the message. webhook-ingest
//! answers a provider 2xx only after this returns Ok; anything else becomes a 503 so
//! the provider retries, and no notification is acknowledged and then lost.

use crate::topology::{connect, ROUTING_KEY};
use crate::{MqError, Topology};
use calsync_proto::v1::ChangeNotice;
use calsync_proto::Message;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Upper bound on one publish including its confirm: past it the caller answers 503.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const PERSISTENT: u8 = 2;

/// Cheap to clone; all clones share one broker connection.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
    // The runtime the broker connection lives on. actix-web handlers run on per-worker
    // runtimes; publishing through this handle keeps lapin's I/O on one runtime.
    rt: tokio::runtime::Handle,
}

struct Inner {
    url: String,
    topology: Topology,
    // One confirm-mode channel, reopened lazily after any failure.
    link: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// Does not connect yet: a service starts (and reports not-ready) while the broker
    /// is down, instead of crash-looping. Must be called inside a tokio runtime.
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self {
            inner: Arc::new(Inner {
                url: url.into(),
                topology,
                link: Mutex::new(None),
            }),
            rt: tokio::runtime::Handle::current(),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Whether the broker can be reached now (readiness probes).
    pub async fn check(&self) -> Result<(), MqError> {
        let inner = Arc::clone(&self.inner);
        self.on_rt(async move {
            let mut slot = inner.link.lock().await;
            inner.channel(&mut slot).await.map(|_| ())
        })
        .await
    }

    /// Publishes a change notice to the work exchange and waits for the confirm.
    pub async fn publish_notice(&self, notice: &ChangeNotice) -> Result<(), MqError> {
        let exchange = self.inner.topology.exchange();
        self.publish(&exchange, ROUTING_KEY, &notice.encode_to_vec(), 1)
            .await
    }

    /// Publishes raw bytes with an attempt header and waits for the confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        attempt: u32,
    ) -> Result<(), MqError> {
        let inner = Arc::clone(&self.inner);
        let (exchange, routing_key, payload) = (
            exchange.to_owned(),
            routing_key.to_owned(),
            payload.to_vec(),
        );
        self.on_rt(async move {
            inner
                .publish(&exchange, &routing_key, &payload, attempt)
                .await
        })
        .await
    }

    pub async fn close(&self) {
        let inner = Arc::clone(&self.inner);
        let _ = self
            .on_rt(async move {
                if let Some((conn, _)) = inner.link.lock().await.take() {
                    let _ = conn.close(200, "shutdown").await;
                }
                Ok(())
            })
            .await;
    }

    async fn on_rt<F>(&self, fut: F) -> Result<(), MqError>
    where
        F: std::future::Future<Output = Result<(), MqError>> + Send + 'static,
    {
        match self.rt.spawn(fut).await {
            Ok(r) => r,
            Err(e) => Err(MqError::NotConfirmed(format!("publish task failed: {e}"))),
        }
    }
}

impl Inner {
    async fn channel(&self, slot: &mut Option<(Connection, Channel)>) -> Result<Channel, MqError> {
        if let Some((conn, ch)) = slot.as_ref() {
            if conn.status().connected() && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        *slot = None;
        let conn = connect(&self.url).await?;
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        crate::declare(&ch, &self.topology).await?;
        *slot = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        attempt: u32,
    ) -> Result<(), MqError> {
        let result = tokio::time::timeout(CONFIRM_TIMEOUT, async {
            // The lock only guards opening the channel: publishes then go out and await
            // their confirms concurrently (lapin matches confirms by delivery tag), so a
            // burst is pipelined instead of one round trip after another.
            let ch = {
                let mut slot = self.link.lock().await;
                self.channel(&mut slot).await?
            };
            let outcome =
                publish_confirmed(&ch, exchange, routing_key, payload, attempt, None).await;
            if outcome.is_err() {
                // Drop a channel that failed: the next publish opens a fresh one.
                *self.link.lock().await = None;
            }
            outcome
        })
        .await;
        match result {
            Ok(r) => r,
            Err(_) => {
                *self.link.lock().await = None;
                Err(MqError::Timeout(CONFIRM_TIMEOUT))
            }
        }
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
