//! Marketplace bookings (booking and cancelling), and the agent's own merged list of
//! them and their calendars.

pub mod answer;
pub mod delete;
pub mod mine;
pub mod post;
