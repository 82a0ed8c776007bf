//! sync-worker integration tests: one binary (one link) for ICS sync, the scheduler's
//! claims, cleanup and metrics, and a simulated week against the Google sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cleanup;
mod ics;
mod replicas;
mod support;
mod week;
