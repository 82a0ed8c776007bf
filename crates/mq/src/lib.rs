//! RabbitMQ for calsync, on lapin: the prefixed topology (work queue, TTL retry queues
//! that dead-letter back, a final dead-letter queue), a publisher that returns only once
//! the broker has confirmed the message, and a consumer that acks only after its handler
//! succeeded, retries with back-off, and reconnects when the broker goes away.

mod batch;
mod consumer;
pub mod dlq;
mod error;
mod publisher;
mod topology;

pub use batch::{run_batch_consumer, BatchHandler, Batching};
pub use consumer::{run_consumer, ConsumerSettings, HandleError, Handler};
pub use error::MqError;
pub use publisher::Publisher;
pub use topology::{connect, declare, queue_depth, Topology, ATTEMPT_HEADER, ERROR_HEADER};
