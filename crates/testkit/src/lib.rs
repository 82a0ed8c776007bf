//! Test isolation for calsync: a PostgreSQL database per test (`TestDatabase`), a
//! RabbitMQ prefix per test (`TestBroker`), a TCP proxy that simulates outages
//! (`ChaosProxy`), and `TestEnv`, the one harness the service tests build on (it
//! fails a test that leaves messages in the work or dead-letter queue). Only
//! `[dev-dependencies]` use this crate; the provider sandboxes that `calsync up`
//! embeds are in `calsync-sandboxes`.

pub mod broker;
pub mod chaos;
pub mod db;
pub mod env;
pub mod logging;
pub mod queues;

pub use broker::TestBroker;
pub use chaos::ChaosProxy;
pub use db::TestDatabase;
pub use env::{local_listener, Secrets, TestEnv, TestEnvBuilder};
pub use logging::init_test_logging;
pub use queues::QueueDepths;
