//! A stateful, strict stand-in for Google Calendar API v3 and Google OAuth 2.0, served
//! in-process by actix-web for tests and `calsync up`.
//!
//! The client in `calsync-providers` is written against `providers.md` and Google's real
//! behaviour, not against this code; so the sandbox refuses what Google refuses, with
//! Google's error shape (`{"error":{"code","message","errors":[{domain,reason,message}]}}`),
//! and a client bug fails here rather than in production.
//!
//! # Endpoints
//! - `GET /o/oauth2/v2/auth` — consent is automatic: checks `client_id`, `redirect_uri`
//!   (an http(s) URL), `response_type=code`, known `scope`s, `state`, and redirects (302)
//!   to `redirect_uri?state=…&code=…&scope=…` for the user in `login_hint` (default
//!   `agent@example.com`). Unknown client and other request errors → a 400 HTML page.
//! - `POST /token` — form-encoded only (JSON → 400 `invalid_request`); client id and
//!   secret in the form or as HTTP Basic. `authorization_code` (single-use
//!   code, 10 minutes, same `redirect_uri`) and `refresh_token` grants; bad client → 401
//!   `invalid_client`; revoked/unknown refresh token → 400 `invalid_grant`
//!   "Token has been expired or revoked.". A refresh grant never returns a new refresh
//!   token. `POST /revoke?token=` revokes.
//! - `GET /calendar/v3/users/me/calendarList` — the caller's calendars, primary first
//!   (`primary: true`), paged with `maxResults`/`pageToken`.
//! - `/calendar/v3/calendars/{calendarId}/events` — list (GET), insert (POST);
//!   `…/events/{eventId}` — get, patch, update (PUT), delete; `…/events/watch`;
//!   `POST /calendar/v3/channels/stop`.
//! - `/_sandbox/*` — not Google, no auth, for the demo: `POST
//!   /_sandbox/users/{user}/calendars {"summary"}` (a secondary calendar; answers its
//!   id), `POST|GET
//!   /_sandbox/calendars/{cal}/events`, `PATCH|DELETE …/events/{id}` (writes as a
//!   coworker, pushing like any change), `GET /_sandbox/channels`, `GET
//!   /_sandbox/deliveries`, `GET /_sandbox/endpoints` (answer counters per channel
//!   address), `POST /_sandbox/clock/advance {"seconds"}`, `POST
//!   /_sandbox/sync-tokens/invalidate`, `POST /_sandbox/access-tokens/expire`, `POST
//!   /_sandbox/users/{user}/revoke`, `POST /_sandbox/faults` (a [`Fault`] as JSON).
//!
//! Tests drive the same through [`GoogleState`] (`insert_event`, `patch_event`,
//! `delete_event`, `inject`, `set_latency`, `drop_next_pushes`, `expire_channel`,
//! `instances_between`, `advance_clock`, `expire_access_tokens`,
//! `revoke_refresh_tokens`, `invalidate_sync_tokens`, `list_calls`, `channels`,
//! `deliveries`, `wait_for_deliveries`, ...).
//!
//! # Faithful points
//! - Bearer tokens expire after `access_token_ttl` of sandbox time; missing, unknown or
//!   expired → 401 `authError`. Read-only scopes cannot write (403
//!   `insufficientPermissions`). `primary` is the caller's calendar (their email); a
//!   user may own secondary calendars (`GoogleState::add_calendar`, ids like
//!   `…@group.calendar.google.com`), each with its own events, sync tokens, channels and
//!   `resourceId`; other users' calendars and unknown ids are 404 (no sharing is
//!   modelled).
//! - A refresh token is issued only with `access_type=offline`, and only on the first
//!   grant of that user to that app or when `prompt=consent` is sent (as Google does), so
//!   a client that reconnects without `prompt=consent` gets no new refresh token.
//!   Revoking a user's grant kills their refresh and access tokens.
//! - `events.list`: `maxResults` 1..=2500 (above is clamped, below is 400); pages are at
//!   most `default_page_size`; `pageToken`s are bound to the calendar, the app and every
//!   other parameter except `maxResults` (400 otherwise); only the last page carries
//!   `nextSyncToken`. A listing is a snapshot taken at its first page, and its sync token
//!   covers exactly that snapshot, so changes made while paging come in the next sync.
//!   With `syncToken`: `iCalUID`, `orderBy`, `privateExtendedProperty`,
//!   `sharedExtendedProperty`, `q`, `timeMin`, `timeMax`, `updatedMin` → 400 "Sync token
//!   cannot be used with other request restrictions."; `showDeleted=false` → 400;
//!   deletions are implied; a `singleEvents` value different from the token's → 400; an
//!   invalidated, unknown or garbled token → 410 `fullSyncRequired`. An incremental sync
//!   with no changes returns the same token again. `orderBy=startTime` needs
//!   `singleEvents=true` (400 otherwise); `timeMax <= timeMin` → 400 `timeRangeEmpty`;
//!   times without an offset → 400.
//! - Deleted events come back as `{kind, etag, id, status: "cancelled"}`; cancelled
//!   instances also carry `recurringEventId` (and `originalStartTime` when known).
//! - Writes: `start` and `end` required, both `date` or both `dateTime`, a `dateTime`
//!   needs an offset or a `timeZone`, a series needs a named `timeZone`; end before start
//!   (or, for dates, not after) → 400 `timeRangeEmpty` "The specified time range is
//!   empty."; client ids must be base32hex (5–1024 chars), duplicates → 409.
//!   `updated`, `etag`, `sequence`, `organizer` (the calendar owner unless a coworker
//!   write names one) and attendee `self` are set by the server. `extendedProperties.
//!   private` is stored per OAuth client and shown only to that client.
//! - Watch: channel id `[A-Za-z0-9-_+/=]{1,64}`, never reused (400 "Channel id not
//!   unique"); `type` `web_hook`; `https` address (plain http only to a loopback host,
//!   else 400 `push.webhookUrlNotHttps`); token ≤ 256 chars; `params.ttl` positive,
//!   capped at `channel_ttl_max` (the default, about a week, when absent). `expiration`
//!   is milliseconds since the epoch as a string; `resourceId` is stable per calendar.
//!   A `sync` message (number 1) follows creation, then `exists` on every change,
//!   numbered per channel, with the real `X-Goog-*` headers and an empty body.
//!   500/502/503/504 and connection failures are retried with exponential back-off; other
//!   statuses are final. Stopped or expired (by the sandbox clock) channels stay silent.
//!
//! # Choices on unconfirmed points
//! - Google publishes no answer budget for push receivers: pushes time out after
//!   `push_timeout` (10 s), and slow (over 2.9 s, Graph's figure, or timed out) and
//!   failed answers are counted per channel address as in the Graph sandbox
//!   ([`crate::endpoints`]), for visibility only: `endpoint_policy` is
//!   `SlowEndpointPolicy::count_only()`, so nothing is delayed or discarded.
//! - A full sync bounded by `timeMin` and/or `timeMax` still ends with a `nextSyncToken`
//!   (Google's own sync guide does a `timeMin`-bounded first sync and stores the token;
//!   the same is assumed for `timeMax`, `q` and the other filters). Incremental results
//!   are then not bounded by that window: they hold every change, as Google's are.
//! - With `singleEvents=true` a series is expanded up to `timeMax`, else to two years
//!   past the sandbox's now, at most 5000 instances. Instance ids are
//!   `{masterId}_{YYYYMMDDTHHMMSSZ}` (UTC), or `{masterId}_{YYYYMMDD}` for all-day
//!   series. An incremental sync reports a changed series as all its current instances,
//!   plus `cancelled` entries for instances an edit or delete removed.
//! - Recurrence: FREQ DAILY/WEEKLY/MONTHLY/YEARLY, INTERVAL, COUNT, UNTIL, BYDAY
//!   (ordinals only with MONTHLY), EXDATE, RDATE; any other rule part is refused as
//!   "Invalid recurrence rule." rather than expanded wrongly. Editing a single instance
//!   (exceptions) is not modelled: instance ids are not addressable.
//! - Zero-length timed events are allowed (Google has them); all-day events must last at
//!   least one day.
//! - `state` is required on the consent URL (Google only recommends it) so a client
//!   without CSRF protection fails here.
//! - `events.list` calls are counted (`list_calls`) once authenticated, including
//!   calls that then fail validation.

