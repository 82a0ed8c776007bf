//! The sandbox's shared state (mailboxes, grants, subscriptions, delta state, faults,
//! clock) and the `GraphState` handle tests use to act as a coworker and to break things.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

use super::delta::{DeltaState, Round};
use super::error::{DeltaExpiry, GraphError};
use super::mailbox::{Change, Mailbox};
use super::model::Actor;
use super::notify::{self, Delivery, Outgoing};
use super::oauth::{AccessGrant, AuthCode, RefreshGrant};
use super::subscriptions::Subscription;
use super::view::{calendar_view, render_full, RenderOpts};
use super::GraphSandboxConfig;
use crate::endpoints::{EndpointBook, EndpointHealth};

#[derive(Debug, Default)]
pub struct Faults {
    pub throttle: u32,
    pub throttle_retry_after: u64,
    pub unavailable: u32,
    pub unavailable_retry_after: u64,
    pub latency: Duration,
}

#[derive(Debug, Default)]
pub struct Store {
    pub mailboxes: HashMap<String, Mailbox>,
    /// Lower-cased UPN → user id.
    pub upns: HashMap<String, String>,
    pub codes: HashMap<String, AuthCode>,
    pub access: HashMap<String, AccessGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub delta: HashMap<String, DeltaState>,
    pub rounds: HashMap<String, Round>,
    pub drop_next: usize,
    pub dropped: u64,
}

impl Store {
    /// The mailbox of `upn`, created on first use (auto-provisioned users).
    pub fn mailbox_for(&mut self, upn: &str) -> &mut Mailbox {
        let key = upn.to_ascii_lowercase();
        let id = match self.upns.get(&key) {
            Some(id) => id.clone(),
            None => {
                let mailbox = Mailbox::new(&key);
                let id = mailbox.user_id.clone();
                self.upns.insert(key, id.clone());
                self.mailboxes.insert(id.clone(), mailbox);
                id
            }
        };
        self.mailboxes
            .entry(id)
            .or_insert_with(|| Mailbox::new(upn))
    }

    pub fn user_id_of(&self, upn_or_id: &str) -> Option<String> {
        if self.mailboxes.contains_key(upn_or_id) {
            return Some(upn_or_id.to_owned());
        }
        self.upns.get(&upn_or_id.to_ascii_lowercase()).cloned()
    }
}

pub struct Shared {
    pub cfg: GraphSandboxConfig,
    pub base_url: String,
    pub tenant_id: String,
    pub store: Mutex<Store>,
    clock_offset: Mutex<chrono::Duration>,
    pub faults: Mutex<Faults>,
    pub deliveries: Mutex<Vec<Delivery>>,
    pub delta_calls: AtomicU64,
    /// How expired delta tokens are answered; starts as `cfg.delta_expiry`.
    delta_expiry: Mutex<DeltaExpiry>,
    pub outbox: mpsc::UnboundedSender<Outgoing>,
    pub delivered: tokio::sync::Notify,
    /// How each notification URL answers, and its slow/dropped state.
    pub(crate) endpoints: Mutex<EndpointBook>,
}

/// Locks a mutex; a poisoned lock still holds consistent data here (every writer
/// finishes its change before it could panic), so it is used as is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub fn new(
        cfg: GraphSandboxConfig,
        base_url: String,
        outbox: mpsc::UnboundedSender<Outgoing>,
    ) -> Self {
        Self {
            delta_expiry: Mutex::new(cfg.delta_expiry),
            cfg,
            base_url,
            tenant_id: uuid::Uuid::new_v4().to_string(),
            store: Mutex::new(Store::default()),
            clock_offset: Mutex::new(chrono::Duration::zero()),
            faults: Mutex::new(Faults::default()),
            deliveries: Mutex::new(Vec::new()),
            delta_calls: AtomicU64::new(0),
            outbox,
            delivered: tokio::sync::Notify::new(),
            endpoints: Mutex::new(EndpointBook::default()),
        }
    }

    /// The sandbox clock: real time plus what tests advanced it by.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *lock(&self.clock_offset)
    }

    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    /// The error an expired or invalid delta or skip token gets now.
    pub fn sync_state_not_found(&self) -> GraphError {
        GraphError::sync_state_not_found(*lock(&self.delta_expiry))
    }

    /// Records an event change and queues notifications to the subscriptions it concerns.
    pub fn changed(&self, store: &mut Store, user_id: &str, change: &Change) {
        notify::queue_change(self, store, user_id, change);
    }
}

