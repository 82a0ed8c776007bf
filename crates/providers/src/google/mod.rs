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

/// A booking mirror to write to the specialist's calendar.
#[derive(Debug, Clone)]
pub struct BookingEvent<'a> {
    pub summary: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub appointment_id: AppointmentId,
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

    /// Writes a booking mirror tagged with the appointment id; returns Google's event id.
    #[tracing::instrument(skip_all, fields(calendar.id = %calendar_id, appointment.id = %event.appointment_id))]
    pub async fn insert_event(
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
        let body = wire::NewEvent {
            summary: event.summary,
            start: at(event.start),
            end: at(event.end),
            extended_properties: props,
        };
        let created: wire::Created = self
            .http
            .json(Api::Google, "google.events.insert", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await?;
        Ok(created.id)
    }
}
