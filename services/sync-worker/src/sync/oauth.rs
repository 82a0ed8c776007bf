//! Google and Microsoft syncs: both are "incremental from a stored cursor, full when
//! there is none or it expired", with one token refresh on a 401.
//!
//! Graph delta windows are fixed when a round starts, and events that enter the window
//! later raise no notification: once the stored window start is a day behind the
//! desired one, a new initial round moves the window forward.

use super::commit::{self, Target};
use super::SyncError;
use crate::context::WorkerContext;
use calsync_connections::{ConnectionError, Lease, Tokens};
use calsync_core::event::BusyPolicy;
use calsync_core::{Provider, TimeRange};
use calsync_db::connections::{Claim, SyncSuccess};
use calsync_db::specialists;
use calsync_providers::{ProviderError, SyncBatch, SyncWindow};
use chrono::Duration;
use secrecy::SecretString;

/// How far the Graph delta window may lag before it is moved forward.
const WINDOW_SLACK: Duration = Duration::days(1);

pub async fn sync(ctx: &WorkerContext, lease: &Lease, claim: &Claim) -> Result<(), SyncError> {
    let c = &claim.connection;
    let provider = c.provider;
    let now = ctx.clock.now();
    let tz = {
        let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
        let s = specialists::get(&mut db, c.specialist_id).await?;
        s.time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| SyncError::UnknownZone(s.time_zone.clone()))?
    };
    let desired = TimeRange {
        start: now - Duration::days(ctx.settings.worker.window_past_days),
        end: now + Duration::days(ctx.settings.worker.window_future_days),
    };
    let mut cursor = if claim.full_resync {
        None
    } else {
        c.sync_cursor.clone()
    };
    if provider == Provider::Microsoft
        && c.sync_window_start
            .is_some_and(|s| desired.start - s > WINDOW_SLACK)
    {
        tracing::info!("moving the Graph delta window forward");
        cursor = None;
    }
    let window = SyncWindow {
        // An incremental Graph round keeps the window it started with.
        range: match (cursor.is_some(), c.sync_window_start) {
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

    let mut tokens = Tokens::of(c);
    let mut token = tokens.access(ctx, lease, false).await?;
    let mut refreshed = false;
    let batch = loop {
        ctx.metrics
            .fetches
            .with_label_values(&[provider.as_str()])
            .inc();
        match fetch(
            ctx,
            provider,
            &token,
            &c.external_calendar_id,
            cursor.as_deref(),
            &window,
        )
        .await
        {
            Ok(b) => break b,
            Err(ConnectionError::Provider(ProviderError::Unauthorized)) if !refreshed => {
                refreshed = true;
                token = tokens.access(ctx, lease, true).await?;
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
        c.sync_window_start.unwrap_or(window.range.start)
    };
    let success = SyncSuccess {
        cursor: Some(batch.next_cursor.clone()),
        window_start: Some(window_start),
        ..SyncSuccess::default()
    };
    let target = Target {
        connection_id: c.id,
        specialist_id: c.specialist_id,
        next_poll_at: ctx.next_poll_at(provider, now),
    };
    commit::apply(ctx, lease, &target, batch, success).await
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
            let cal = (!calendar_id.is_empty() && calendar_id != "primary").then_some(calendar_id);
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
