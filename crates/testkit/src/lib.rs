//! Test support for calsync: stateful provider sandboxes (Google Calendar, Microsoft
//! Graph, ICS feeds) that behave like the real APIs, and per-test database and broker
//! isolation. A dev-dependency of the services, and what `calsync up` starts when no
//! real provider credentials are configured.

pub mod broker;
pub mod chaos;
pub mod db;
pub mod google;
pub mod graph;
pub mod ics;

pub use broker::TestBroker;
pub use chaos::ChaosProxy;
pub use db::TestDatabase;
