//! A stateful Microsoft Graph (Outlook calendar) and identity platform v2.0 sandbox that
//! behaves like the real services, strictly, so that a client bug fails in tests.
//!
//! # Endpoints
//! - `GET /{tenant}/oauth2/v2.0/authorize` and `POST /{tenant}/oauth2/v2.0/token`
//!   (`tenant` = `common`, `organizations`, `consumers` or the sandbox's tenant id).
//! - `/v1.0/me`, `/v1.0/me/calendars`, `/v1.0/me/calendar`,
//!   `/v1.0/me[/calendars/{id}]/events[/{id}]` (POST, GET, PATCH, DELETE),
//!   `/v1.0/me[/calendars/{id}]/calendarView/delta`, `/v1.0/subscriptions[/{id}[/reauthorize]]`.
//! - `/_sandbox/...`: admin endpoints for demos (see `admin.rs`; `POST /_sandbox/delta/expiry`
//!   picks the expired-token shape); not part of Graph.
//!
//! # Faithful to Graph (per providers.md and Microsoft's docs)
//! - Errors are `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`;
//!   token errors are `{"error","error_description":"AADSTS…","error_codes":[…]}`.
//! - Authorization codes are single-use (reuse → `invalid_grant` AADSTS54005), live 10
//!   minutes, and are bound to their `redirect_uri` (mismatch → AADSTS500112). Client
//!   secrets are checked (form or HTTP Basic; wrong → 401 `invalid_client`). A refresh
//!   token is issued only when `offline_access` was asked. The token answer has
//!   `token_type`, `scope` (Graph scopes as `https://graph.microsoft.com/…`, without
//!   `offline_access`), `expires_in`, `ext_expires_in`, `access_token`, `refresh_token`.
//! - API calls without, with an unknown or with an expired bearer → 401
//!   `InvalidAuthenticationToken` with `WWW-Authenticate`; writes need `Calendars.ReadWrite`,
//!   reads `Calendars.Read[Write]`, else 403 `ErrorAccessDenied`.
//! - Events: unknown properties → 400 `RequestBodyRead`; unknown zones → 400
//!   `TimeZoneNotSupportedException` (IANA names and the common Windows names are known);
//!   `isAllDay` needs midnight start and end; `showAs` is checked; a repeated
//!   `transactionId` returns the first event. `singleValueExtendedProperties` come back
//!   only with `$expand=singleValueExtendedProperties($filter=id eq '…')`.
//! - calendarView delta: both window parameters on the initial request (else 400
//!   `ErrorInvalidParameter`), the window carried in opaque tokens, `$select`/`$filter`/
//!   `$orderby`/`$search` refused, `Prefer: odata.maxpagesize` and `outlook.timezone`
//!   honoured with `Preference-Applied`, `@odata.nextLink` (`$skiptoken`) until the last
//!   page's `@odata.deltaLink` (`$deltatoken`). Series are expanded: occurrences (few
//!   fields: id, type, seriesMasterId, start, end) and exceptions, never masters.
//!   Deleted, cancelled and moved-out items come as `{"id","@removed":{"reason":"deleted"}}`.
//!   Invalid or expired delta and skip tokens → 410 `SyncStateNotFound` (the code real
//!   Graph was seen answering), or, by setting (`delta_expiry`), 410 `resyncRequired` or
//!   400 `SyncStateNotFound` (providers.md: both 410 and a 40X are seen). `$expand` is
//!   refused too (400 "Parsing OData Select and Expand failed", as Graph answers it).
//! - Subscriptions: changeType ⊆ created,updated,deleted; https URLs; clientState ≤ 128;
//!   expiry in the future and at most `max_subscription_minutes` ahead (beyond → 400
//!   `ExtensionError` "Subscription expiration can only be N minutes in the future.":
//!   Graph refuses rather than clamping). Before answering 201, the `validationToken`
//!   handshake runs against the notification URL and then the lifecycle URL: the token
//!   (with spaces and colons, percent-encoded) must come back decoded, with 200 and
//!   `text/plain`, within `validation_timeout`, else 400 `ValidationError`. PATCH renews
//!   under the same limits; unknown or expired ids → 404 `ResourceNotFound`.
//!   `POST /subscriptions/{id}/reauthorize` answers 204 without a body.
//! - Notification POSTs time out after `notification_timeout` (3 s, Graph's budget); a
//!   timed-out delivery is a failure and is retried.
//! - Slow endpoints are penalised as Graph does (`endpoint_policy`, see
//!   [`crate::endpoints`]): per notification URL, answers over 2.9 s (or none) count as
//!   slow; once 100 answers were counted, over 10 % slow in the latest 100 marks the
//!   endpoint slow (each delivery waits `slow_delay`), over 15 % drops it (notifications
//!   discarded for 10 minutes, then counting starts afresh). A warning is logged on each
//!   change; `GET /_sandbox/endpoints` shows the counters and states.
//! - Notifications carry subscriptionId, subscriptionExpirationDateTime, changeType,
//!   resource `Users/{uid}/Events/{id}`, resourceData, clientState, tenantId; several are
//!   batched into one POST per endpoint. Lifecycle notifications have the documented shape.
//!
//! # Choices on unconfirmed points
//! - Without `Prefer: outlook.timezone`, start/end come in the event's own zone (real
//!   Graph uses UTC for most reads): a client that forgets the header and assumes UTC fails.
//! - A rotated refresh token keeps working for `refresh_token_reuse_grace` (sandbox clock)
//!   after it was redeemed, then answers `invalid_grant` AADSTS70008; so a client that
//!   does not store the new token fails once the clock moves. Revoked → AADSTS70008 too.
//! - Delta tokens expire after `delta_token_ttl` (7 days by default); skip tokens can be
//!   replayed until `invalidate_delta_tokens`.
//! - The view includes events overlapping `[start, end)`; all-day events are floating
//!   days in their own zone and show as midnight in any zone asked for.
//! - Editing an occurrence makes it an exception with the same id; deleting an
//!   occurrence cancels it. Notifications name the changed item's id.
//! - Only the `query` response mode, only daily/weekly/absoluteMonthly patterns; the
//!   authorize endpoint consents at once for `login_hint` and requires `state`. No
//!   id_token, no PKCE check. http URLs are accepted only for loopback hosts.
//! - Failed deliveries are retried `max_delivery_attempts` times with exponential
//!   back-off from `delivery_retry_base` (Graph retries for hours).
//! - The sandbox clock (`advance_clock`) drives token, code, subscription and delta-token
//!   expiry; it does not move timers, so delivery back-off runs in real time.

