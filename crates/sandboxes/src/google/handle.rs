//! The test handle's public methods: act as a coworker on a calendar (every write pushes
//! to the calendar's channels), break things on purpose, move the clock, and read what
//! the sandbox saw.

use super::list::full_listing;
use super::oauth::revoke_grant;
use super::query::Params;
use super::render::render;
use super::state::{ChannelInfo, Delivery, Fault, GoogleState, COWORKER_CLIENT};
use super::store::Writer;
use super::when::parse_tz;
use crate::endpoints::EndpointHealth;
use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

const COWORKER: Writer<'static> = Writer {
    client: COWORKER_CLIENT,
    coworker: true,
};

fn as_object(v: Value) -> anyhow::Result<serde_json::Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => bail!("an event must be a JSON object"),
    }
}

impl GoogleState {
    /// The sandbox clock: wall time plus whatever tests advanced it by.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Moves the sandbox clock forward: tokens, auth codes and channels expire by it.
    pub fn advance_clock(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut inner = self.lock();
        inner.clock_offset += by;
    }

    /// Creates a secondary calendar owned by `user` (as Google's `calendars.insert`
    /// would) and answers its id; events go into it with `insert_event(id, …)`.
    pub fn add_calendar(&self, user: &str, summary: &str) -> String {
        let id = format!(
            "{}@group.calendar.google.com",
            super::state::random_token(26).to_ascii_lowercase()
        );
        let mut inner = self.lock();
        let cal = inner.calendar_mut(&id);
        cal.owner = Some(user.to_ascii_lowercase());
        cal.summary = Some(summary.to_owned());
        id
    }

    /// Inserts an event into `calendar` (a user's email) as a coworker would, with the
    /// same validation as the API; returns the new event id.
    pub fn insert_event(&self, calendar: &str, event: Value) -> anyhow::Result<String> {
        let cal = calendar.to_ascii_lowercase();
        let shown = self
            .lock()
            .insert_event(&cal, as_object(event)?, COWORKER)
            .map_err(|e| anyhow!("{e}"))?;
        self.notify_change(&cal);
        shown
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("inserted event has no id"))
    }

    /// Patches an event (RFC 7396 merge, as `events.patch`).
    pub fn patch_event(&self, calendar: &str, event_id: &str, patch: Value) -> anyhow::Result<()> {
        let cal = calendar.to_ascii_lowercase();
        self.lock()
            .modify_event(&cal, event_id, as_object(patch)?, COWORKER, false)
            .map_err(|e| anyhow!("{e}"))?;
        self.notify_change(&cal);
        Ok(())
    }

    /// Deletes an event; it then shows as cancelled in incremental syncs.
    pub fn delete_event(&self, calendar: &str, event_id: &str) -> anyhow::Result<()> {
        let cal = calendar.to_ascii_lowercase();
        self.lock()
            .delete_event(&cal, event_id)
            .map_err(|e| anyhow!("{e}"))?;
        self.notify_change(&cal);
        Ok(())
    }

    /// The stored event as a coworker sees it (no app's private properties).
    pub fn event(&self, calendar: &str, event_id: &str) -> Option<Value> {
        let inner = self.lock();
        let ev = inner
            .calendars
            .get(&calendar.to_ascii_lowercase())?
            .events
            .get(event_id)?;
        Some(render(ev, COWORKER_CLIENT))
    }

    /// The stored event as the OAuth app `client_id` sees it (its private properties
    /// included), deleted ones too (`status: cancelled`).
    pub fn event_as(&self, calendar: &str, event_id: &str, client_id: &str) -> Option<Value> {
        let inner = self.lock();
        let ev = inner
            .calendars
            .get(&calendar.to_ascii_lowercase())?
            .events
            .get(event_id)?;
        Some(render(ev, client_id))
    }

    /// Sets the zone all-day events and the list's `timeZone` use (default UTC).
    pub fn set_calendar_time_zone(&self, calendar: &str, tz: &str) -> anyhow::Result<()> {
        if parse_tz(tz).is_none() {
            bail!("unknown time zone {tz}");
        }
        self.lock()
            .calendar_mut(&calendar.to_ascii_lowercase())
            .time_zone = tz.to_owned();
        Ok(())
    }

    /// The user withdraws access: refresh tokens answer `invalid_grant`, access tokens 401.
    pub fn revoke_refresh_tokens(&self, user: &str) {
        revoke_grant(&mut self.lock(), user, None);
    }

    /// Every access token issued so far expires now.
    pub fn expire_access_tokens(&self) {
        let mut inner = self.lock();
        let past = inner.now() - chrono::Duration::seconds(1);
        for t in inner.access_tokens.values_mut() {
            t.expires = past;
        }
    }

    /// Every sync token issued so far answers 410 `fullSyncRequired` from now on.
    pub fn invalidate_sync_tokens(&self) {
        let mut inner = self.lock();
        inner.sync_epoch += 1;
        inner.sync_token_of.clear();
    }

    /// `events.list` requests answered past authentication for `calendar`.
    pub fn list_calls(&self, calendar: &str) -> u64 {
        self.lock()
            .list_calls
            .get(&calendar.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    pub fn channels(&self) -> Vec<ChannelInfo> {
        self.lock()
            .channels
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Every channel address pushed to: answer counters (slow, failed) and state.
    pub fn endpoints(&self) -> Vec<EndpointHealth> {
        let mut inner = self.lock();
        let now = inner.now();
        inner.endpoints.snapshot(now)
    }

    /// Polls the delivery log until `done` holds or `timeout` passes.
    pub async fn wait_for_deliveries(
        &self,
        timeout: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> anyhow::Result<Vec<Delivery>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.deliveries();
            if done(&seen) {
                return Ok(seen);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("deliveries did not arrive in {timeout:?}: {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every API request waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Adds another OAuth client (a second app), e.g. to check private properties.
    pub fn register_client(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .clients
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// The next consent is refused by the user (`error=access_denied` to the app).
    pub fn deny_next_consent(&self) {
        self.lock().deny_next_consent = true;
    }

    /// The next `n` change notifications (to any channel) are lost, never sent: Google
    /// does not promise delivery.
    pub fn drop_next_pushes(&self, n: u64) {
        self.lock().drop_pushes += n;
    }

    /// How many notifications were lost on purpose so far.
    pub fn dropped_pushes(&self) -> u64 {
        self.lock().dropped_pushes
    }

    /// The channel dies now, silently: no message says so and the app still holds the
    /// expiration it was given, but nothing is delivered any more. False for an unknown id.
    pub fn expire_channel(&self, channel_id: &str) -> bool {
        let mut inner = self.lock();
        let past = inner.now() - chrono::Duration::milliseconds(1);
        let mut found = false;
        for (c, _) in inner
            .channels
            .iter_mut()
            .filter(|(c, _)| c.id == channel_id)
        {
            c.expiration = past;
            found = true;
        }
        found
    }

    /// The truth a test compares with: every instance of `calendar` overlapping
    /// `[from, to)` as `events.list?singleEvents=true&timeMin&timeMax` shows it (series
    /// expanded, cancelled and deleted items left out), without any app's private
    /// properties, and untouched by injected faults or latency.
    pub fn instances_between(
        &self,
        calendar: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Value> {
        let inner = self.lock();
        let Some(cal) = inner.calendars.get(&calendar.to_ascii_lowercase()) else {
            return Vec::new();
        };
        let params = Params {
            single_events: true,
            time_min: Some(from),
            time_max: Some(to),
            ..Params::default()
        };
        full_listing(cal, COWORKER_CLIENT, &params, inner.now())
    }
}
