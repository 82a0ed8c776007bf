//! The agent's schedule page: server-rendered HTML, no front-end build.

pub mod render;
pub mod schedule;
