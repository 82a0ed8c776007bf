//! Wire tests of the provider clients against a tiny in-test HTTP server (not the sandboxes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod google;
mod microsoft;
mod mock;
