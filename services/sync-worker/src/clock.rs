//! The worker's clock is the connection logic's (leases and expiry read the same one).

pub use calsync_connections::clock::{Clock, ManualClock, SystemClock};
