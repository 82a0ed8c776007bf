//! The batching consumer: deliveries are gathered into batches (up to `max_batch`, or
//! what arrived within `linger` of the first) and handed over together, so a handler
//! can coalesce a storm of notices for one connection into one database statement, and
//! notices for other connections are never stuck behind it. Acks follow the handler's
//! success as in the single-message consumer; failures take the same retry and
//! dead-letter route, message by message.

use crate::consumer::{reconnecting, settle, HandleError, DRAIN_ON_SHUTDOWN};
use crate::topology::connect;
use crate::{declare, ConsumerSettings, MqError};
use calsync_proto::v1::ChangeNotice;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the batching consumer calls with each batch of decoded notices.
pub trait BatchHandler: Send + Sync + 'static {
    /// One result for the whole batch: Ok acks every message; an error sends each one
    /// on its retry or dead-letter route.
    fn handle_batch(
        &self,
        notices: Vec<ChangeNotice>,
    ) -> impl Future<Output = Result<(), HandleError>> + Send;
}

#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub max_batch: usize,
    /// How long the first delivery of a batch waits for company. Short: a lone change
    /// must not be slowed noticeably.
    pub linger: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            max_batch: 500,
            linger: Duration::from_millis(5),
        }
    }
}

/// Consumes in batches until `shutdown`; reconnects with capped back-off.
pub async fn run_batch_consumer<H: BatchHandler>(
    settings: ConsumerSettings,
    batching: Batching,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    reconnecting(&shutdown, || {
        consume_once(&settings, batching, &handler, &shutdown)
    })
    .await;
}

async fn consume_once<H: BatchHandler>(
    s: &ConsumerSettings,
    batching: Batching,
    handler: &Arc<H>,
    shutdown: &CancellationToken,
) -> Result<(), MqError> {
    let conn = connect(&s.url).await?;
    let ch = conn.create_channel().await?;
    declare(&ch, &s.topology).await?;
    let max_batch = batching.max_batch.max(1);
    // The broker keeps a whole batch (and the next one) on the wire.
    let prefetch = u16::try_from(max_batch.saturating_mul(2))
        .unwrap_or(u16::MAX)
        .max(s.prefetch);
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let republish = conn.create_channel().await?;
    republish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let tag = format!("{}-{}", s.tag_prefix, uuid::Uuid::new_v4().simple());
    let mut consumer = ch
        .basic_consume(
            &s.topology.work_queue(),
            &tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %s.topology.work_queue(), consumer.tag = %tag, max_batch, "consuming in batches");

    let outcome = loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(d)) => d,
                Some(Err(e)) => break Err(MqError::from(e)),
                None => break Err(MqError::NotConfirmed("consumer stream ended".into())),
            }
        };
        let mut batch = vec![first];
        let mut broken = None;
        let deadline = tokio::time::Instant::now() + batching.linger;
        while batch.len() < max_batch {
            match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(Some(Ok(d))) => batch.push(d),
                Ok(Some(Err(e))) => {
                    broken = Some(MqError::from(e));
                    break;
                }
                Ok(None) => {
                    broken = Some(MqError::NotConfirmed("consumer stream ended".into()));
                    break;
                }
                Err(_) => break,
            }
        }
        // What was received is handled even when the stream broke: acks cannot reach
        // a dead channel, and the broker redelivers; the handler is idempotent.
        let handled = tokio::time::timeout(
            DRAIN_ON_SHUTDOWN,
            process(batch, handler.as_ref(), s, &republish),
        )
        .await;
        if handled.is_err() {
            tracing::warn!("a batch did not finish in time; the broker redelivers it");
        }
        if let Some(e) = broken {
            break Err(e);
        }
    };
    let _ = ch
        .basic_cancel(&tag, lapin::options::BasicCancelOptions::default())
        .await;
    let _ = conn.close(200, "bye").await;
    outcome
}

async fn process<H: BatchHandler>(
    batch: Vec<Delivery>,
    handler: &H,
    s: &ConsumerSettings,
    republish: &lapin::Channel,
) {
    let mut notices = Vec::with_capacity(batch.len());
    let mut decoded = Vec::with_capacity(batch.len());
    for d in batch {
        match calsync_proto::notices(d.data.as_slice()) {
            Ok(n) => {
                notices.extend(n);
                decoded.push(d);
            }
            Err(e) => {
                let reason = HandleError::Permanent(format!("undecodable notice: {e}"));
                settle(d, Err(reason), &s.topology, republish).await;
            }
        }
    }
    if decoded.is_empty() {
        return;
    }
    let result = handler.handle_batch(notices).await;
    for d in decoded {
        settle(d, result.clone(), &s.topology, republish).await;
    }
}