/// A cheap handle on a running sandbox for tests: coworker actions, fault injection,
/// the clock, and what the sandbox delivered.
#[derive(Clone)]
pub struct GraphState {
    pub(crate) shared: Arc<Shared>,
}

impl GraphState {
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Moves the sandbox clock forward: tokens, codes, subscriptions and delta tokens age.
    pub fn advance_clock(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        *lock(&self.shared.clock_offset) += by;
    }

    pub fn tenant_id(&self) -> String {
        self.shared.tenant_id.clone()
    }

    /// The object id of `upn`'s user, provisioning the mailbox if needed.
    pub fn user_id(&self, upn: &str) -> String {
        lock(&self.shared.store).mailbox_for(upn).user_id.clone()
    }

    /// Adds a secondary calendar to `upn`'s mailbox; returns its id.
    pub fn add_calendar(&self, upn: &str, name: &str) -> String {
        lock(&self.shared.store).mailbox_for(upn).add_calendar(name)
    }

    pub fn default_calendar_id(&self, upn: &str) -> String {
        lock(&self.shared.store)
            .mailbox_for(upn)
            .default_calendar()
            .to_owned()
    }

    /// A coworker books into `upn`'s default calendar; notifies subscribers.
    pub fn create_event(&self, upn: &str, event: Value) -> Result<String, GraphError> {
        self.create_event_in(upn, None, event)
    }

    pub fn create_event_in(
        &self,
        upn: &str,
        calendar: Option<&str>,
        event: Value,
    ) -> Result<String, GraphError> {
        let now = self.now();
        let mut store = lock(&self.shared.store);
        let mailbox = store.mailbox_for(upn);
        let user_id = mailbox.user_id.clone();
        let (inst, change) = mailbox.create(calendar, &event, Actor::Coworker, now)?;
        if let Some(change) = change {
            self.shared.changed(&mut store, &user_id, &change);
        }
        Ok(inst.id)
    }

    /// A coworker edits an event (an occurrence id makes it an exception).
    pub fn update_event(&self, upn: &str, id: &str, patch: Value) -> Result<(), GraphError> {
        let now = self.now();
        let mut store = lock(&self.shared.store);
        let mailbox = store.mailbox_for(upn);
        let user_id = mailbox.user_id.clone();
        let (_, change) = mailbox.update(None, id, &patch, Actor::Coworker, now)?;
        self.shared.changed(&mut store, &user_id, &change);
        Ok(())
    }

    pub fn delete_event(&self, upn: &str, id: &str) -> Result<(), GraphError> {
        let now = self.now();
        let mut store = lock(&self.shared.store);
        let mailbox = store.mailbox_for(upn);
        let user_id = mailbox.user_id.clone();
        let change = mailbox.delete(None, id, now)?;
        self.shared.changed(&mut store, &user_id, &change);
        Ok(())
    }

    /// The event as the API returns it, times in UTC, extended properties included.
    pub fn get_event(&self, upn: &str, id: &str) -> Option<Value> {
        let mut store = lock(&self.shared.store);
        let inst = store.mailbox_for(upn).get(None, id).ok()?;
        let opts = RenderOpts {
            zone: Some(("UTC".into(), chrono_tz::UTC)),
            expand: Some(Vec::new()),
        };
        Some(render_full(&inst, &opts))
    }

    /// Revokes every refresh token of `upn` (password reset, admin revocation).
    pub fn revoke_refresh_tokens(&self, upn: &str) {
        let mut store = lock(&self.shared.store);
        if let Some(user_id) = store.user_id_of(upn) {
            store.refresh.retain(|_, g| g.user_id != user_id);
        }
    }

    /// Makes every issued access token expired (the next API call answers 401).
    pub fn expire_access_tokens(&self) {
        let past = self.now() - chrono::Duration::seconds(1);
        for grant in lock(&self.shared.store).access.values_mut() {
            grant.expires = past;
        }
    }

