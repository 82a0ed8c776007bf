//! Public availability: free slots of specialists, and whether their calendars are fresh.
//! Only busy intervals of external events are ever read here (invariant 4).

pub mod get;
pub mod search;
