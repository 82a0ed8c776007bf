//! The provider-neutral result of one sync round: what changed and the cursor to store
//! with it (Google `nextSyncToken`, Graph `@odata.deltaLink`).

use calsync_core::event::BusyPolicy;
use calsync_core::{ExternalEvent, TimeRange};
use chrono_tz::Tz;

/// What a sync needs to know about the specialist and the range it covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncWindow {
    /// Google: `timeMin` of a full sync (start only; incremental rounds see every change).
    /// Graph: `startDateTime`/`endDateTime` of the delta round, fixed until the next full one.
    pub range: TimeRange,
    /// The specialist's zone: all-day events block these local days.
    pub tz: Tz,
    pub policy: BusyPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncChange {
    Upsert(ExternalEvent),
    Remove { provider_event_id: String },
}

impl SyncChange {
    pub fn provider_event_id(&self) -> &str {
        match self {
            SyncChange::Upsert(e) => &e.provider_event_id,
            SyncChange::Remove { provider_event_id } => provider_event_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    pub changes: Vec<SyncChange>,
    /// Store in the same transaction as `changes`.
    pub next_cursor: String,
    /// A full round: `changes` is the whole set; replace (not merge) the stored events.
    pub full: bool,
}
