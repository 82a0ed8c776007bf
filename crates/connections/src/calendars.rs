//! The agent's calendars of one connection: listed from the provider and merged with
//! the stored choices, and the choice itself (which calendars block availability, which
//! one receives bookings). The provider is asked under the connection's lease, as a
//! token refresh may be needed; choosing asks for a sync, which reads newly blocking
//! calendars in full and stops the webhooks of those that stopped blocking.

use crate::{ConnectionError, Connections, Lease, Tokens};
use calsync_core::Provider;
use calsync_db::calendars::{self, Known};
use calsync_db::connections::Connection;
use calsync_db::DbError;
use calsync_proto::v1::NoticeReason;
use calsync_providers::CalendarInfo;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use std::sync::Arc;
use std::time::Duration;

/// How long a request waits for a sync that holds the lease before it answers busy.
const LEASE_WAIT: Duration = Duration::from_secs(5);
const LEASE_POLL: Duration = Duration::from_millis(100);

/// One calendar of the account with calsync's choices for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarChoice {
    /// The id calsync uses for it (`PRIMARY_CALENDAR` for the account's main one).
    pub id: String,
    pub name: String,
    pub primary: bool,
    pub blocking: bool,
    pub write_to: bool,
    pub can_write: bool,
}

/// Why a listing or a choice was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// ICS feeds are one calendar each; they have nothing to choose.
    #[error("{0} connections have no calendars to choose from")]
    Unsupported(Provider),
    #[error("writeTo must name one of the account's calendars")]
    WriteToRequired,
    #[error("the account has no calendar {0:?}")]
    UnknownCalendar(String),
    #[error("calendar {0:?} is read-only for this account; bookings cannot be written to it")]
    NotWritable(String),
    #[error("the connection needs re-authorisation by the agent")]
    NeedsReauth,
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

impl From<DbError> for CalendarError {
    fn from(e: DbError) -> Self {
        Self::Connection(e.into())
    }
}

impl Connections {
    /// The account's calendars as the provider lists them, with the stored choices.
    pub async fn list_calendars(
        self: &Arc<Self>,
        c: &Connection,
    ) -> Result<Vec<CalendarChoice>, CalendarError> {
        let listed = self.provider_calendars(c).await?;
        let mut db = self.pool.get().await.map_err(DbError::from)?;
        let stored = calendars::list(&mut db, c.id).await?;
        Ok(merge(&listed, &stored))
    }

    /// Stores the agent's choice and asks for a sync; answers the merged list after it.
    pub async fn choose_calendars(
        self: &Arc<Self>,
        c: &Connection,
        blocking: &[String],
        write_to: &str,
    ) -> Result<Vec<CalendarChoice>, CalendarError> {
        if write_to.trim().is_empty() {
            return Err(CalendarError::WriteToRequired);
        }
        let listed = self.provider_calendars(c).await?;
        let before = {
            let mut db = self.pool.get().await.map_err(DbError::from)?;
            calendars::list(&mut db, c.id).await?
        };
        let offered = merge(&listed, &before);
        let resolve = |id: &str| -> Result<&CalendarChoice, CalendarError> {
            offered
                .iter()
                .find(|o| o.id == id)
                .or_else(|| {
                    // The provider's own id of the primary calendar names it too.
                    let real = listed.iter().find(|l| l.primary && l.id == id)?;
                    offered.iter().find(|o| o.primary && real.primary)
                })
                .ok_or_else(|| CalendarError::UnknownCalendar(id.to_owned()))
        };
        let target = resolve(write_to)?;
        if !target.can_write {
            return Err(CalendarError::NotWritable(write_to.to_owned()));
        }
        let target = target.id.clone();
        let mut chosen: Vec<String> = Vec::new();
        for id in blocking {
            let id = resolve(id)?.id.clone();
            if !chosen.contains(&id) {
                chosen.push(id);
            }
        }
        let known: Vec<Known<'_>> = offered
            .iter()
            .map(|o| Known {
                calendar_id: &o.id,
                name: &o.name,
                is_primary: o.primary,
            })
            .collect();
        let chosen_refs: Vec<&str> = chosen.iter().map(String::as_str).collect();
        let now = self.clock.now();
        let mut db = self.pool.get().await.map_err(DbError::from)?;
        let (known, chosen_refs, target) = (&known, &chosen_refs, &target);
        let released = db
            .transaction::<_, DbError, _>(|tx| {
                async move { calendars::choose(tx, c.id, known, chosen_refs, target, now).await }
                    .scope_boxed()
            })
            .await?;
        tracing::info!(connection.id = %c.id, blocking = ?chosen, write_to = %target,
            released = ?released, "calendar choice stored");
        self.request_sync(&mut db, c.id, c.provider, NoticeReason::Manual, false)
            .await?;
        let stored = calendars::list(&mut db, c.id).await?;
        Ok(merge(&listed, &stored))
    }

