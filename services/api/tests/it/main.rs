//! Integration tests of the api service: each test spawns the server on port 0 against
//! its own database and broker prefix (`helpers::TestApp`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod appointments;
mod availability;
mod availability_cache;
mod booking;
mod calendars;
mod connect;
mod cors;
mod freshness;
mod grid;
mod health;
mod helpers;
mod logs;
mod microsoft;
mod mine;
mod oauth_state;
mod openapi;
mod operator;
mod schedule;
mod specialists;
mod writeback;
