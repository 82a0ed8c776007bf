//! The provider-neutral shape of an external calendar event, as the worker stores it.

use crate::ids::AppointmentId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Confirmed,
    Tentative,
    Cancelled,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Confirmed => "confirmed",
            EventStatus::Tentative => "tentative",
            EventStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "confirmed" => Ok(Self::Confirmed),
            "tentative" => Ok(Self::Tentative),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(format!("unknown event status {other:?}")),
        }
    }
}

/// One event instance as calsync keeps it. Provider mappers produce these; the worker
/// upserts them keyed by (connection, `provider_event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalEvent {
    /// Unique within the connection: the provider's instance id, or for ICS the UID plus
    /// the instance's original start.
    pub provider_event_id: String,
    pub ical_uid: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub all_day: bool,
    pub status: EventStatus,
    /// Whether this instance makes the specialist unavailable.
    pub blocks: bool,
    /// We wrote this event to the provider for a marketplace booking.
    pub is_soradin_created: bool,
    pub appointment_id: Option<AppointmentId>,
    /// Private: shown only in the agent's own portal.
    pub title: Option<String>,
    pub provider_updated_at: Option<DateTime<Utc>>,
}

/// How an event that is neither clearly busy nor clearly free is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusyPolicy {
    /// Tentative events (Google `tentative`, Graph `showAs: tentative`, ICS TENTATIVE)
    /// block by default: a maybe-meeting is safer treated as busy than double-booked.
    pub tentative_blocks: bool,
}

impl Default for BusyPolicy {
    fn default() -> Self {
        Self {
            tentative_blocks: true,
        }
    }
}
