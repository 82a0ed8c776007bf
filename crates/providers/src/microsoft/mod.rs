//! Microsoft Graph client: OAuth tokens, calendar-view delta sync, subscriptions and
//! booking mirrors.
//!
//! Delta on `calendarView` takes no `$expand` (nor `$select`/`$filter`), so the extended
//! property that tags our booking mirrors is not in delta pages. Decision: the mapper reads
//! it when present (master fetches ask for it, and a server that includes it is honoured),
//! `create_booking_event` returns the Graph id so the worker can link its own mirrors by id,
//! and `fetch_appointment_id` reads the tag of one event when a caller must know. No extra
//! request per changed event during a sync.

mod calendars;
mod map;
mod subscriptions;
mod wire;

pub use map::map_event;
pub use subscriptions::{Subscription, MAX_EVENT_SUBSCRIPTION_MINUTES};

use crate::booking::BookingEvent;
use crate::error::{Api, ProviderError};
use crate::http::{endpoint, HttpClient, RetryPolicy};
use crate::oauth::{self, MicrosoftConfig, TokenSet};
use crate::sync::{SyncBatch, SyncWindow};
use calsync_core::AppointmentId;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use url::Url;

/// The GUID of calsync's named property set; the full id is `String {GUID} Name calsyncAppointmentId`.
pub const APPOINTMENT_PROPERTY_GUID: &str = "66f5a359-4659-4830-9070-00047ec6ac6e";
pub const APPOINTMENT_PROPERTY_ID: &str =
    "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsyncAppointmentId";
/// Times in UTC (strings without offset), and pages of 200.
pub const PREFER_HEADER: &str = "outlook.timezone=\"UTC\", odata.maxpagesize=200";
/// Guard against a server that never ends a round.
pub const MAX_PAGES_PER_ROUND: usize = 2000;

#[derive(Debug, Clone)]
pub struct MicrosoftClient {
    cfg: MicrosoftConfig,
    http: HttpClient,
}

impl MicrosoftClient {
    pub fn new(cfg: MicrosoftConfig, http: reqwest::Client) -> Self {
        Self::with_retry(cfg, http, RetryPolicy::default())
    }

    pub fn with_retry(cfg: MicrosoftConfig, http: reqwest::Client, retry: RetryPolicy) -> Self {
        Self {
            cfg,
            http: HttpClient::new(http, retry),
        }
    }

    pub fn config(&self) -> &MicrosoftConfig {
        &self.cfg
    }

    pub fn consent_url(&self, state: &str) -> Url {
        oauth::microsoft_consent_url(&self.cfg, state)
    }

    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, ProviderError> {
        oauth::microsoft_exchange_code(&self.http, &self.cfg, code).await
    }

