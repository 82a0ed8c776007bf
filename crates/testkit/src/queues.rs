//! Looking into a test's queues without changing them: depths by passive declare (a
//! queue nobody declared yet counts as empty), and taking notices off the work queue.

use calsync_mq::Topology;
use calsync_proto::v1::ChangeNotice;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use std::time::Duration;

/// How often a wait looks again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// Ready messages in a test's queues. A finished test must leave `work` and
/// `dead_letter` empty; `retrying` (waiting out a retry delay) comes back to `work`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepths {
    pub work: u32,
    pub retrying: u32,
    pub dead_letter: u32,
}

/// Ready messages in `queue`, or `None` when it does not exist. A passive declare on
/// a missing queue closes its channel (404), so each look gets a channel of its own.
async fn passive_depth(conn: &Connection, queue: &str) -> anyhow::Result<Option<u32>> {
    let ch = conn.create_channel().await?;
    let declared = ch
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match declared {
        Ok(q) => {
            let _ = ch.close(200, "ok").await;
            Ok(Some(q.message_count()))
        }
        Err(lapin::Error::ProtocolError(e)) if e.get_id() == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn depths(url: &str, topology: &Topology) -> anyhow::Result<QueueDepths> {
    let conn = calsync_mq::connect(url).await?;
    let result = async {
        // Retry queues first: a message that leaves one for the work queue meanwhile is
        // then counted there, never missed.
        let mut retrying = 0;
        for queue in retry_queues(topology) {
            retrying += passive_depth(&conn, &queue).await?.unwrap_or(0);
        }
        let work = passive_depth(&conn, &topology.work_queue()).await?;
        let dead_letter = passive_depth(&conn, &topology.dead_letter_queue()).await?;
        anyhow::Ok(QueueDepths {
            work: work.unwrap_or(0),
            retrying,
            dead_letter: dead_letter.unwrap_or(0),
        })
    }
    .await;
    let _ = conn.close(200, "ok").await;
    result
}

/// The retry queues of the prefix: those of `topology` (a test's short delays) and
/// those with the default delays, which the services under test declare.
fn retry_queues(topology: &Topology) -> Vec<String> {
    let services = Topology::new(topology.prefix.clone());
    let mut queues: Vec<String> = topology
        .retry_delays
        .iter()
        .chain(&services.retry_delays)
        .map(|d| topology.retry_queue(*d))
        .collect();
    queues.sort();
    queues.dedup();
    queues
}

/// `depths` from synchronous code (a `Drop`), on a runtime of its own thread, so it
/// works inside and outside a tokio runtime alike.
pub(crate) fn depths_blocking(url: String, topology: Topology) -> anyhow::Result<QueueDepths> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(depths(&url, &topology))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the queue check panicked"))?
}

/// Takes (auto-acks) up to `n` notices from `queue`, polling until `timeout` for more
/// (and for the queue itself, which the first publish declares).
pub(crate) async fn take(
    url: &str,
    queue: &str,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<ChangeNotice>> {
    let conn = calsync_mq::connect(url).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let result = async {
        let mut out = Vec::new();
        while passive_depth(&conn, queue).await?.is_none() {
            if tokio::time::Instant::now() >= deadline {
                return Ok(out);
            }
            tokio::time::sleep(POLL).await;
        }
        let ch = conn.create_channel().await?;
        while out.len() < n {
            match ch
                .basic_get(queue, BasicGetOptions { no_ack: true })
                .await?
            {
                Some(message) => {
                    out.extend(calsync_proto::notices(message.delivery.data.as_slice())?)
                }
                None if tokio::time::Instant::now() >= deadline => break,
                None => tokio::time::sleep(POLL).await,
            }
        }
        let _ = ch.close(200, "ok").await;
        anyhow::Ok(out)
    }
    .await;
    let _ = conn.close(200, "ok").await;
    result
}
