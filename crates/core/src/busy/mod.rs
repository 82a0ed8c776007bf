//! Event → busy rules: provider-neutral decisions on whether an external event is kept,
//! removed, and whether it makes the specialist unavailable. Provider mappers extract the
//! facts from the wire format; the decisions live here so every rule is unit-tested once.

use crate::event::{BusyPolicy, EventStatus};
use crate::time::TimeRange;
use chrono::{DateTime, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// What to do with one provider event instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it from the store (cancelled, or cancelled away).
    Remove,
    /// Store it, blocking availability or not.
    Keep { blocks: bool, status: EventStatus },
}

/// The calendar owner's own answer to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelfResponse {
    /// Not an invitation, or the owner organises it.
    #[default]
    NotInvited,
    NeedsAction,
    Accepted,
    Tentative,
    Declined,
}

/// Google `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GoogleEventType {
    #[default]
    Default,
    OutOfOffice,
    FocusTime,
    WorkingLocation,
    /// Reservations Gmail put in the calendar (flights, hotels): real time away, so they
    /// block like ordinary events (unless marked transparent).
    FromGmail,
    /// Contacts' birthdays: an all-day reminder, not a commitment; never blocks.
    Birthday,
    /// A type Google adds later: treated like `default` (blocking is the safer error).
    Other,
}

/// What the Google mapper reads off an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoogleFacts {
    /// `status`; a missing or unknown status is `Confirmed`.
    pub status: EventStatus,
    /// `transparency: transparent`.
    pub transparent: bool,
    pub self_response: SelfResponse,
    pub event_type: GoogleEventType,
    /// Carries our private extended property: the mirror of a marketplace booking.
    pub soradin_created: bool,
}

/// Graph `showAs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShowAs {
    Free,
    Tentative,
    Busy,
    Oof,
    WorkingElsewhere,
    /// `unknown`, absent, or a value Graph adds later: blocks (safer than double-booking).
    #[default]
    Unknown,
}

/// What the Graph mapper reads off an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphFacts {
    pub is_cancelled: bool,
    pub show_as: ShowAs,
    /// `responseStatus.response`: `tentativelyAccepted` → `Tentative`, `declined` →
    /// `Declined`, `accepted` → `Accepted`, `notResponded` → `NeedsAction`, `none` and
    /// `organizer` → `NotInvited`.
    pub self_response: SelfResponse,
    pub soradin_created: bool,
}

/// Google: `cancelled` → removed; transparent, declined, `workingLocation` and birthdays do
/// not block; `outOfOffice` and `focusTime` block; tentative (by status or by the owner's
/// answer) blocks per `policy`.
pub fn google_disposition(facts: &GoogleFacts, policy: BusyPolicy) -> Disposition {
    if facts.status == EventStatus::Cancelled {
        return Disposition::Remove;
    }
    let tentative =
        facts.status == EventStatus::Tentative || facts.self_response == SelfResponse::Tentative;
    let status = if tentative {
        EventStatus::Tentative
    } else {
        EventStatus::Confirmed
    };
    let free = facts.transparent
        || facts.self_response == SelfResponse::Declined
        || matches!(
            facts.event_type,
            GoogleEventType::WorkingLocation | GoogleEventType::Birthday
        );
    let blocks = !free && (!tentative || policy.tentative_blocks) && !facts.soradin_created;
    Disposition::Keep { blocks, status }
}

/// Graph: `isCancelled` → removed; `showAs` free or workingElsewhere, or a declined answer,
/// do not block; busy, oof and unknown block; tentative (by `showAs` or by the owner's
/// answer) blocks per `policy`.
pub fn graph_disposition(facts: &GraphFacts, policy: BusyPolicy) -> Disposition {
    if facts.is_cancelled {
        return Disposition::Remove;
    }
    let tentative =
        facts.show_as == ShowAs::Tentative || facts.self_response == SelfResponse::Tentative;
    let status = if tentative {
        EventStatus::Tentative
    } else {
        EventStatus::Confirmed
    };
    let free = matches!(facts.show_as, ShowAs::Free | ShowAs::WorkingElsewhere)
        || facts.self_response == SelfResponse::Declined;
    let blocks = !free && (!tentative || policy.tentative_blocks) && !facts.soradin_created;
    Disposition::Keep { blocks, status }
}

/// The UTC range covered by the local days `[start, end_exclusive)` in `tz`: from local
/// midnight of `start` to local midnight of `end_exclusive`, so a day is 23 or 25 hours
/// long across a DST change. An end not after the start is read as one day (feeds in the
/// wild send `end == start` for single days).
pub fn all_day_range(start: NaiveDate, end_exclusive: NaiveDate, tz: Tz) -> TimeRange {
    let end_exclusive = if end_exclusive <= start {
        start.succ_opt().unwrap_or(start)
    } else {
        end_exclusive
    };
    TimeRange {
        start: local_day_start(start, tz),
        end: local_day_start(end_exclusive, tz),
    }
}

/// The first instant of local day `date` in `tz`. Where midnight does not exist (zones
/// that jump forward at 00:00), the day starts at the first local time that does.
pub fn local_day_start(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // DST gaps are at most a couple of hours; probe by quarter hours past midnight.
    for quarter in 0..=12 {
        let local = midnight + Duration::minutes(15 * quarter);
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    // Unreachable for real zones; fall back to the UTC reading rather than failing.
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
