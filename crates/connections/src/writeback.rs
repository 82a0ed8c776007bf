//! Write-back: bookings written into the agents' calendars, and cancellations deleted
//! from them, by draining the `calendar_writes` outbox (api queues rows in the booking's
//! and the cancellation's own transactions). Everything about performing a write lives
//! here; sync-worker only calls `WriteBack::run_once` on a short tick.
//!
//! - Claims: due rows are claimed in PostgreSQL (`FOR UPDATE SKIP LOCKED`, fenced by the
//!   owner), so any number of workers drain the outbox without writing anything twice.
//! - The connection's `Lease` is held while its writes are performed and recorded: it
//!   is what token refresh needs, and it keeps syncs out meanwhile, so a sync never
//!   reads back an event whose write is not yet recorded (the copy is recognised as
//!   ours by the id the write recorded). A connection busy with a sync is tried again
//!   a moment later, without counting an attempt.
//! - Retries: each call goes through the provider client's `RetryPolicy` (rate limits
//!   and 5xx with back-off and jitter); a call that still fails leaves the row pending
//!   with exponential back-off (never sooner than a `Retry-After`), for as long as the
//!   provider keeps failing transiently. A refusal that waiting will not cure (403, 404
//!   calendar, 400) fails the row for good. A revoked grant marks the connection for
//!   re-authorisation: its rows wait, uncounted, and are written after the reconnect.
//! - Repeats are safe: Google events are inserted under an id derived from the
//!   appointment (`booking_event_id`; a repeat answers 409 `duplicate`, read as
//!   written), Graph events with the appointment id as `transactionId`. Deletes of an
//!   event already gone (Google 404/410, Graph 404) are done.
//! - A delete waits while its create is being performed, takes over (skips) a create
//!   still pending, and when that create may have reached the provider (tried, outcome
//!   unknown) deletes by Google's derived id, or on Graph repeats the create (the same
//!   `transactionId` answers the first event) to learn the id it deletes.

mod template;

pub use template::{BookingFacts, Template, TemplateError};

use crate::{error_chain, ConnectionError, Connections, Lease, Tokens};
use calsync_core::{AppointmentId, Provider};
use calsync_db::appointments::{self, STATUS_CONFIRMED};
use calsync_db::calendar_writes::{self, CalendarWrite, WriteState};
use calsync_db::connections::{self, Connection, FailureKind};
use calsync_db::DbError;
use calsync_proto::v1::NoticeReason;
use calsync_providers::google::booking_event_id;
use calsync_providers::{BookingEvent, ProviderError};
use calsync_runtime::settings::WritebackSettings;
use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

/// Writes claimed per pass; a pass that fills it runs again at once.
pub const BATCH: i64 = 100;
/// How long a claim lasts: longer than one call with all its in-call retries (the
/// client's retry budget plus request timeouts), so a live worker never loses it.
const CLAIM_TTL: Duration = Duration::minutes(3);
/// Connections whose writes are performed at once.
const CONCURRENCY: usize = 8;
/// The next look at a write whose connection was busy (a sync, another write).
const BUSY_RETRY: Duration = Duration::milliseconds(300);
/// The longest back-off between failed tries.
const MAX_BACKOFF: Duration = Duration::minutes(10);

/// The write-back drain of one process.
pub struct WriteBack {
    conns: Arc<Connections>,
    title: Template,
    description: Template,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub claimed: usize,
    /// Performed (event written or deleted).
    pub done: usize,
    /// Not needed (a booking cancelled before its event was written).
    pub skipped: usize,
    /// Failed transiently, or waiting for re-authorisation: tried again later.
    pub retried: usize,
    /// Refused for good.
    pub failed: usize,
    /// Given back untried: the connection was busy.
    pub deferred: usize,
}

impl DrainReport {
    pub fn full(&self) -> bool {
        self.claimed as i64 >= BATCH
    }

    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Done(_) => self.done += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Retry { .. } | Outcome::Reauth(_) => self.retried += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Wait(_) => self.deferred += 1,
        }
    }
}

/// What became of one write.
#[derive(Debug)]
enum Outcome {
    /// Performed; a create's event id.
    Done(Option<String>),
    Skipped,
    /// Not tried: look again after this long (uncounted).
    Wait(Duration),
    /// Tried and failed transiently.
    Retry {
        error: String,
        asked: Option<std::time::Duration>,
    },
    /// The grant is gone: the connection needs re-authorisation.
    Reauth(String),
    Failed(String),
}

impl WriteBack {
    pub fn new(conns: Arc<Connections>, s: &WritebackSettings) -> Result<Self, TemplateError> {
        Ok(Self {
            conns,
            title: Template::parse(&s.title_template)?,
            description: Template::parse(&s.description_template)?,
        })
    }

