//! Integration tests of calsync-mq against a real RabbitMQ: each test declares its own
//! topology under a random prefix (`calsync_testkit::TestBroker`), deleted afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dead_letter;
mod dlq;
mod isolation;
mod outage;
mod publish;
mod redelivery;
mod support;
