//! Google Calendar API v3 client: OAuth tokens, full and incremental event sync, push
//! channels (`events.watch`, `channels.stop`) and booking mirrors (`events.insert`).
//!
//! Full sync sends `timeMin` (the window start) with `singleEvents=true`: Google's own sync
//! guide does a date-bounded first sync and then uses its `nextSyncToken`, so a bounded full
//! sync does yield a token. No `timeMax` and no `orderBy` (client-library reports show
//! `orderBy` suppresses the token), so the incremental rounds that follow cover the
//! calendar's changes without a window to move. Incremental rounds send only `syncToken`,
//! `singleEvents` and `maxResults`: the filters Google refuses next to a sync token are
//! never sent.

mod calendars;
mod map;
mod wire;

pub use map::map_event;

use crate::booking::BookingEvent;
use crate::error::{Api, ProviderError};
use crate::http::{endpoint, HttpClient, RetryPolicy};
use crate::oauth::{self, GoogleConfig, TokenSet};
use crate::sync::{SyncBatch, SyncWindow};
use calsync_core::AppointmentId;
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use url::Url;

/// Key in `extendedProperties.private` of the events we write for bookings.
pub const APPOINTMENT_PROPERTY: &str = "calsyncAppointmentId";
/// Google's maximum page size for `events.list`.
pub const MAX_RESULTS: u32 = 2500;
/// A guard against a server that never ends a round; 2500 × 400 events is far past any
/// real calendar.
pub const MAX_PAGES_PER_ROUND: usize = 400;

/// An open push channel. `expires_at` is what Google granted, never what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchChannel {
    pub id: String,
    pub resource_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Google's id of the event written for a booking. Chosen by us (Google accepts a
/// client id of 5–1024 base32hex characters, `0-9a-v`; a UUID's hex digits are among
/// them), so that an insert retried after an unknown outcome answers 409 `duplicate`
/// instead of writing a second event.
pub fn booking_event_id(appointment_id: AppointmentId) -> String {
    format!("cs{}", appointment_id.0.simple())
}

#[derive(Debug, Clone)]
pub struct GoogleClient {
    cfg: GoogleConfig,
    http: HttpClient,
}

impl GoogleClient {
    pub fn new(cfg: GoogleConfig, http: reqwest::Client) -> Self {
        Self::with_retry(cfg, http, RetryPolicy::default())
    }

    pub fn with_retry(cfg: GoogleConfig, http: reqwest::Client, retry: RetryPolicy) -> Self {
        Self {
            cfg,
            http: HttpClient::new(http, retry),
        }
    }

    pub fn config(&self) -> &GoogleConfig {
        &self.cfg
    }

    pub fn consent_url(&self, state: &str) -> Url {
        oauth::google_consent_url(&self.cfg, state)
    }

    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, ProviderError> {
        oauth::google_exchange_code(&self.http, &self.cfg, code).await
    }

