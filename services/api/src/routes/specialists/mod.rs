//! Specialists as the marketplace defines them.

pub mod post;