mod admin;
mod delta;
mod error;
mod events_api;
mod mailbox;
mod model;
mod notify;
mod oauth;
mod recurrence;
mod routes;
mod state;
mod subscriptions;
mod tz;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::endpoints::SlowEndpointPolicy;
pub use error::{DeltaExpiry, GraphError, OAuthError};
pub use notify::{Delivery, DeliveryKind};
pub use state::GraphState;
pub use subscriptions::Subscription;

/// How the sandbox behaves; `Default` is what real Graph does where that is known.
#[derive(Debug, Clone)]
pub struct GraphSandboxConfig {
    pub bind: SocketAddr,
    pub client_id: String,
    pub client_secret: String,
    pub access_token_ttl: Duration,
    /// Longest subscription life in minutes: 4230, Graph's documented maximum for
    /// Outlook events; a longer request gets Graph's 400, never a shortened expiry.
    pub max_subscription_minutes: i64,
    pub validation_timeout: Duration,
    pub default_page_size: usize,
    /// The user who consents when `login_hint` is absent.
    pub default_user: String,
    /// Registered redirect URIs; empty accepts any https (or loopback http) URI.
    pub redirect_uris: Vec<String>,
    pub refresh_token_reuse_grace: Duration,
    pub delta_token_ttl: Duration,
    /// How an expired or invalid delta token is answered (changeable at run time with
    /// `GraphState::set_delta_expiry` or `POST /_sandbox/delta-expiry`).
    pub delta_expiry: DeltaExpiry,
    /// How long notifications are collected into one POST.
    pub notification_batch_window: Duration,
    /// How long an endpoint may take to answer a notification POST: Graph's HTTP client
    /// gives up after 3 seconds, and a later answer counts as a failed delivery.
    pub notification_timeout: Duration,
    pub delivery_retry_base: Duration,
    pub max_delivery_attempts: u32,
    /// When a notification endpoint counts as slow, and the delay or drop that follows.
    pub endpoint_policy: SlowEndpointPolicy,
}

impl Default for GraphSandboxConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "6731de76-14a6-49ae-97bc-6eba6914391e".into(),
            client_secret: "sandbox-client-secret".into(),
            access_token_ttl: Duration::from_secs(3599),
            max_subscription_minutes: 4230,
            validation_timeout: Duration::from_secs(10),
            default_page_size: 10,
            default_user: "agent@contoso.com".into(),
            redirect_uris: Vec::new(),
            refresh_token_reuse_grace: Duration::from_secs(60),
            delta_token_ttl: Duration::from_secs(7 * 24 * 3600),
            delta_expiry: DeltaExpiry::Gone,
            notification_batch_window: Duration::from_millis(50),
            notification_timeout: Duration::from_secs(3),
            delivery_retry_base: Duration::from_secs(1),
            max_delivery_attempts: 6,
            endpoint_policy: SlowEndpointPolicy::graph(),
        }
    }
}

/// A running sandbox on a loopback port.
pub struct GraphSandbox {
    base_url: String,
    state: GraphState,
    server: actix_web::dev::ServerHandle,
    server_task: tokio::task::JoinHandle<std::io::Result<()>>,
    dispatcher: tokio::task::JoinHandle<()>,
}

impl GraphSandbox {
    pub async fn start(cfg: GraphSandboxConfig) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(cfg.bind)?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(state::Shared::new(cfg, base_url.clone(), tx));
        let dispatcher = tokio::spawn(notify::run(shared.clone(), rx));
        let data = actix_web::web::Data::from(shared.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .app_data(routes::json_config())
                .configure(routes::configure)
        })
        .listen(listener)?
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .run();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        Ok(Self {
            base_url,
            state: GraphState { shared },
            server: handle,
            server_task,
            dispatcher,
        })
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    pub fn auth_url(&self) -> String {
        format!("{}/common/oauth2/v2.0/authorize", self.base_url)
    }

    pub fn token_url(&self) -> String {
        format!("{}/common/oauth2/v2.0/token", self.base_url)
    }

    pub fn state(&self) -> GraphState {
        self.state.clone()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
        self.dispatcher.abort();
        if let Err(e) = self.server_task.await {
            tracing::warn!(error.message = %e, "graph sandbox server task ended abnormally");
        }
    }
}