mod admin;
mod auth;
mod calendar_list;
mod channels;
mod error;
mod events;
mod handle;
mod list;
mod oauth;
mod push;
mod query;
mod recurrence;
mod render;
mod state;
mod store;
mod when;

pub use state::{ChannelInfo, Delivery, Fault, GoogleState};

use crate::endpoints::SlowEndpointPolicy;
use actix_web::{web, App, HttpResponse, HttpServer};
use state::{Inner, Settings};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the sandbox starts. `Default` gives a loopback listener on a free port.
#[derive(Debug, Clone)]
pub struct GoogleSandboxConfig {
    pub bind: SocketAddr,
    pub client_id: String,
    pub client_secret: String,
    pub access_token_ttl: Duration,
    /// `None`: refresh tokens live until revoked. `Some(7 days)` mimics an app left in
    /// "testing" mode.
    pub refresh_token_ttl: Option<Duration>,
    pub channel_ttl_max: Duration,
    /// The most events one `events.list` page holds, whatever `maxResults` asks.
    pub default_page_size: usize,
    /// Delivery attempts per notification, and the first retry delay (doubled each time).
    pub push_attempts: u32,
    pub push_backoff: Duration,
    pub push_timeout: Duration,
    /// Slow and failed answers are counted per channel address (`GET /_sandbox/endpoints`)
    /// as for Graph, but Google publishes no answer budget, so by default nothing is
    /// delayed or discarded (`SlowEndpointPolicy::count_only`).
    pub endpoint_policy: SlowEndpointPolicy,
    /// Registered redirect URIs; empty accepts any http(s) URL.
    pub allowed_redirect_uris: Vec<String>,
}

