//! The dead-letter queue, operable: list what is there and why, and put messages back
//! on the work exchange. Listing does not consume: messages are fetched unacked and
//! the channel is closed, which returns them to the queue.

use crate::consumer::attempt_of;
use crate::publisher::publish_confirmed;
use crate::topology::{connect, ROUTING_KEY};
use crate::{declare, queue_depth, MqError, Topology, ERROR_HEADER};
use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;

/// One dead-lettered notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message id (absent on messages dead-lettered before ids were set).
    pub id: Option<String>,
    /// Its connection, or the connections of the notices it carries, comma-separated.
    pub connection_id: Option<String>,
    pub attempts: u32,
    pub reason: Option<String>,
}

/// What to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    All,
    Id(String),
}

fn describe(m: &BasicGetMessage) -> DeadLetter {
    let props = &m.delivery.properties;
    let reason = props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ERROR_HEADER).cloned())
        .and_then(|v| match v {
            AMQPValue::LongString(s) => Some(s.to_string()),
            _ => None,
        });
    DeadLetter {
        id: props.message_id().as_ref().map(|s| s.to_string()),
        // A message carrying several notices names each of its connections.
        connection_id: calsync_proto::notices(m.delivery.data.as_slice())
            .ok()
            .map(|n| {
                n.into_iter()
                    .map(|n| n.connection_id)
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        attempts: attempt_of(&m.delivery),
        reason,
    }
}

/// Up to `limit` dead letters, oldest first, left in the queue.
pub async fn list(url: &str, t: &Topology, limit: usize) -> Result<Vec<DeadLetter>, MqError> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    declare(&ch, t).await?;
    let depth = usize::try_from(queue_depth(&ch, &t.dead_letter_queue()).await?).unwrap_or(0);
    let mut out = Vec::new();
    while out.len() < limit.min(depth) {
        match ch
            .basic_get(&t.dead_letter_queue(), BasicGetOptions { no_ack: false })
            .await?
        {
            Some(m) => out.push(describe(&m)),
            None => break,
        }
    }
    // Closing with the messages unacked hands them back to the queue.
    let _ = conn.close(200, "listed").await;
    Ok(out)
}

/// Puts the selected dead letters back on the work exchange (attempts start over) and
/// removes them from the dead-letter queue; returns how many. Each is acked only after
/// the broker confirmed its republish, so none is lost on the way.
pub async fn replay(url: &str, t: &Topology, which: &Replay) -> Result<usize, MqError> {
    let conn = connect(url).await?;
    let ch = conn.create_channel().await?;
    declare(&ch, t).await?;
    let out = conn.create_channel().await?;
    out.confirm_select(ConfirmSelectOptions::default()).await?;
    // Only what is there now: replayed messages that fail again land behind these.
    let depth = queue_depth(&ch, &t.dead_letter_queue()).await?;
    let mut replayed = 0;
    for _ in 0..depth {
        let Some(m) = ch
            .basic_get(&t.dead_letter_queue(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let selected = match which {
            Replay::All => true,
            Replay::Id(id) => describe(&m).id.as_deref() == Some(id.as_str()),
        };
        if !selected {
            // Left unacked until the channel closes, then back in the queue.
            continue;
        }
        publish_confirmed(&out, &t.exchange(), ROUTING_KEY, &m.delivery.data, 1, None).await?;
        m.delivery.ack(BasicAckOptions::default()).await?;
        replayed += 1;
        if matches!(which, Replay::Id(_)) {
            break;
        }
    }
    let _ = conn.close(200, "replayed").await;
    Ok(replayed)
}