    /// Claims the due writes and performs them, grouped by connection.
    pub async fn run_once(&self) -> Result<DrainReport, DbError> {
        let now = self.conns.clock.now();
        let claimed = {
            let mut db = self.conns.pool.get().await?;
            calendar_writes::claim_due(&mut db, &self.conns.owner, now, CLAIM_TTL, BATCH).await?
        };
        let mut report = DrainReport {
            claimed: claimed.len(),
            ..DrainReport::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let mut by_connection: BTreeMap<Uuid, Vec<CalendarWrite>> = BTreeMap::new();
        for w in claimed {
            by_connection.entry(w.connection_id).or_default().push(w);
        }
        let outcomes: Vec<Result<Vec<Outcome>, DbError>> = stream::iter(by_connection)
            .map(|(id, writes)| self.drain_connection(id, writes))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for o in outcomes {
            match o {
                Ok(list) => list.iter().for_each(|o| report.add(o)),
                // The rows stay claimed until their claim lapses, then are taken again.
                Err(e) => tracing::warn!(error.message = %e, "write-back of a connection failed"),
            }
        }
        Ok(report)
    }

    /// Performs one connection's writes under its lease, then asks for a sync to read
    /// the calendar back (its copy of our event is then stored as ours).
    async fn drain_connection(
        &self,
        id: Uuid,
        writes: Vec<CalendarWrite>,
    ) -> Result<Vec<Outcome>, DbError> {
        let conns = &self.conns;
        let Some(lease) = conns.take_lease(id).await? else {
            let mut db = conns.pool.get().await?;
            let later = conns.clock.now() + BUSY_RETRY;
            for w in &writes {
                calendar_writes::release(&mut db, w.id, &conns.owner, later).await?;
            }
            return Ok(writes.iter().map(|_| Outcome::Wait(BUSY_RETRY)).collect());
        };
        let span = tracing::info_span!("writeback", connection.id = %id, writes = writes.len());
        let result = self.perform_all(&lease, id, &writes).instrument(span).await;
        // A sync asked for while we held the lease is owed one more: the read-back below.
        let again = lease.release(conns).await.unwrap_or_else(|e| {
            tracing::warn!(connection.id = %id, error.message = %e, "lease release failed; it lapses");
            true
        });
        let outcomes = result?;
        let wrote = outcomes.iter().any(|o| matches!(o, Outcome::Done(_)));
        if wrote || again {
            let mut db = conns.pool.get().await?;
            let connection = connections::get(&mut db, id).await?;
            conns
                .request_sync(
                    &mut db,
                    id,
                    connection.provider,
                    NoticeReason::Writeback,
                    false,
                )
                .await?;
        }
        Ok(outcomes)
    }

    async fn perform_all(
        &self,
        lease: &Lease,
        id: Uuid,
        writes: &[CalendarWrite],
    ) -> Result<Vec<Outcome>, DbError> {
        let conns = &self.conns;
        let connection = {
            let mut db = conns.pool.get().await?;
            connections::get(&mut db, id).await?
        };
        let mut tokens = Tokens::of(&connection);
        let mut outcomes = Vec::with_capacity(writes.len());
        for w in writes {
            let outcome = match self.perform(lease, &connection, &mut tokens, w).await {
                Ok(o) => o,
                Err(e) => classify(&e),
            };
            self.record(&connection, w, &outcome).await?;
            tracing::info!(
                connection.id = %id,
                appointment.id = %w.appointment_id,
                op = %w.op,
                outcome = ?outcome,
                "calendar write"
            );
            let reauth = matches!(outcome, Outcome::Reauth(_));
            outcomes.push(outcome);
            if reauth {
                // The rest wait for the reconnect too; they are given back untried.
                let mut db = conns.pool.get().await?;
                for rest in &writes[outcomes.len()..] {
                    let now = conns.clock.now();
                    calendar_writes::release(&mut db, rest.id, &conns.owner, now).await?;
                    outcomes.push(Outcome::Wait(Duration::zero()));
                }
                break;
            }
        }
        Ok(outcomes)
    }

    async fn perform(
        &self,
        lease: &Lease,
        c: &Connection,
        tokens: &mut Tokens,
        w: &CalendarWrite,
    ) -> Result<Outcome, ConnectionError> {
        lease.ensure_held()?;
        if w.is_create() {
            self.create(lease, c, tokens, w).await
        } else {
            self.delete(lease, c, tokens, w).await
        }
    }

    async fn create(
        &self,
        lease: &Lease,
        c: &Connection,
        tokens: &mut Tokens,
        w: &CalendarWrite,
    ) -> Result<Outcome, ConnectionError> {
        let appointment = {
            let mut db = self.conns.pool.get().await.map_err(DbError::from)?;
            appointments::get(&mut db, w.appointment_id).await?
        };
        if appointment.status != STATUS_CONFIRMED {
            // Cancelled meanwhile: its delete takes care of anything a try left behind.
            return Ok(Outcome::Skipped);
        }
        let id = self
            .write_event(
                lease,
                c,
                tokens,
                w,
                &appointment.customer,
                appointment.starts_at,
                appointment.ends_at,
            )
            .await?;
        Ok(Outcome::Done(Some(id)))
    }

    /// Creates (or, repeated, finds again) the booking's event; its provider id.
    #[expect(
        clippy::too_many_arguments,
        reason = "the booking's facts come from two rows; a struct for one call adds nothing"
    )]
    async fn write_event(
        &self,
        lease: &Lease,
        c: &Connection,
        tokens: &mut Tokens,
        w: &CalendarWrite,
        customer: &serde_json::Value,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<String, ConnectionError> {
        let facts = BookingFacts {
            appointment_id: w.appointment_id,
            customer,
            start,
            end,
        };
        let (title, description) = (self.title.render(&facts), self.description.render(&facts));
        let event = BookingEvent {
            title: &title,
            description: &description,
            start,
            end,
            appointment_id: AppointmentId(w.appointment_id),
        };
        let calendar = w.calendar_id.as_deref();
        let clients = &self.conns.clients;
        let event = &event;
        with_token(&self.conns, lease, tokens, |token| async move {
            Ok(match c.provider {
                Provider::Google => {
                    clients
                        .google()?
                        .insert_booking(&token, calendar.unwrap_or("primary"), event)
                        .await?
                }
                Provider::Microsoft => {
                    clients
                        .microsoft()?
                        .create_booking_event(&token, calendar, event)
                        .await?
                }
                Provider::Ics => {
                    return Err(ConnectionError::Unsupported {
                        provider: c.provider,
                        what: "calendar writes",
                    })
                }
            })
        })
        .await
    }

    async fn delete(
        &self,
        lease: &Lease,
        c: &Connection,
        tokens: &mut Tokens,
        w: &CalendarWrite,
    ) -> Result<Outcome, ConnectionError> {
        let now = self.conns.clock.now();
        let create = {
            let mut db = self.conns.pool.get().await.map_err(DbError::from)?;
            let Some(create) =
                calendar_writes::create_of(&mut db, w.appointment_id, w.connection_id).await?
            else {
                return Ok(Outcome::Skipped);
            };
            if create.claimed_at(now) {
                return Ok(Outcome::Wait(Duration::seconds(1)));
            }
            if create.write_state() == Some(WriteState::Pending)
                && !calendar_writes::skip_unclaimed_create(&mut db, create.id, now).await?
            {
                return Ok(Outcome::Wait(Duration::seconds(1)));
            }
            create
        };
        let state = create.write_state();
        // A create never tried sent nothing.
        if create.attempts == 0 && state != Some(WriteState::Done) {
            return Ok(Outcome::Skipped);
        }
        // A create refused for good made no event: had an earlier try made one, the
        // repeat (same Graph transactionId) would have answered it instead of failing.
        // Google needs no such care: deleting by the derived id finds it or answers 404.
        if state == Some(WriteState::Failed)
            && create.provider_event_id.is_none()
            && c.provider == Provider::Microsoft
        {
            return Ok(Outcome::Skipped);
        }
        let event_id = match (&create.provider_event_id, c.provider) {
            (Some(id), _) => id.clone(),
            (None, Provider::Google) => booking_event_id(AppointmentId(w.appointment_id)),
            (None, _) => {
                // A Graph create whose outcome is unknown: the same transactionId answers
                // the event it made (or makes it), whose id we then delete.
                let appointment = {
                    let mut db = self.conns.pool.get().await.map_err(DbError::from)?;
                    appointments::get(&mut db, w.appointment_id).await?
                };
                self.write_event(
                    lease,
                    c,
                    tokens,
                    &create,
                    &appointment.customer,
                    appointment.starts_at,
                    appointment.ends_at,
                )
                .await?
            }
        };
        let calendar = create.calendar_id.as_deref();
        let clients = &self.conns.clients;
        let event_id = &event_id;
        with_token(&self.conns, lease, tokens, |token| async move {
            match c.provider {
                Provider::Google => {
                    clients
                        .google()?
                        .delete_event(&token, calendar.unwrap_or("primary"), event_id)
                        .await?
                }
                Provider::Microsoft => clients.microsoft()?.delete_event(&token, event_id).await?,
                Provider::Ics => {
                    return Err(ConnectionError::Unsupported {
                        provider: c.provider,
                        what: "calendar writes",
                    })
                }
            }
            Ok(())
        })
        .await?;
        Ok(Outcome::Done(None))
    }

    /// Stores an outcome on its row (fenced by our claim); a lost grant also marks the
    /// connection for re-authorisation, as a failed sync would.
    async fn record(
        &self,
        c: &Connection,
        w: &CalendarWrite,
        outcome: &Outcome,
    ) -> Result<(), DbError> {
        let conns = &self.conns;
        let now = conns.clock.now();
        let owner = conns.owner.as_str();
        let mut db = conns.pool.get().await?;
        let kept = match outcome {
            Outcome::Done(event) => {
                calendar_writes::finish_done(&mut db, w.id, owner, event.as_deref(), false, now)
                    .await?
            }
            Outcome::Skipped => {
                calendar_writes::finish_done(&mut db, w.id, owner, None, true, now).await?
            }
            Outcome::Wait(d) => calendar_writes::release(&mut db, w.id, owner, now + *d).await?,
            Outcome::Retry { error, asked } => {
                let next = now + backoff(w.attempts, *asked);
                calendar_writes::finish_retry(&mut db, w.id, owner, error, next, true, now).await?
            }
            Outcome::Reauth(error) => {
                connections::record_failure(
                    &mut db,
                    c.id,
                    error,
                    FailureKind::NeedsReauth,
                    now,
                    now + Duration::minutes(10),
                )
                .await?;
                calendar_writes::finish_retry(&mut db, w.id, owner, error, now, false, now).await?
            }
            Outcome::Failed(error) => {
                calendar_writes::finish_failed(&mut db, w.id, owner, error, now).await?
            }
        };
        if !kept {
            tracing::warn!(write.id = %w.id, "write claim lapsed before its outcome was recorded");
        }
        Ok(())
    }
}

