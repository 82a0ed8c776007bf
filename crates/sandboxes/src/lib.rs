//! Provider sandboxes: stateful Google Calendar, Microsoft Graph and ICS feed servers
//! that behave like the real APIs (OAuth, incremental sync, push channels and
//! subscriptions, throttling and faults, Graph's penalty for slow webhook receivers).
//! `calsync up` starts them when no real provider app is configured, and the tests
//! drive them through their admin handles.
//!
//! A product feature, not test isolation: per-test databases and broker prefixes live
//! in `calsync-testkit`, which only `[dev-dependencies]` use.

pub mod endpoints;
pub mod google;
pub mod graph;
pub mod ics;