    /// How expired delta tokens are answered from now on (410 or 400; see [`DeltaExpiry`]).
    pub fn set_delta_expiry(&self, shape: DeltaExpiry) {
        *lock(&self.shared.delta_expiry) = shape;
    }

    /// Forgets every delta and skip token: following one answers the configured
    /// [`DeltaExpiry`] shape (410 `SyncStateNotFound` by default).
    pub fn invalidate_delta_tokens(&self) {
        let mut store = lock(&self.shared.store);
        store.delta.clear();
        store.rounds.clear();
    }

    /// How many calendarView delta requests were answered (any page, any outcome but auth).
    pub fn delta_calls(&self) -> u64 {
        self.shared.delta_calls.load(Ordering::SeqCst)
    }

    /// Live subscriptions (expired ones are gone, as in Graph).
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let now = self.now();
        lock(&self.shared.store)
            .subscriptions
            .values()
            .filter(|s| s.expiration > now)
            .cloned()
            .collect()
    }

    /// Every notification POST attempt so far (change and lifecycle), in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.shared.deliveries).clone()
    }

    /// Every notification URL delivered to: answer counters and slow/dropped state.
    pub fn endpoints(&self) -> Vec<EndpointHealth> {
        lock(&self.shared.endpoints).snapshot(self.now())
    }

    pub fn clear_deliveries(&self) {
        lock(&self.shared.deliveries).clear();
    }

    /// Waits until at least `count` successful change deliveries were made, or `timeout`.
    pub async fn wait_for_deliveries(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.delivered.notified();
            let done = lock(&self.shared.deliveries)
                .iter()
                .filter(|d| d.succeeded() && d.kind == notify::DeliveryKind::Change)
                .count();
            if done >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// The next `n` change notifications are lost (never sent), as when Graph drops them.
    pub fn drop_next_notifications(&self, n: usize) {
        lock(&self.shared.store).drop_next += n;
    }

    /// How many notifications were dropped on purpose so far.
    pub fn dropped_notifications(&self) -> u64 {
        lock(&self.shared.store).dropped
    }

    /// The subscription lapses now without a lifecycle notification (as one the client
    /// lost track of): no more notifications. False for an unknown id.
    pub fn expire_subscription(&self, id: &str) -> bool {
        let past = self.now() - chrono::Duration::seconds(1);
        match lock(&self.shared.store).subscriptions.get_mut(id) {
            Some(s) => {
                s.expiration = past;
                true
            }
            None => false,
        }
    }

    /// The truth a test compares with: the calendar view of `upn`'s default calendar
    /// over `[from, to)` (series expanded, cancelled items left out), each item whole
    /// with times in UTC, untouched by injected faults or latency.
    pub fn calendar_view(&self, upn: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
        let mut store = lock(&self.shared.store);
        let mailbox = store.mailbox_for(upn);
        let calendar = mailbox.default_calendar().to_owned();
        let opts = RenderOpts {
            zone: Some(("UTC".into(), chrono_tz::UTC)),
            expand: None,
        };
        calendar_view(mailbox.events.values(), &calendar, from, to)
            .iter()
            .map(|inst| render_full(inst, &opts))
            .collect()
    }

    /// The next `times` Graph API requests answer 429 `TooManyRequests` with `Retry-After`.
    pub fn inject_throttle(&self, times: u32, retry_after_secs: u64) {
        let mut f = lock(&self.shared.faults);
        f.throttle = times;
        f.throttle_retry_after = retry_after_secs;
    }

    /// The next `times` Graph API requests answer 503 `ServiceNotAvailable` with `Retry-After`.
    pub fn inject_unavailable(&self, times: u32, retry_after_secs: u64) {
        let mut f = lock(&self.shared.faults);
        f.unavailable = times;
        f.unavailable_retry_after = retry_after_secs;
    }

    /// Delay added before every Graph API answer.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// Sends a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`,
    /// `missed`) to the subscription's lifecycle URL; `subscriptionRemoved` also deletes
    /// it. Returns the endpoint's HTTP status (None: no lifecycle URL or no answer).
    pub async fn send_lifecycle(
        &self,
        subscription_id: &str,
        event: &str,
    ) -> Result<Option<u16>, GraphError> {
        notify::send_lifecycle(&self.shared, subscription_id, event).await
    }
}
