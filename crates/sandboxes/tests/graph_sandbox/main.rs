//! Over-HTTP tests of the Graph sandbox: OAuth, events, calendarView delta,
//! subscriptions with the validation handshake, notifications, faults.
#![allow(
    clippy::expect_used,
    reason = "a test fails loudly at the first broken step"
)]

mod support;

mod calendars;
mod delta;
mod endpoints;
mod oauth;
mod subscriptions;