/// Runs `call` with a usable access token, refreshing once (under the lease) after a 401.
async fn with_token<T, F, Fut>(
    conns: &Connections,
    lease: &Lease,
    tokens: &mut Tokens,
    call: F,
) -> Result<T, ConnectionError>
where
    F: Fn(SecretString) -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectionError>>,
{
    let token = tokens.access(conns, lease, false).await?;
    match call(token).await {
        Err(ConnectionError::Provider(ProviderError::Unauthorized)) => {
            let token = tokens.access(conns, lease, true).await?;
            call(token).await
        }
        other => other,
    }
}

/// Which outcome a failure is.
fn classify(e: &ConnectionError) -> Outcome {
    let message = error_chain(e);
    if e.needs_reauth() {
        return Outcome::Reauth(message);
    }
    match e {
        ConnectionError::LeaseLost | ConnectionError::Busy => Outcome::Wait(BUSY_RETRY),
        ConnectionError::Provider(p) if p.is_transient() => Outcome::Retry {
            error: message,
            asked: p.retry_after(),
        },
        ConnectionError::Provider(
            ProviderError::Forbidden { .. }
            | ProviderError::NotFound
            | ProviderError::Gone
            | ProviderError::BadRequest { .. }
            | ProviderError::Conflict { .. }
            | ProviderError::Http { .. },
        )
        | ConnectionError::Unsupported { .. } => Outcome::Failed(message),
        // Unknown outcomes, 401 after a refresh, a database blip, a provider not
        // configured in this process: trying again later can succeed.
        _ => Outcome::Retry {
            error: message,
            asked: None,
        },
    }
}

