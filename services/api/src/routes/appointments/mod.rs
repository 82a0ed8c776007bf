//! Marketplace bookings, and the agent's own merged list of them and their calendars.

pub mod mine;
pub mod post;
