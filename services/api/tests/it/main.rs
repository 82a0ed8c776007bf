//! Integration tests of the api service: each test spawns the server on port 0 against
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! its own database and broker prefix (`helpers::TestApp`).

mod appointments;
mod availability;
mod health;
mod helpers;
mod mine;
mod specialists;
