//! `SandboxProvider`: what a scenario shared by Google and Microsoft needs from either
//! sandbox (the coworker who edits the agent's calendar, the webhook, faults, the
//! clock), so that each shared scenario in `shared.rs` is written once and run for both.

use crate::support::TestSystem;
use calsync_db::calendars::Calendar;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// A live webhook at the provider: a Google channel or a Graph subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub expiration: DateTime<Utc>,
}

pub trait SandboxProvider {
    /// The api's name: `/api/integrations/{NAME}/connect`, `calendar_connections.provider`.
    const NAME: &'static str;
    /// A renewal extends the same webhook (Graph PATCHes the subscription) instead of
    /// opening a new one and stopping the old (Google channels cannot be extended).
    const RENEWS_IN_PLACE: bool;
    /// How far to move the clocks so that a fresh webhook falls within the renewal
    /// horizon, and how much later than the old one a renewed webhook must expire.
    const RENEWAL_STEP: std::time::Duration;
    const RENEWAL_GAIN: chrono::Duration;

    /// A coworker books `minutes` from `start` in the agent's calendar; the event's id.
    fn coworker_inserts(
        sys: &TestSystem,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<String>;
    /// The coworker moves the event to `start`.
    fn coworker_moves(
        sys: &TestSystem,
        id: &str,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<()>;
    fn coworker_deletes(sys: &TestSystem, id: &str) -> anyhow::Result<()>;
    /// The provider's next answers to event reads are throttled with `Retry-After: 1`
    /// (and, where the provider has them, transient backend errors follow).
    fn throttle_event_reads(sys: &TestSystem);
    /// Webhooks live at the provider now (open and unexpired).
    fn open_webhooks(sys: &TestSystem) -> Vec<Webhook>;
    /// The webhook id the connection stored.
    fn stored_webhook(c: &Calendar) -> Option<String>;
    /// Moves the sandbox's clock, by which its webhooks expire.
    fn advance_clock(sys: &TestSystem, by: std::time::Duration);
    /// The provider named in a queue message.
    const NOTICE_PROVIDER: calsync_proto::v1::Provider;
    /// Every access token issued so far expires now (the next API call answers 401).
    fn expire_access_tokens(sys: &TestSystem);
    /// The agent revokes the app's grant: refreshing fails from now on.
    fn revoke_grant(sys: &TestSystem);
    /// Event fetches so far (Google `events.list`, Graph `calendarView/delta` pages).
    fn fetch_calls(sys: &TestSystem) -> u64;
    /// The agent's account gets a second calendar named `name`; its provider id.
    fn add_calendar(sys: &TestSystem, name: &str) -> anyhow::Result<String>;
    /// A coworker books `minutes` from `start` in the given calendar; the event's id.
    fn coworker_inserts_in(
        sys: &TestSystem,
        calendar: &str,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<String>;
    /// Change notifications the provider delivered (2xx) through the webhook `id`.
    fn deliveries_through(sys: &TestSystem, id: &str) -> usize;
    /// An event as calsync's app sees it (extended properties included); `None` once
    /// deleted.
    fn app_event(sys: &TestSystem, id: &str) -> Option<Value>;
    /// The appointment id an event is tagged with.
    fn tag_of(event: &Value) -> Option<String>;
    /// The title an event shows.
    fn title_of(event: &Value) -> Option<String>;
    /// Every API call answers 503 from now until `recover`.
    fn outage(sys: &TestSystem);
    fn recover(sys: &TestSystem);
}

pub struct Google;
pub struct Graph;

/// The user the Google sandbox consents as when the consent URL names no `login_hint`.
pub const GOOGLE_USER: &str = "agent@example.com";
/// The same for the Graph sandbox.
pub const GRAPH_USER: &str = "agent@contoso.com";

impl SandboxProvider for Google {
    const NAME: &'static str = "google";
    const RENEWS_IN_PLACE: bool = false;
    /// Six and a half days of a seven-day channel.
    const RENEWAL_STEP: std::time::Duration = std::time::Duration::from_secs(156 * 3600);
    const RENEWAL_GAIN: chrono::Duration = chrono::Duration::days(6);

    fn coworker_inserts(
        sys: &TestSystem,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<String> {
        sys.google
            .insert_event(GOOGLE_USER, google_event(title, start, minutes))
    }

    fn coworker_moves(
        sys: &TestSystem,
        id: &str,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<()> {
        sys.google
            .patch_event(GOOGLE_USER, id, google_event(title, start, minutes))
    }

    fn coworker_deletes(sys: &TestSystem, id: &str) -> anyhow::Result<()> {
        sys.google.delete_event(GOOGLE_USER, id)
    }

    fn throttle_event_reads(sys: &TestSystem) {
        use calsync_sandboxes::google::Fault;
        sys.google.inject(
            Fault::new(429, "rateLimitExceeded", 1)
                .retry_after(1)
                .only_path_contains("/events"),
        );
        sys.google
            .inject(Fault::new(503, "backendError", 1).only_path_contains("/events"));
    }

    fn open_webhooks(sys: &TestSystem) -> Vec<Webhook> {
        let now = sys.google.now();
        sys.google
            .channels()
            .into_iter()
            .filter(|c| !c.stopped && c.expiration > now)
            .map(|c| Webhook {
                id: c.id,
                expiration: c.expiration,
            })
            .collect()
    }

    fn stored_webhook(c: &Calendar) -> Option<String> {
        c.webhook_channel_id.clone()
    }

    fn advance_clock(sys: &TestSystem, by: std::time::Duration) {
        sys.google.advance_clock(by);
    }

    const NOTICE_PROVIDER: calsync_proto::v1::Provider = calsync_proto::v1::Provider::Google;

    fn expire_access_tokens(sys: &TestSystem) {
        sys.google.expire_access_tokens();
    }

    fn revoke_grant(sys: &TestSystem) {
        sys.google.revoke_refresh_tokens(GOOGLE_USER);
    }

    fn fetch_calls(sys: &TestSystem) -> u64 {
        sys.google.list_calls(GOOGLE_USER)
    }

    fn add_calendar(sys: &TestSystem, name: &str) -> anyhow::Result<String> {
        Ok(sys.google.add_calendar(GOOGLE_USER, name))
    }

    fn coworker_inserts_in(
        sys: &TestSystem,
        calendar: &str,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<String> {
        sys.google
            .insert_event(calendar, google_event(title, start, minutes))
    }

    fn deliveries_through(sys: &TestSystem, id: &str) -> usize {
        sys.google
            .deliveries()
            .iter()
            .filter(|d| d.channel_id == id && d.resource_state == "exists")
            .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
            .count()
    }

    fn app_event(sys: &TestSystem, id: &str) -> Option<Value> {
        let client = sys.settings().google.client_id.clone();
        sys.google
            .event_as(GOOGLE_USER, id, &client)
            .filter(|e| e["status"] != "cancelled")
    }

    fn tag_of(event: &Value) -> Option<String> {
        event["extendedProperties"]["private"]["calsyncAppointmentId"]
            .as_str()
            .map(str::to_owned)
    }

    fn title_of(event: &Value) -> Option<String> {
        event["summary"].as_str().map(str::to_owned)
    }

    fn outage(sys: &TestSystem) {
        use calsync_sandboxes::google::Fault;
        sys.google
            .inject(Fault::new(503, "backendError", 1_000_000));
    }

    fn recover(sys: &TestSystem) {
        sys.google.clear_faults();
    }
}

impl SandboxProvider for Graph {
    const NAME: &'static str = "microsoft";
    const RENEWS_IN_PLACE: bool = true;
    /// Two and a half days of a 4230-minute subscription (Graph's maximum for Outlook
    /// events).
    const RENEWAL_STEP: std::time::Duration = std::time::Duration::from_secs(60 * 3600);
    const RENEWAL_GAIN: chrono::Duration = chrono::Duration::days(2);

    fn coworker_inserts(
        sys: &TestSystem,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<String> {
        Ok(sys
            .graph
            .create_event(GRAPH_USER, graph_event(title, start, minutes))?)
    }

    fn coworker_moves(
        sys: &TestSystem,
        id: &str,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<()> {
        Ok(sys
            .graph
            .update_event(GRAPH_USER, id, graph_event(title, start, minutes))?)
    }

    fn coworker_deletes(sys: &TestSystem, id: &str) -> anyhow::Result<()> {
        Ok(sys.graph.delete_event(GRAPH_USER, id)?)
    }

    fn throttle_event_reads(sys: &TestSystem) {
        sys.graph.inject_throttle(2, 1);
    }

    fn open_webhooks(sys: &TestSystem) -> Vec<Webhook> {
        sys.graph
            .subscriptions()
            .into_iter()
            .map(|s| Webhook {
                id: s.id,
                expiration: s.expiration,
            })
            .collect()
    }

    fn stored_webhook(c: &Calendar) -> Option<String> {
        c.webhook_subscription_id.clone()
    }

    fn advance_clock(sys: &TestSystem, by: std::time::Duration) {
        sys.graph.advance_clock(by);
    }

    const NOTICE_PROVIDER: calsync_proto::v1::Provider = calsync_proto::v1::Provider::Microsoft;

    fn expire_access_tokens(sys: &TestSystem) {
        sys.graph.expire_access_tokens();
    }

    fn revoke_grant(sys: &TestSystem) {
        sys.graph.revoke_refresh_tokens(GRAPH_USER);
    }

    fn fetch_calls(sys: &TestSystem) -> u64 {
        sys.graph.delta_calls()
    }

    fn add_calendar(sys: &TestSystem, name: &str) -> anyhow::Result<String> {
        Ok(sys.graph.add_calendar(GRAPH_USER, name))
    }

    fn coworker_inserts_in(
        sys: &TestSystem,
        calendar: &str,
        title: &str,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> anyhow::Result<String> {
        Ok(sys.graph.create_event_in(
            GRAPH_USER,
            Some(calendar),
            graph_event(title, start, minutes),
        )?)
    }

    fn deliveries_through(sys: &TestSystem, id: &str) -> usize {
        sys.graph
            .deliveries()
            .iter()
            .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
            .filter(|d| {
                d.body["value"].as_array().is_some_and(|v| {
                    v.iter()
                        .any(|n| n["subscriptionId"] == id && n["changeType"].is_string())
                })
            })
            .count()
    }

    fn app_event(sys: &TestSystem, id: &str) -> Option<Value> {
        sys.graph.get_event(GRAPH_USER, id)
    }

    fn tag_of(event: &Value) -> Option<String> {
        event["singleValueExtendedProperties"]
            .as_array()?
            .iter()
            .find(|p| {
                p["id"].as_str().is_some_and(|id| {
                    id.eq_ignore_ascii_case(calsync_providers::microsoft::APPOINTMENT_PROPERTY_ID)
                })
            })
            .and_then(|p| p["value"].as_str())
            .map(str::to_owned)
    }

    fn title_of(event: &Value) -> Option<String> {
        event["subject"].as_str().map(str::to_owned)
    }

    fn outage(sys: &TestSystem) {
        sys.graph.inject_unavailable(1_000_000, 0);
    }

    fn recover(sys: &TestSystem) {
        sys.graph.inject_unavailable(0, 0);
    }
}

/// A Google event body from `start` lasting `minutes`.
pub fn google_event(summary: &str, start: DateTime<Utc>, minutes: i64) -> Value {
    json!({
        "summary": summary,
        "start": {"dateTime": start.to_rfc3339()},
        "end": {"dateTime": (start + Duration::minutes(minutes)).to_rfc3339()},
    })
}

/// A Graph event body (times in UTC, as Outlook stores them with a zone name).
pub fn graph_event(subject: &str, start: DateTime<Utc>, minutes: i64) -> Value {
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    json!({
        "subject": subject,
        "start": {"dateTime": fmt(start), "timeZone": "UTC"},
        "end": {"dateTime": fmt(start + Duration::minutes(minutes)), "timeZone": "UTC"},
        "showAs": "busy",
    })
}
