//! Calendar API v3 JSON shapes, as far as calsync reads or writes them.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    #[serde(default)]
    pub items: Vec<Event>,
    pub next_page_token: Option<String>,
    pub next_sync_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub status: Option<String>,
    /// RFC 3339.
    pub updated: Option<String>,
    #[serde(rename = "iCalUID")]
    pub ical_uid: Option<String>,
    pub summary: Option<String>,
    pub start: Option<EventTime>,
    pub end: Option<EventTime>,
    pub transparency: Option<String>,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub event_type: Option<String>,
    pub extended_properties: Option<ExtendedProperties>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTime {
    /// `YYYY-MM-DD`: an all-day event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// RFC 3339; the offset may be missing when `timeZone` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    #[serde(rename = "self", default)]
    pub is_self: bool,
    pub response_status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtendedProperties {
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub private: HashMap<String, String>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub shared: HashMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct WatchRequest<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub address: &'a str,
    pub token: &'a str,
    pub params: WatchParams,
}

#[derive(Debug, Serialize)]
pub struct WatchParams {
    /// Seconds, as a string.
    pub ttl: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub resource_id: String,
    /// Milliseconds since the epoch, as a string.
    pub expiration: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopRequest<'a> {
    pub id: &'a str,
    pub resource_id: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub summary: &'a str,
    pub description: &'a str,
    /// `opaque`: busy.
    pub transparency: &'static str,
    pub start: EventTime,
    pub end: EventTime,
    pub extended_properties: ExtendedProperties,
}

#[derive(Debug, Deserialize)]
pub struct Created {
    pub id: String,
}
