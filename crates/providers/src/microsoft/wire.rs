//! Microsoft Graph JSON shapes, as far as calsync reads or writes them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeltaPage {
    #[serde(default)]
    pub value: Vec<Event>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(rename = "@removed")]
    pub removed: Option<serde_json::Value>,
    pub subject: Option<String>,
    pub start: Option<DateTimeTimeZone>,
    pub end: Option<DateTimeTimeZone>,
    pub is_all_day: Option<bool>,
    pub show_as: Option<String>,
    pub is_cancelled: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub series_master_id: Option<String>,
    pub response_status: Option<ResponseStatus>,
    /// RFC 3339.
    pub last_modified_date_time: Option<String>,
    #[serde(rename = "iCalUId")]
    pub ical_uid: Option<String>,
    pub single_value_extended_properties: Option<Vec<ExtendedProperty>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    /// `2026-01-05T15:00:00.0000000`: no offset; the zone is `time_zone`.
    pub date_time: String,
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseStatus {
    pub response: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExtendedProperty {
    pub id: String,
    pub value: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSubscription<'a> {
    pub change_type: &'static str,
    pub notification_url: &'a str,
    pub lifecycle_notification_url: &'a str,
    pub resource: &'a str,
    pub expiration_date_time: String,
    pub client_state: &'a str,
    pub latest_supported_tls_version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    pub expiration_date_time: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionResponse {
    pub id: String,
    pub expiration_date_time: String,
    #[serde(default)]
    pub notification_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SubscriptionList {
    pub value: Vec<SubscriptionResponse>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent<'a> {
    pub subject: &'a str,
    pub body: ItemBody<'a>,
    pub start: DateTimeTimeZone,
    pub end: DateTimeTimeZone,
    pub show_as: &'static str,
    /// Makes a repeated create (after a timeout) return the first event, not a duplicate.
    pub transaction_id: String,
    pub single_value_extended_properties: Vec<ExtendedProperty>,
}

#[derive(Debug, Deserialize)]
pub struct Created {
    pub id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody<'a> {
    /// `text` or `html`.
    pub content_type: &'static str,
    pub content: &'a str,
}