impl Default for GoogleSandboxConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "calsync-sandbox.apps.googleusercontent.com".to_owned(),
            client_secret: "sandbox-client-secret".to_owned(),
            access_token_ttl: Duration::from_secs(3599),
            refresh_token_ttl: None,
            channel_ttl_max: Duration::from_secs(7 * 24 * 3600),
            default_page_size: 250,
            push_attempts: 5,
            push_backoff: Duration::from_millis(200),
            push_timeout: Duration::from_secs(10),
            endpoint_policy: SlowEndpointPolicy::count_only(),
            allowed_redirect_uris: Vec::new(),
        }
    }
}

/// A running sandbox. Dropping it without `stop` leaves the server to die with the runtime.
pub struct GoogleSandbox {
    addr: SocketAddr,
    client_id: String,
    client_secret: String,
    state: GoogleState,
    server: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/o/oauth2/v2/auth", web::get().to(oauth::consent))
        .route("/token", web::post().to(oauth::token))
        .route("/revoke", web::post().to(oauth::revoke))
        .service(
            web::scope("/calendar/v3")
                .route("/channels/stop", web::post().to(channels::stop))
                .route("/users/me/calendarList", web::get().to(calendar_list::list))
                .route(
                    "/calendars/{cal}/events/watch",
                    web::post().to(channels::watch),
                )
                .route("/calendars/{cal}/events", web::get().to(list::list))
                .route("/calendars/{cal}/events", web::post().to(events::insert))
                .route("/calendars/{cal}/events/{id}", web::get().to(events::get))
                .route(
                    "/calendars/{cal}/events/{id}",
                    web::patch().to(events::patch),
                )
                .route(
                    "/calendars/{cal}/events/{id}",
                    web::put().to(events::update),
                )
                .route(
                    "/calendars/{cal}/events/{id}",
                    web::delete().to(events::delete),
                )
                .default_service(web::to(|| async {
                    HttpResponse::NotFound().json(error::ApiError::not_found().body())
                })),
        )
        .configure(admin::config);
}

impl GoogleSandbox {
    /// Binds `cfg.bind` and serves on the current tokio runtime.
    pub async fn start(cfg: GoogleSandboxConfig) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(cfg.bind)?;
        let addr = listener.local_addr()?;
        let settings = Settings {
            access_token_ttl: cfg.access_token_ttl,
            refresh_token_ttl: cfg.refresh_token_ttl,
            channel_ttl_max: cfg.channel_ttl_max,
            default_page_size: cfg.default_page_size.max(1),
            push_attempts: cfg.push_attempts,
            push_backoff: cfg.push_backoff,
            push_timeout: cfg.push_timeout,
            endpoint_policy: cfg.endpoint_policy,
            allowed_redirect_uris: cfg.allowed_redirect_uris,
        };
        let (client_id, client_secret) = (cfg.client_id.clone(), cfg.client_secret.clone());
        let mut inner = Inner::new(settings, cfg.client_id, cfg.client_secret);
        inner.api_base = format!("http://{addr}/calendar/v3");
        let state = GoogleState {
            inner: Arc::new(Mutex::new(inner)),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            rt: tokio::runtime::Handle::current(),
        };
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes))
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        tracing::info!(%addr, "google sandbox listening");
        Ok(Self {
            addr,
            client_id,
            client_secret,
            state,
            server: handle,
            task,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_base(&self) -> String {
        format!("{}/calendar/v3", self.base_url())
    }

    pub fn auth_url(&self) -> String {
        format!("{}/o/oauth2/v2/auth", self.base_url())
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The OAuth client the sandbox knows (more via `GoogleState::register_client`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    pub fn state(&self) -> GoogleState {
        self.state.clone()
    }

    /// Stops accepting requests and waits for in-flight ones.
    pub async fn stop(self) {
        self.server.stop(true).await;
        if let Err(e) = self.task.await {
            tracing::warn!(error.message = %e, "google sandbox task ended abnormally");
        }
    }
}
