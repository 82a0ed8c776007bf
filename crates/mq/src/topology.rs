//! Exchange and queue names under a configurable prefix, and their declaration.
//!
//! ```text
//! {p}.notices (direct exchange) --"notice"--> {p}.notices.work
//! {p}.notices.retry.{ms}  (TTL = ms, dead-letters back to {p}.notices / "notice")
//! {p}.notices.dlq         (where a message ends after its last attempt)
//! ```
//! Every queue is durable and every message persistent, so a broker restart loses
//! nothing that was confirmed.

use crate::MqError;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::time::Duration;

/// Header carrying how many times a message has been handed to a handler so far.
pub const ATTEMPT_HEADER: &str = "x-calsync-attempt";
/// Header carrying why a message was dead-lettered.
pub const ERROR_HEADER: &str = "x-calsync-error";
pub(crate) const ROUTING_KEY: &str = "notice";

#[derive(Debug, Clone)]
pub struct Topology {
    pub prefix: String,
    /// Delay before each retry; a message gets `retry_delays.len() + 1` attempts.
    pub retry_delays: Vec<Duration>,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            retry_delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(10),
                Duration::from_secs(60),
            ],
        }
    }

    pub fn exchange(&self) -> String {
        format!("{}.notices", self.prefix)
    }
    pub fn work_queue(&self) -> String {
        format!("{}.notices.work", self.prefix)
    }
    pub fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.notices.retry.{}", self.prefix, delay.as_millis())
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.notices.dlq", self.prefix)
    }
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_delays.len()).unwrap_or(u32::MAX - 1) + 1
    }
    /// Every queue name, for tests that clean up after themselves.
    pub fn all_queues(&self) -> Vec<String> {
        let mut q = vec![self.work_queue(), self.dead_letter_queue()];
        q.extend(self.retry_delays.iter().map(|d| self.retry_queue(*d)));
        q
    }
}

/// Opens a connection whose I/O runs on the current tokio runtime.
pub async fn connect(url: &str) -> Result<Connection, MqError> {
    let props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    Ok(Connection::connect(url, props).await?)
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        // Survive a broker restart.
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the whole topology; idempotent, so every process does it at start.
pub async fn declare(channel: &Channel, t: &Topology) -> Result<(), MqError> {
    channel
        .exchange_declare(
            &t.exchange(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(&t.work_queue(), durable(), FieldTable::default())
        .await?;
    channel
        .queue_bind(
            &t.work_queue(),
            &t.exchange(),
            ROUTING_KEY,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for delay in &t.retry_delays {
        let mut args = FieldTable::default();
        let ttl = i32::try_from(delay.as_millis()).unwrap_or(i32::MAX);
        args.insert(ShortString::from("x-message-ttl"), AMQPValue::LongInt(ttl));
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from(t.exchange())),
        );
        args.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(LongString::from(ROUTING_KEY)),
        );
        channel
            .queue_declare(&t.retry_queue(*delay), durable(), args)
            .await?;
    }
    channel
        .queue_declare(&t.dead_letter_queue(), durable(), FieldTable::default())
        .await?;
    Ok(())
}

/// Messages ready in a queue (not counting unacknowledged ones).
pub async fn queue_depth(channel: &Channel, queue: &str) -> Result<u32, MqError> {
    let q = channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(q.message_count())
}
