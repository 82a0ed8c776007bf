//! Google and Microsoft syncs: both are "incremental from a stored cursor, full when
//! there is none or it expired", with one token refresh on a 401.
//!
//! Graph delta windows are fixed when a round starts, and events that enter the window
//! later raise no notification: once the stored window start is a day behind the
//! desired one, a new initial round moves the window forward.

use super::commit::{self, Target};
use super::tokens::Tokens;
use super::SyncError;
use crate::context::WorkerContext;
use calsync_core::event::BusyPolicy;
use calsync_core::{Provider, TimeRange};
use calsync_db::connections::{Claim, SyncSuccess};
use calsync_db::specialists;
use calsync_providers::{ProviderError, SyncBatch, SyncWindow};
use chrono::Duration;
use secrecy::SecretString;

/// How far the Graph delta window may lag before it is moved forward.
const WINDOW_SLACK: Duration = Duration::days(1);

pub async fn sync(ctx: &WorkerContext, claim: &Claim, provider: Provider) -> Result<(), SyncError> {
    let c = &claim.connection;
    let now = ctx.clock.now();
    let tz = {
        let mut db = ctx.pool.get().await.map_err(calsync_db::DbError::from)?;
        let s = specialists::get(&mut db, c.specialist_id).await?;
        s.time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| SyncError::Data(format!("unknown time zone {:?}", s.time_zone)))?
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

    let mut tokens = Tokens::of(c, provider);
    let mut token = tokens.access(ctx, false).await?;
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
            Err(ProviderError::Unauthorized) if !refreshed => {
                refreshed = true;
                token = tokens.access(ctx, true).await?;
            }
            Err(ProviderError::SyncStateExpired) if cursor.is_some() => {
                tracing::info!("sync state expired; running a full sync");
                cursor = None;
            }
            Err(e) => return Err(e.into()),
        }
    };
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
    commit::apply(ctx, &target, batch, success).await
}

async fn fetch(
    ctx: &WorkerContext,
    provider: Provider,
    token: &SecretString,
    calendar_id: &str,
    cursor: Option<&str>,
    window: &SyncWindow,
) -> Result<SyncBatch, ProviderError> {
    match provider {
        Provider::Google => match &ctx.google {
            Some(g) => g.sync_events(token, calendar_id, cursor, window).await,
            None => Err(ProviderError::InvalidUrl("google is not configured".into())),
        },
        Provider::Microsoft => match &ctx.microsoft {
            Some(m) => {
                let cal =
                    (!calendar_id.is_empty() && calendar_id != "primary").then_some(calendar_id);
                m.sync_events(token, cal, cursor, window).await
            }
            None => Err(ProviderError::InvalidUrl(
                "microsoft is not configured".into(),
            )),
        },
        Provider::Ics => Err(ProviderError::InvalidUrl(
            "ICS feeds are not OAuth connections".into(),
        )),
    }
}
