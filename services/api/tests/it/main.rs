//! Integration tests of the api service: each test spawns the server on port 0 against
//! its own database and broker prefix (`helpers::TestApp`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod appointments;
mod availability;
mod connect;
mod health;
mod helpers;
mod microsoft;
mod mine;
mod oauth_state;
mod operator;
mod schedule;
mod specialists;