    /// The answer normally has no refresh token: keep the stored one.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ProviderError> {
        oauth::google_refresh(&self.http, &self.cfg, refresh_token).await
    }

    /// One sync round: full without `cursor`, incremental with it. Follows every page to
    /// the `nextSyncToken`. An invalid token answers `ProviderError::SyncStateExpired`.
    #[tracing::instrument(skip_all, fields(calendar.id = %calendar_id, full = cursor.is_none()))]
    pub async fn sync_events(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        cursor: Option<&str>,
        window: &SyncWindow,
    ) -> Result<SyncBatch, ProviderError> {
        let url = endpoint(&self.cfg.api_base, &["calendars", calendar_id, "events"])?;
        let mut base: Vec<(&str, String)> = vec![
            ("singleEvents", "true".into()),
            ("maxResults", MAX_RESULTS.to_string()),
        ];
        match cursor {
            Some(token) => base.push(("syncToken", token.to_owned())),
            None => base.push((
                "timeMin",
                window
                    .range
                    .start
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
            )),
        }
        let mut changes = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES_PER_ROUND {
            let mut query = base.clone();
            if let Some(p) = &page_token {
                query.push(("pageToken", p.clone()));
            }
            let page: wire::EventsPage = self
                .http
                .json(Api::Google, "google.events.list", |c| {
                    c.get(url.clone())
                        .bearer_auth(access_token.expose_secret())
                        .query(&query)
                })
                .await
                .map_err(|e| match e {
                    // On a list, 410 is always the sync state (a deleted calendar is 404).
                    ProviderError::Gone => ProviderError::SyncStateExpired,
                    other => other,
                })?;
            changes.extend(
                page.items
                    .iter()
                    .filter_map(|ev| map_event(ev, window.tz, window.policy)),
            );
            match (page.next_sync_token, page.next_page_token) {
                (Some(next_cursor), _) => {
                    return Ok(SyncBatch {
                        changes,
                        next_cursor,
                        full: cursor.is_none(),
                    })
                }
                // Pages may be empty while more follow; only the token matters.
                (None, Some(next)) => page_token = Some(next),
                (None, None) => {
                    return Err(ProviderError::Protocol {
                        context: "google.events.list",
                        message: "last page carries no nextSyncToken".into(),
                    })
                }
            }
        }
        Err(ProviderError::Protocol {
            context: "google.events.list",
            message: format!("no nextSyncToken after {MAX_PAGES_PER_ROUND} pages"),
        })
    }

    /// Opens a push channel on the calendar's events. `token` comes back on every
    /// notification (a `WebhookSigner` token); `ttl` is a request, Google may grant less.
    #[tracing::instrument(skip_all, fields(calendar.id = %calendar_id, channel.id = %channel_id))]
    pub async fn watch(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        channel_id: &str,
        address: &Url,
        token: &str,
        ttl: Duration,
    ) -> Result<WatchChannel, ProviderError> {
        let url = endpoint(
            &self.cfg.api_base,
            &["calendars", calendar_id, "events", "watch"],
        )?;
        let body = wire::WatchRequest {
            id: channel_id,
            kind: "web_hook",
            address: address.as_str(),
            token,
            params: wire::WatchParams {
                ttl: ttl.as_secs().to_string(),
            },
        };
        let ch: wire::Channel = self
            .http
            .json_once(Api::Google, "google.events.watch", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await?;
        let expires_at = ch
            .expiration
            .as_deref()
            .and_then(|ms| ms.trim().parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| ProviderError::Protocol {
                context: "google.events.watch",
                message: format!(
                    "channel expiration {:?} is not milliseconds since the epoch",
                    ch.expiration
                ),
            })?;
        Ok(WatchChannel {
            id: ch.id,
            resource_id: ch.resource_id,
            expires_at,
        })
    }

    /// Stops a channel. One Google no longer knows is already stopped: `Ok`.
    #[tracing::instrument(skip_all, fields(channel.id = %channel_id))]
    pub async fn stop_channel(
        &self,
        access_token: &SecretString,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        let url = endpoint(&self.cfg.api_base, &["channels", "stop"])?;
        let body = wire::StopRequest {
            id: channel_id,
            resource_id,
        };
        let res = self
            .http
            .no_content(Api::Google, "google.channels.stop", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await;
        match res {
            Err(ProviderError::NotFound) => Ok(()),
            other => other,
        }
    }

    /// Writes a booking's event, busy and tagged with the appointment id, under the id
    /// `booking_event_id` chooses; returns it. Safe to repeat: a duplicate (the first
    /// try went through) is the event written.
    #[tracing::instrument(skip_all, fields(calendar.id = %calendar_id, appointment.id = %event.appointment_id))]
    pub async fn insert_booking(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event: &BookingEvent<'_>,
    ) -> Result<String, ProviderError> {
        let url = endpoint(&self.cfg.api_base, &["calendars", calendar_id, "events"])?;
        let at = |t: DateTime<Utc>| wire::EventTime {
            date: None,
            date_time: Some(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            time_zone: Some("UTC".into()),
        };
        let mut props = wire::ExtendedProperties::default();
        props.private.insert(
            APPOINTMENT_PROPERTY.into(),
            event.appointment_id.to_string(),
        );
        let id = booking_event_id(event.appointment_id);
        let body = wire::NewEvent {
            id: &id,
            summary: event.title,
            description: event.description,
            start: at(event.start),
            end: at(event.end),
            transparency: "opaque",
            extended_properties: props,
        };
        let created: Result<wire::Created, _> = self
            .http
            .json(Api::Google, "google.events.insert", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await;
        match created {
            Ok(c) => Ok(c.id),
            Err(ProviderError::Conflict { reason, .. }) if reason == "duplicate" => Ok(id),
            Err(e) => Err(e),
        }
    }

    /// Deletes an event. One already deleted (410) or unknown (404) is gone: `Ok`.
    #[tracing::instrument(skip_all, fields(calendar.id = %calendar_id, event.id = %event_id))]
    pub async fn delete_event(
        &self,
        access_token: &SecretString,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let url = endpoint(
            &self.cfg.api_base,
            &["calendars", calendar_id, "events", event_id],
        )?;
        let res = self
            .http
            .no_content(Api::Google, "google.events.delete", |c| {
                c.delete(url.clone())
                    .bearer_auth(access_token.expose_secret())
            })
            .await;
        match res {
            Err(ProviderError::NotFound | ProviderError::Gone) => Ok(()),
            other => other,
        }
    }
}