    /// The provider's calendar list, read under the lease (waiting briefly for a sync
    /// that holds it). A notice that arrived meanwhile is passed on.
    async fn provider_calendars(
        self: &Arc<Self>,
        c: &Connection,
    ) -> Result<Vec<CalendarInfo>, CalendarError> {
        if !c.provider.has_webhooks() {
            return Err(CalendarError::Unsupported(c.provider));
        }
        if c.needs_reauth {
            return Err(CalendarError::NeedsReauth);
        }
        let lease = self.wait_for_lease(c).await?;
        let listed = self.list_with(&lease, c).await;
        let again = lease.release(self).await?;
        if again {
            let mut db = self.pool.get().await.map_err(DbError::from)?;
            self.request_sync(&mut db, c.id, c.provider, NoticeReason::Webhook, false)
                .await?;
        }
        Ok(listed?)
    }

    async fn wait_for_lease(self: &Arc<Self>, c: &Connection) -> Result<Lease, CalendarError> {
        let started = std::time::Instant::now();
        loop {
            if let Some(lease) = self.take_lease(c.id).await? {
                return Ok(lease);
            }
            if started.elapsed() >= LEASE_WAIT {
                return Err(ConnectionError::Busy.into());
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    async fn list_with(
        &self,
        lease: &Lease,
        c: &Connection,
    ) -> Result<Vec<CalendarInfo>, ConnectionError> {
        let mut tokens = Tokens::of(c);
        let mut token = tokens.access(self, lease, false).await?;
        let mut refreshed = false;
        loop {
            let listed = match c.provider {
                Provider::Google => self.clients.google()?.list_calendars(&token).await,
                Provider::Microsoft => self.clients.microsoft()?.list_calendars(&token).await,
                Provider::Ics => {
                    return Err(ConnectionError::Unsupported {
                        provider: c.provider,
                        what: "calendars",
                    })
                }
            };
            match listed {
                Err(calsync_providers::ProviderError::Unauthorized) if !refreshed => {
                    refreshed = true;
                    token = tokens.access(self, lease, true).await?;
                }
                other => return Ok(other?),
            }
        }
    }
}

/// The provider's calendars with the stored choices; the provider's primary calendar
/// carries the id calsync stores for it.
fn merge(listed: &[CalendarInfo], stored: &[calendars::Calendar]) -> Vec<CalendarChoice> {
    let primary_id = stored
        .iter()
        .find(|k| k.is_primary)
        .map_or(calsync_core::PRIMARY_CALENDAR, |k| k.calendar_id.as_str());
    let mut out: Vec<CalendarChoice> = listed
        .iter()
        .map(|l| {
            let id = if l.primary {
                primary_id.to_owned()
            } else {
                l.id.clone()
            };
            let row = stored.iter().find(|k| k.calendar_id == id);
            CalendarChoice {
                blocking: row.is_some_and(|k| k.blocking),
                write_to: row.is_some_and(|k| k.write_to),
                id,
                name: l.name.clone(),
                primary: l.primary,
                can_write: l.can_write,
            }
        })
        .collect();
    // Primary first, then by name, as an agent reads a list.
    out.sort_by(|a, b| b.primary.cmp(&a.primary).then_with(|| a.name.cmp(&b.name)));
    out
}
