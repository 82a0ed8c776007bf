//! Domain types and pure logic of calsync: ids, providers, time ranges, the event → busy
//! rules, availability and slots, and the webhook expiry policy. No I/O lives here, so
//! everything in this crate is testable without a database, broker or network.

pub mod availability;
pub mod busy;
pub mod event;
pub mod ids;
pub mod provider;
pub mod time;
pub mod webhook;

pub use availability::{
    compute_slots, local_rfc3339, to_local_rfc3339, working_intervals, AvailabilityError,
    AvailabilityQuery, LocalRfc3339, SlotPolicy, WorkingHours,
};
pub use event::{EventStatus, ExternalEvent};
pub use ids::{AppointmentId, SpecialistId};
pub use provider::{Provider, PRIMARY_CALENDAR};
pub use time::TimeRange;
