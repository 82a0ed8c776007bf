//! End-to-end tests of calsync: api, webhook-ingest and sync-worker in this process on
//! ephemeral ports, against the real local PostgreSQL and RabbitMQ and the Google and
//! Graph sandboxes. One test binary (one link) for all of them. The scenarios both
//! providers share are written once in `shared` over the `provider::SandboxProvider`
//! trait; `google` and `graph` run them and hold the provider-specific ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod google;
mod graph;
mod latency;
mod provider;
mod shared;
mod support;
mod writeback;