    /// Microsoft rotates refresh tokens: store the returned one.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ProviderError> {
        oauth::microsoft_refresh(&self.http, &self.cfg, refresh_token).await
    }

    fn get(&self, c: &reqwest::Client, url: Url, token: &SecretString) -> RequestBuilder {
        c.get(url)
            .bearer_auth(token.expose_secret())
            .header("Prefer", PREFER_HEADER)
    }

    /// One delta round. Without `cursor` an initial round over `window.range` on the
    /// default calendar (or `calendar_id`); with it, the stored delta link followed as is.
    /// Pages are followed to the `@odata.deltaLink`, which is `next_cursor`. Links whose
    /// origin is not the configured Graph base are refused: the bearer token would leak.
    #[tracing::instrument(skip_all, fields(full = cursor.is_none()))]
    pub async fn sync_events(
        &self,
        access_token: &SecretString,
        calendar_id: Option<&str>,
        cursor: Option<&str>,
        window: &SyncWindow,
    ) -> Result<SyncBatch, ProviderError> {
        let mut url = match cursor {
            Some(link) => self.trusted_link(link)?,
            None => {
                let mut u = match calendar_id {
                    Some(id) => endpoint(
                        &self.cfg.graph_base,
                        &["me", "calendars", id, "calendarView", "delta"],
                    )?,
                    None => endpoint(&self.cfg.graph_base, &["me", "calendarView", "delta"])?,
                };
                u.query_pairs_mut()
                    .append_pair(
                        "startDateTime",
                        &window
                            .range
                            .start
                            .to_rfc3339_opts(SecondsFormat::Secs, true),
                    )
                    .append_pair(
                        "endDateTime",
                        &window.range.end.to_rfc3339_opts(SecondsFormat::Secs, true),
                    );
                u
            }
        };
        let mut masters: HashMap<String, Option<wire::Event>> = HashMap::new();
        let mut changes = Vec::new();
        for _ in 0..MAX_PAGES_PER_ROUND {
            let page: wire::DeltaPage = self
                .http
                .json(Api::Graph, "graph.calendarView.delta", |c| {
                    self.get(c, url.clone(), access_token)
                })
                .await
                .map_err(|e| match e {
                    ProviderError::Gone => ProviderError::SyncStateExpired,
                    other => other,
                })?;
            for mut ev in page.value {
                if needs_master(&ev) {
                    self.complete_from_master(access_token, &mut ev, &mut masters)
                        .await?;
                }
                changes.extend(map_event(&ev, window.tz, window.policy));
            }
            match (page.delta_link, page.next_link) {
                (Some(delta), _) => {
                    self.trusted_link(&delta)?;
                    return Ok(SyncBatch {
                        changes,
                        next_cursor: delta,
                        full: cursor.is_none(),
                    });
                }
                (None, Some(next)) => url = self.trusted_link(&next)?,
                (None, None) => {
                    return Err(ProviderError::Protocol {
                        context: "graph.calendarView.delta",
                        message: "page carries neither @odata.nextLink nor @odata.deltaLink".into(),
                    })
                }
            }
        }
        Err(ProviderError::Protocol {
            context: "graph.calendarView.delta",
            message: format!("no deltaLink after {MAX_PAGES_PER_ROUND} pages"),
        })
    }

    fn trusted_link(&self, link: &str) -> Result<Url, ProviderError> {
        let url = Url::parse(link).map_err(|e| ProviderError::InvalidUrl(format!("{e}")))?;
        if url.origin() != self.cfg.graph_base.origin() {
            return Err(ProviderError::InvalidUrl(format!(
                "link origin {} differs from the Graph base {}",
                url.origin().ascii_serialization(),
                self.cfg.graph_base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Fills an occurrence's missing fields from its series master (fetched once per round).
    async fn complete_from_master(
        &self,
        token: &SecretString,
        ev: &mut wire::Event,
        cache: &mut HashMap<String, Option<wire::Event>>,
    ) -> Result<(), ProviderError> {
        let Some(master_id) = ev.series_master_id.clone() else {
            return Ok(());
        };
        if !cache.contains_key(&master_id) {
            let fetched = match self.get_event(token, &master_id).await {
                Ok(m) => Some(m),
                // The series went away under us; the occurrence is mapped as it is.
                Err(ProviderError::NotFound) => None,
                Err(e) => return Err(e),
            };
            cache.insert(master_id.clone(), fetched);
        }
        if let Some(Some(m)) = cache.get(&master_id) {
            ev.subject = ev.subject.take().or_else(|| m.subject.clone());
            ev.show_as = ev.show_as.take().or_else(|| m.show_as.clone());
            ev.is_all_day = ev.is_all_day.or(m.is_all_day);
            ev.response_status = ev
                .response_status
                .take()
                .or_else(|| m.response_status.clone());
            ev.ical_uid = ev.ical_uid.take().or_else(|| m.ical_uid.clone());
            ev.single_value_extended_properties = ev
                .single_value_extended_properties
                .take()
                .or_else(|| m.single_value_extended_properties.clone());
        }
        Ok(())
    }

    /// One event with our extended property expanded (GET on an event does take `$expand`).
    async fn get_event(
        &self,
        token: &SecretString,
        id: &str,
    ) -> Result<wire::Event, ProviderError> {
        let mut url = endpoint(&self.cfg.graph_base, &["me", "events", id])?;
        url.query_pairs_mut().append_pair(
            "$expand",
            &format!("singleValueExtendedProperties($filter=id eq '{APPOINTMENT_PROPERTY_ID}')"),
        );
        self.http
            .json(Api::Graph, "graph.events.get", |c| {
                self.get(c, url.clone(), token)
            })
            .await
    }

    /// The appointment id an event carries, if we wrote it.
    pub async fn fetch_appointment_id(
        &self,
        access_token: &SecretString,
        event_id: &str,
    ) -> Result<Option<AppointmentId>, ProviderError> {
        let ev = self.get_event(access_token, event_id).await?;
        Ok(ev
            .single_value_extended_properties
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.id.eq_ignore_ascii_case(APPOINTMENT_PROPERTY_ID))
            .and_then(|p| p.value)
            .and_then(|v| v.parse().ok()))
    }

    /// Writes a booking's event, busy and tagged with the appointment id, into
    /// `calendar_id` (`None`: the default calendar). `transactionId` (the appointment id)
    /// makes a repeated create answer the first event, so a retry after an unknown
    /// outcome writes no second one. Returns the Graph event id.
    #[tracing::instrument(skip_all, fields(appointment.id = %event.appointment_id))]
    pub async fn create_booking_event(
        &self,
        access_token: &SecretString,
        calendar_id: Option<&str>,
        event: &BookingEvent<'_>,
    ) -> Result<String, ProviderError> {
        let url = match calendar_id {
            Some(id) => endpoint(&self.cfg.graph_base, &["me", "calendars", id, "events"])?,
            None => endpoint(&self.cfg.graph_base, &["me", "events"])?,
        };
        let at = |t: DateTime<Utc>| wire::DateTimeTimeZone {
            date_time: t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string(),
            time_zone: Some("UTC".into()),
        };
        let body = wire::NewEvent {
            subject: event.title,
            body: wire::ItemBody {
                content_type: "text",
                content: event.description,
            },
            start: at(event.start),
            end: at(event.end),
            show_as: "busy",
            transaction_id: event.appointment_id.to_string(),
            single_value_extended_properties: vec![wire::ExtendedProperty {
                id: APPOINTMENT_PROPERTY_ID.into(),
                value: Some(event.appointment_id.to_string()),
            }],
        };
        let created: wire::Created = self
            .http
            .json(Api::Graph, "graph.events.create", |c| {
                c.post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .json(&body)
            })
            .await?;
        Ok(created.id)
    }

    /// Deletes an event (of any calendar of the account). One Graph no longer knows
    /// (404) is gone: `Ok`.
    #[tracing::instrument(skip_all, fields(event.id = %event_id))]
    pub async fn delete_event(
        &self,
        access_token: &SecretString,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let url = endpoint(&self.cfg.graph_base, &["me", "events", event_id])?;
        let res = self
            .http
            .no_content(Api::Graph, "graph.events.delete", |c| {
                c.delete(url.clone())
                    .bearer_auth(access_token.expose_secret())
            })
            .await;
        match res {
            Err(ProviderError::NotFound) => Ok(()),
            other => other,
        }
    }
}

/// An occurrence that arrived with only its ids and times.
fn needs_master(ev: &wire::Event) -> bool {
    ev.removed.is_none()
        && ev.series_master_id.is_some()
        && ev.subject.is_none()
        && ev.show_as.is_none()
}
