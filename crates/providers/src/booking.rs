//! What we write into an agent's calendar for a marketplace booking, provider-neutral.

use calsync_core::AppointmentId;
use chrono::{DateTime, Utc};

/// A booking's event: busy, tagged with the appointment id (Google
/// `extendedProperties.private.calsyncAppointmentId`, Graph a single-value extended
/// property), so that its synced copy is recognised as ours.
#[derive(Debug, Clone)]
pub struct BookingEvent<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub appointment_id: AppointmentId,
}
