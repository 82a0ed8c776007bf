//! The sandbox's in-memory world: OAuth grants and tokens, calendars and events, sync and
//! page cursors, watch channels, delivery log, injected faults and the movable clock.

use crate::endpoints::{EndpointBook, SlowEndpointPolicy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Private extended properties written outside OAuth (test handle, `/_sandbox`) are
/// filed under this pseudo client, so no real app ever sees them.
pub(crate) const COWORKER_CLIENT: &str = "sandbox-coworker";

/// Knobs copied from the config at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Option<Duration>,
    pub channel_ttl_max: Duration,
    pub default_page_size: usize,
    pub push_attempts: u32,
    pub push_backoff: Duration,
    pub push_timeout: Duration,
    pub endpoint_policy: SlowEndpointPolicy,
    pub allowed_redirect_uris: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user: String,
    pub scopes: Vec<String>,
    pub with_refresh: bool,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issued: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    /// The resource as every client sees it (without `extendedProperties.private`).
    pub body: Map<String, Value>,
    /// `extendedProperties.private` per OAuth client id.
    pub private: HashMap<String, Map<String, Value>>,
    pub change_seq: u64,
    pub order: u64,
    pub deleted: bool,
    /// Instance ids earlier versions of a series produced, so an incremental sync can
    /// report instances that a later edit removed as cancelled.
    pub prior_instances: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub id: String,
    /// A secondary calendar's owner (its creator); `None` for a user's primary calendar,
    /// whose id is the user's email.
    pub owner: Option<String>,
    /// The calendar's title (`summary`); the primary one's is the user's email.
    pub summary: Option<String>,
    pub time_zone: String,
    pub resource_id: String,
    pub seq: u64,
    pub next_order: u64,
    pub events: HashMap<String, StoredEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SyncCursor {
    pub calendar: String,
    pub watermark: u64,
    pub single_events: bool,
    pub epoch: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct PageState {
    pub fingerprint: String,
    pub calendar: String,
    pub client_id: String,
    pub items: Arc<Vec<Value>>,
    pub offset: usize,
    pub then_sync: SyncCursor,
}

/// A watch channel as tests see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    pub id: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub calendar_id: String,
    pub address: String,
    pub token: Option<String>,
    pub expiration: DateTime<Utc>,
    pub stopped: bool,
    pub client_id: String,
    /// Message numbers handed out so far (the `sync` message is 1).
    pub messages_sent: u64,
}

/// One attempt to deliver one notification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub channel_id: String,
    pub message_number: u64,
    pub resource_state: String,
    pub address: String,
    pub attempt: u32,
    /// HTTP status answered, or `None` when the request failed before an answer.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Makes the next `times` API requests (under `/calendar/v3`, optionally only those whose
/// path contains `only_path_contains`) fail with a Google-shaped error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub status: u16,
    /// `rateLimitExceeded`, `userRateLimitExceeded`, `quotaExceeded` or `backendError`.
    pub reason: String,
    #[serde(default)]
    pub retry_after: Option<u64>,
    pub times: u32,
    #[serde(default)]
    pub only_path_contains: Option<String>,
}

impl Fault {
    pub fn new(status: u16, reason: &str, times: u32) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            retry_after: None,
            times,
            only_path_contains: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn only_path_contains(mut self, part: &str) -> Self {
        self.only_path_contains = Some(part.to_owned());
        self
    }
}

pub(crate) struct Inner {
    pub settings: Settings,
    pub api_base: String,
    pub clients: HashMap<String, String>,
    pub clock_offset: chrono::Duration,
    pub deny_next_consent: bool,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    /// (user, client) → scopes granted so far; a refresh token is issued only on the
    /// first offline grant or when `prompt=consent` asks for consent again.
    pub grants: HashMap<(String, String), BTreeSet<String>>,
    pub calendars: HashMap<String, Calendar>,
    pub sync_epoch: u64,
    pub sync_tokens: HashMap<String, SyncCursor>,
    pub sync_token_of: HashMap<SyncCursor, String>,
    pub pages: HashMap<String, PageState>,
    /// `calendarList` page tokens: (user, offset of the next page).
    pub calendar_list_pages: HashMap<String, (String, usize)>,
    pub channels: Vec<(ChannelInfo, u64)>,
    pub used_channel_ids: HashSet<String>,
    pub deliveries: Vec<Delivery>,
    pub faults: Vec<Fault>,
    pub latency: Duration,
    pub list_calls: HashMap<String, u64>,
    /// Change notifications still to lose (never sent), and how many were lost so far.
    pub drop_pushes: u64,
    pub dropped_pushes: u64,
    /// How each channel address answers pushes.
    pub endpoints: EndpointBook,
}

impl Inner {
    pub fn new(settings: Settings, client_id: String, client_secret: String) -> Self {
        let mut clients = HashMap::new();
        clients.insert(client_id, client_secret);
        Self {
            settings,
            api_base: String::new(),
            clients,
            clock_offset: chrono::Duration::zero(),
            deny_next_consent: false,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            grants: HashMap::new(),
            calendars: HashMap::new(),
            sync_epoch: 0,
            sync_tokens: HashMap::new(),
            sync_token_of: HashMap::new(),
            pages: HashMap::new(),
            calendar_list_pages: HashMap::new(),
            channels: Vec::new(),
            used_channel_ids: HashSet::new(),
            deliveries: Vec::new(),
            faults: Vec::new(),
            latency: Duration::ZERO,
            list_calls: HashMap::new(),
            drop_pushes: 0,
            dropped_pushes: 0,
            endpoints: EndpointBook::default(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// The calendar with this id, created on first use (every user owns one calendar
    /// whose id is their email address).
    pub fn calendar_mut(&mut self, id: &str) -> &mut Calendar {
        self.calendars
            .entry(id.to_owned())
            .or_insert_with(|| Calendar {
                id: id.to_owned(),
                owner: None,
                summary: None,
                time_zone: "UTC".to_owned(),
                resource_id: random_token(27),
                seq: 0,
                next_order: 0,
                events: HashMap::new(),
            })
    }

    /// The secondary calendars `user` owns, by id.
    pub fn owned_calendars(&self, user: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .calendars
            .values()
            .filter(|c| {
                c.owner
                    .as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(user))
            })
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The opaque token for a sync position. The same position yields the same token,
    /// as Google answers an incremental sync with no changes.
    pub fn sync_token_for(&mut self, cursor: SyncCursor) -> String {
        if let Some(t) = self.sync_token_of.get(&cursor) {
            return t.clone();
        }
        let token = format!("CP{}", random_token(30));
        self.sync_tokens.insert(token.clone(), cursor.clone());
        self.sync_token_of.insert(cursor, token.clone());
        token
    }
}

/// Cheap clone handle to the sandbox state, for tests and the demo.
#[derive(Clone)]
pub struct GoogleState {
    pub(crate) inner: Arc<Mutex<Inner>>,
    pub(crate) http: reqwest::Client,
    pub(crate) rt: tokio::runtime::Handle,
}

impl GoogleState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not wedge every later request.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A random string of URL-safe letters and digits.
pub(crate) fn random_token(len: usize) -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// An event id as Google generates them: base32hex (`a-v`, `0-9`), 26 characters.
pub(crate) fn random_event_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    let mut rng = rand::thread_rng();
    (0..26)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
