//! The acking consumer. A delivery is acked only after its handler returned Ok (so after
//! the database commit). A failing one is republished, with confirms, to the retry
//! queue of its attempt and then acked; after the last attempt it goes to the
//! dead-letter queue. If even that republish fails, the delivery is nacked with requeue,
//! so a message is never dropped. When the connection breaks the broker redelivers
//! every unacked message, and the loop reconnects with capped exponential back-off.

use crate::publisher::publish_confirmed;
use crate::topology::connect;
use crate::{declare, MqError, Topology, ATTEMPT_HEADER};
use calsync_proto::v1::ChangeNotice;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

const RECONNECT_MIN: Duration = Duration::from_millis(200);
/// Kept short: after a broker restart a worker waiting out a long back-off leaves every
/// change unsynced meanwhile (the chaos harness saw 20 s of idleness at a 30 s cap).
const RECONNECT_MAX: Duration = Duration::from_secs(3);
/// How long a graceful shutdown waits for in-flight notices.
pub(crate) const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(30);
/// How long a lost connection waits for in-flight notices before reconnecting.
const DRAIN_ON_DISCONNECT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum HandleError {
    /// Worth trying again later (provider 5xx, database briefly down).
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (undecodable message): straight to the dead-letter queue.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What the consumer calls for each notice.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, notice: ChangeNotice) -> impl Future<Output = Result<(), HandleError>> + Send;
}

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub url: String,
    pub topology: Topology,
    /// Unacked deliveries in flight at once: the worker's concurrency.
    pub prefetch: u16,
    pub tag_prefix: String,
}

/// Consumes until `shutdown` fires; then stops taking deliveries, lets in-flight ones
/// finish (ack or requeue) and returns.
pub async fn run_consumer<H: Handler>(
    settings: ConsumerSettings,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    reconnecting(&shutdown, || consume_once(&settings, &handler, &shutdown)).await;
}

/// Runs one consuming session after another until `shutdown`: a session that ends in
/// an error (the broker went away) is followed by another after a capped back-off.
pub(crate) async fn reconnecting<F, Fut>(shutdown: &CancellationToken, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), MqError>>,
{
    let mut backoff = RECONNECT_MIN;
    while !shutdown.is_cancelled() {
        match session().await {
            Ok(()) => backoff = RECONNECT_MIN,
            Err(e) => {
                tracing::warn!(error.message = %e, retry_in_ms = backoff.as_millis() as u64, "consumer lost the broker; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
        }
    }
}

async fn consume_once<H: Handler>(
    s: &ConsumerSettings,
    handler: &Arc<H>,
    shutdown: &CancellationToken,
) -> Result<(), MqError> {
    let conn = connect(&s.url).await?;
    let ch = conn.create_channel().await?;
    declare(&ch, &s.topology).await?;
    ch.basic_qos(s.prefetch, BasicQosOptions::default()).await?;
    // Retries and dead letters are published on their own confirm-mode channel.
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
    tracing::info!(queue = %s.topology.work_queue(), consumer.tag = %tag, "consuming");

    let mut in_flight = JoinSet::new();
    let outcome = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error.message = %e, "notice task panicked");
                }
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let handler = Arc::clone(handler);
                    let topology = s.topology.clone();
                    let republish = republish.clone();
                    in_flight.spawn(async move {
                        process(delivery, &*handler, &topology, &republish).await;
                    });
                }
                Some(Err(e)) => break Err(MqError::from(e)),
                None => break Err(MqError::NotConfirmed("consumer stream ended".into())),
            }
        }
    };
    // Graceful: stop deliveries, finish what we hold, then close.
    let _ = ch
        .basic_cancel(&tag, lapin::options::BasicCancelOptions::default())
        .await;
    // On shutdown, in-flight syncs get time to finish and ack. After a lost connection
    // their acks cannot reach the broker anyway (it redelivers them), so a hanging
    // handler must not hold up the reconnect for long.
    let grace = if outcome.is_ok() {
        DRAIN_ON_SHUTDOWN
    } else {
        DRAIN_ON_DISCONNECT
    };
    let drained = tokio::time::timeout(grace, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            abandoned = in_flight.len(),
            "in-flight notices did not finish in time; the broker redelivers them"
        );
        in_flight.abort_all();
    }
    let _ = conn.close(200, "bye").await;
    outcome
}

pub(crate) fn attempt_of(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(n),
            _ => None,
        })
        .unwrap_or(1)
}

async fn process<H: Handler>(delivery: Delivery, handler: &H, t: &Topology, republish: &Channel) {
    let result = match calsync_proto::notices(delivery.data.as_slice()) {
        Ok(notices) => handle_each(handler, notices).await,
        Err(e) => Err(HandleError::Permanent(format!("undecodable notice: {e}"))),
    };
    settle(delivery, result, t, republish).await;
}

/// The notices of one message, in order; the message fails with the first that fails
/// (handlers are idempotent, so a retry of the ones that succeeded costs nothing wrong).
async fn handle_each<H: Handler>(
    handler: &H,
    notices: Vec<ChangeNotice>,
) -> Result<(), HandleError> {
    for notice in notices {
        handler.handle(notice).await?;
    }
    Ok(())
}

/// Acks a handled delivery; a failed one is first republished, with confirms, to the
/// retry queue of its attempt or, after the last attempt (or a permanent failure), to
/// the dead-letter queue with the reason in a header. If that republish fails, the
/// delivery is nacked with requeue, so it is never dropped.
pub(crate) async fn settle(
    delivery: Delivery,
    result: Result<(), HandleError>,
    t: &Topology,
    republish: &Channel,
) {
    let attempt = attempt_of(&delivery);
    let forward = match result {
        Ok(()) => None,
        Err(HandleError::Permanent(reason)) => {
            tracing::error!(error.message = %reason, "notice goes to the dead-letter queue");
            Some((t.dead_letter_queue(), attempt, Some(reason)))
        }
        Err(HandleError::Transient(reason)) => {
            match t.retry_delays.get(attempt.saturating_sub(1) as usize) {
                Some(delay) => {
                    tracing::warn!(error.message = %reason, attempt, retry_in_ms = delay.as_millis() as u64, "notice failed; will retry");
                    Some((t.retry_queue(*delay), attempt + 1, None))
                }
                None => {
                    tracing::error!(error.message = %reason, attempt, "notice failed its last attempt; dead-lettered");
                    Some((t.dead_letter_queue(), attempt, Some(reason)))
                }
            }
        }
    };
    if let Some((queue, next_attempt, reason)) = forward {
        // Default exchange: routing key = queue name.
        let sent = publish_confirmed(
            republish,
            "",
            &queue,
            &delivery.data,
            next_attempt,
            reason.as_deref(),
        )
        .await;
        if let Err(e) = sent {
            tracing::error!(error.message = %e, "could not republish; requeueing the delivery");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
            return;
        }
    }
    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
        // The channel died: the broker will redeliver; handlers are idempotent.
        tracing::warn!(error.message = %e, "ack failed; the message will be redelivered");
    }
}
