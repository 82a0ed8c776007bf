//! Google and Microsoft syncs: every blocking calendar of the account in turn, each
//! "incremental from its stored cursor, full when there is none or it expired", with
//! one token refresh on a 401.
//!
//! Graph delta windows are fixed when a round starts, and events that enter the window
//! later raise no notification: once the stored window start is a day behind the
//! desired one, a new initial round moves the window forward.

use super::commit::{self, Target};
use super::SyncError;
use crate::context::WorkerContext;
use calsync_connections::{error_chain, ConnectionError, Lease, Tokens};
use calsync_core::event::BusyPolicy;
use calsync_core::{Provider, TimeRange, PRIMARY_CALENDAR};
use calsync_db::calendars::{self, Calendar};
use calsync_db::connections::{self, Claim, SyncSuccess};
use calsync_db::specialists;
use calsync_providers::{ProviderError, SyncBatch, SyncWindow};
use chrono::Duration;
use secrecy::SecretString;
use tracing::Instrument;

/// How far the Graph delta window may lag before it is moved forward.
const WINDOW_SLACK: Duration = Duration::days(1);

/// Returns the account's calendars as read when the sync started, for the webhook
/// upkeep that follows it.
pub async fn sync(
    ctx: &WorkerContext,
    lease: &Lease,
    claim: &Claim,
) -> Result<Vec<Calendar>, SyncError> {
    let c = &claim.connection;
    let now = ctx.clock.now();
    let (tz, calendars) = {
        let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
        let s = specialists::get(&mut db, c.specialist_id).await?;
        let tz = s
            .time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| SyncError::UnknownZone(s.time_zone.clone()))?;
        (tz, calendars::list(&mut db, c.id).await?)
    };
    let blocking: Vec<&Calendar> = calendars.iter().filter(|k| k.blocking).collect();
    let mut tokens = Tokens::of(c);
    let mut token = tokens.access(ctx, lease, false).await?;
    let next_poll_at = ctx.next_poll_at(c.provider, now);
    // The last calendar's commit records the success too (see `commit`); when it was
    // skipped (gone at the provider), or there is none, the success is recorded alone.
    let mut recorded = false;
    // Each blocking calendar with its own cursor and its own commit: one that fails
    // leaves the others' progress in place, and the sync as a whole is then a failure.
    for (i, k) in blocking.iter().enumerate() {
        let span = tracing::info_span!("calendar", calendar.id = %k.calendar_id);
        let finish = (i + 1 == blocking.len()).then_some(next_poll_at);
        let synced = sync_calendar(
            ctx,
            lease,
            claim,
            k,
            tz,
            now,
            finish,
            &mut tokens,
            &mut token,
        )
        .instrument(span)
        .await;
        if let Err(SyncError::Connection(ConnectionError::Provider(ProviderError::NotFound))) =
            &synced
        {
            if !k.is_primary {
                // A secondary calendar deleted (or unshared) at the provider would fail
                // every sync of the account: it stops blocking and its events go.
                tracing::warn!("calendar gone at the provider; it no longer blocks");
                let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
                calendars::release_gone(
                    &mut db,
                    c.id,
                    &k.calendar_id,
                    "the calendar no longer exists at the provider",
                    ctx.clock.now(),
                )
                .await?;
                continue;
            }
        }
        if let Err(e) = synced {
            if !matches!(
                e,
                SyncError::Connection(ConnectionError::Db(_) | ConnectionError::LeaseLost)
            ) {
                let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
                calendars::record_sync_error(&mut db, c.id, &k.calendar_id, &error_chain(&e))
                    .await?;
            }
            return Err(e);
        }
        recorded = finish.is_some();
    }
    if recorded {
        return Ok(calendars);
    }
    lease.ensure_held()?;
    let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
    connections::record_success(
        &mut db,
        c.id,
        &SyncSuccess::default(),
        ctx.clock.now(),
        next_poll_at,
    )
    .await?;
    Ok(calendars)
}

#[allow(clippy::too_many_arguments)]
async fn sync_calendar(
    ctx: &WorkerContext,
    lease: &Lease,
    claim: &Claim,
    k: &Calendar,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
    finish: Option<chrono::DateTime<chrono::Utc>>,
    tokens: &mut Tokens,
    token: &mut SecretString,
) -> Result<(), SyncError> {
    let c = &claim.connection;
    let provider = c.provider;
    let desired = TimeRange {
        start: now - Duration::days(ctx.settings.worker.window_past_days),
        end: now + Duration::days(ctx.settings.worker.window_future_days),
    };
    let mut cursor = if claim.full_resync {
        None
    } else {
        k.sync_cursor.clone()
    };
    if provider == Provider::Microsoft
        && k.sync_window_start
            .is_some_and(|s| desired.start - s > WINDOW_SLACK)
    {
        tracing::info!("moving the Graph delta window forward");
        cursor = None;
    }
    let window = SyncWindow {
        // An incremental Graph round keeps the window it started with.
        range: match (cursor.is_some(), k.sync_window_start) {
            (true, Some(start)) => TimeRange {
                start,
                end: desired.end,
            },
            _ => desired,
        },
        tz,
        policy: BusyPolicy {
            tentative_blocks: ctx.settings.availability.tentative_blocks,
        },
    };
    let mut refreshed = false;
    let batch = loop {
        ctx.metrics
            .fetches
            .with_label_values(&[provider.as_str()])
            .inc();
        match fetch(
            ctx,
            provider,
            token,
            &k.calendar_id,
            cursor.as_deref(),
            &window,
        )
        .await
        {
            Ok(b) => break b,
            Err(ConnectionError::Provider(ProviderError::Unauthorized)) if !refreshed => {
                refreshed = true;
                *token = tokens.access(ctx, lease, true).await?;
            }
            Err(ConnectionError::Provider(ProviderError::SyncStateExpired)) if cursor.is_some() => {
                tracing::info!("sync state expired; running a full sync");
                cursor = None;
            }
            Err(e) => return Err(e.into()),
        }
    };
    lease.ensure_held()?;
    let window_start = if batch.full {
        window.range.start
    } else {
        k.sync_window_start.unwrap_or(window.range.start)
    };
    let target = Target {
        connection_id: c.id,
        calendar_id: k.calendar_id.clone(),
        specialist_id: c.specialist_id,
        finish,
    };
    commit::apply(ctx, lease, &target, batch, window_start)
        .instrument(tracing::info_span!("commit"))
        .await
}

async fn fetch(
    ctx: &WorkerContext,
    provider: Provider,
    token: &SecretString,
    calendar_id: &str,
    cursor: Option<&str>,
    window: &SyncWindow,
) -> Result<SyncBatch, ConnectionError> {
    Ok(match provider {
        Provider::Google => {
            ctx.clients
                .google()?
                .sync_events(token, calendar_id, cursor, window)
                .await?
        }
        Provider::Microsoft => {
            // The primary calendar is Graph's default one: `/me/calendarView/delta`.
            let cal =
                (!calendar_id.is_empty() && calendar_id != PRIMARY_CALENDAR).then_some(calendar_id);
            ctx.clients
                .microsoft()?
                .sync_events(token, cal, cursor, window)
                .await?
        }
        Provider::Ics => {
            return Err(ConnectionError::Unsupported {
                provider,
                what: "OAuth sync",
            })
        }
    })
}
