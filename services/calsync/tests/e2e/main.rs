//! End-to-end tests of calsync: api, webhook-ingest and sync-worker in this process on
//! ephemeral ports, against the real local PostgreSQL and RabbitMQ and the Google and
//! Graph sandboxes. One test binary (one link) for all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod google;
mod graph;
mod latency;
mod support;
