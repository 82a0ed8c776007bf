//! The calendars of a connected account as the provider lists them (Google
//! `calendarList`, Graph `/me/calendars`), in one provider-neutral shape.

/// One calendar of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarInfo {
    /// The provider's id (Google: an email-like id; Graph: an opaque id).
    pub id: String,
    pub name: String,
    /// The account's main calendar (Google `primary: true`, Graph `isDefaultCalendar`).
    pub primary: bool,
    /// Events may be written to it (Google `accessRole` owner or writer, Graph `canEdit`).
    pub can_write: bool,
}