/// 1, 2, 4 … seconds after the `attempts`-th failure, up to `MAX_BACKOFF`, and never
/// sooner than the provider asked.
fn backoff(attempts: i32, asked: Option<std::time::Duration>) -> Duration {
    let doubling = Duration::seconds(1i64 << attempts.clamp(0, 20)).min(MAX_BACKOFF);
    match asked.and_then(|a| Duration::from_std(a).ok()) {
        Some(a) => doubling.max(a),
        None => doubling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_writes_back_off_exponentially_never_sooner_than_asked() {
        assert_eq!(backoff(0, None), Duration::seconds(1));
        assert_eq!(backoff(3, None), Duration::seconds(8));
        assert_eq!(backoff(30, None), MAX_BACKOFF);
        let asked = Some(std::time::Duration::from_secs(30));
        assert_eq!(backoff(0, asked), Duration::seconds(30));
    }

    #[test]
    fn refusals_fail_for_good_and_throttling_is_retried() {
        let forbidden = ConnectionError::Provider(ProviderError::Forbidden {
            reason: "forbiddenForNonOrganizer".into(),
            message: "no".into(),
        });
        assert!(matches!(classify(&forbidden), Outcome::Failed(_)));
        let throttled = ConnectionError::Provider(ProviderError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(2)),
        });
        assert!(matches!(
            classify(&throttled),
            Outcome::Retry { asked: Some(a), .. } if a.as_secs() == 2
        ));
        let revoked = ConnectionError::Reauth("revoked".into());
        assert!(matches!(classify(&revoked), Outcome::Reauth(_)));
    }
}
