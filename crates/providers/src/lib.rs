//! Provider clients: Google Calendar, Microsoft Graph and ICS feeds over reqwest, OAuth
//! and token refresh, the security primitives shared by api, webhook-ingest and
//! sync-worker (tokens encrypted at rest, signed channel tokens / clientState, signed
//! OAuth state), and the mapping of provider events to `calsync_core::ExternalEvent`.
#![doc = include_str!("../README.md")]

pub mod booking;
pub mod calendars;
pub mod clients;
pub mod error;
pub mod google;
pub mod http;
pub mod ics;
pub mod microsoft;
pub mod oauth;
pub mod security;
pub mod sync;
pub mod webhooks;

pub use booking::BookingEvent;
pub use calendars::CalendarInfo;
pub use error::ProviderError;
pub use oauth::{GoogleConfig, MicrosoftConfig, TokenSet};
pub use sync::{SyncBatch, SyncChange, SyncWindow};
