//! ICS feed sync: a conditional GET through the SSRF-guarded fetcher, then (on 200) an
//! RFC 5545 expansion in the specialist's zone that replaces the connection's instances
//! inside the window in one transaction, together with the new validators.
//!
//! The feed's REFRESH-INTERVAL / X-PUBLISHED-TTL is stored for `calsync status` but
//! never moves the next poll: that stays at the configured interval.
//!
//! A 304 is a success that keeps the stored instances. A failed fetch or a feed that is
//! not iCalendar is an error recorded by `sync::run`; stored instances stay, so a broken
//! feed never empties a calendar.

use super::SyncError;
use crate::context::WorkerContext;
use calsync_connections::Lease;
use calsync_core::{ExternalEvent, Provider};
use calsync_db::connections::{self, Claim, Connection, SyncSuccess};
use calsync_db::{events, specialists, DbError};
use calsync_ical::{BusyInstance, Expansion, Limits, Window};
use calsync_providers::ics::{FetchOutcome, Validators};
use chrono::{DateTime, Duration, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use std::collections::HashMap;

/// The window only moves forward with a full fetch (a 304 says nothing about instances
/// that entered it since); once the stored window start lags by this much, the next
/// poll fetches unconditionally.
const WINDOW_SLACK: Duration = Duration::days(1);
/// Expansion warnings logged one by one; the rest are counted.
const WARNINGS_LOGGED: usize = 5;

pub async fn sync(ctx: &WorkerContext, lease: &Lease, claim: &Claim) -> Result<(), SyncError> {
    let c = &claim.connection;
    let now = ctx.clock.now();
    let window = Window {
        from: now - Duration::days(ctx.settings.worker.window_past_days),
        to: now + Duration::days(ctx.settings.worker.window_future_days),
    };
    let window_moved = c
        .sync_window_start
        .is_none_or(|s| window.from - s > WINDOW_SLACK);
    let validators = if claim.full_resync || window_moved {
        Validators::default()
    } else {
        Validators {
            etag: c.ics_etag.clone(),
            last_modified: c.ics_last_modified.clone(),
        }
    };
    ctx.metrics
        .fetches
        .with_label_values(&[Provider::Ics.as_str()])
        .inc();
    let outcome = ctx
        .ics
        .fetch(&c.external_calendar_id, &validators)
        .await
        .map_err(SyncError::Fetch)?;
    let next_poll_at = ctx.next_poll_at(Provider::Ics, now);
    let (body, etag, last_modified) = match outcome {
        FetchOutcome::NotModified => {
            tracing::debug!("feed not modified");
            let success = SyncSuccess {
                window_start: c.sync_window_start,
                ics_etag: c.ics_etag.clone(),
                ics_last_modified: c.ics_last_modified.clone(),
                ics_body_sha256: c.ics_body_sha256.clone(),
                ics_refresh_interval_secs: c.ics_refresh_interval_secs,
            };
            lease.ensure_held()?;
            let mut db = ctx.pool.get().await.map_err(DbError::from)?;
            connections::record_success(&mut db, c.id, &success, now, next_poll_at).await?;
            return Ok(());
        }
        FetchOutcome::Fetched {
            body,
            etag,
            last_modified,
        } => (body, etag, last_modified),
    };
    // Many feed servers ignore conditional GET and send the same body every time: at
    // 100,000 feeds that is most of the work. An unchanged body is a 304 in all but name.
    let digest = body_digest(body.as_bytes());
    if unchanged(
        c.ics_body_sha256.as_deref(),
        &digest,
        claim.full_resync || window_moved,
    ) {
        tracing::debug!("feed body unchanged; nothing parsed or written");
        let success = SyncSuccess {
            window_start: c.sync_window_start,
            ics_etag: etag,
            ics_last_modified: last_modified,
            ics_body_sha256: Some(digest),
            ics_refresh_interval_secs: c.ics_refresh_interval_secs,
        };
        lease.ensure_held()?;
        let mut db = ctx.pool.get().await.map_err(DbError::from)?;
        connections::record_success(&mut db, c.id, &success, now, next_poll_at).await?;
        return Ok(());
    }

    let tz = specialist_zone(ctx, c).await?;
    let limits = Limits {
        max_bytes: usize::try_from(ctx.settings.ics.max_bytes).unwrap_or(usize::MAX),
        ..Limits::default()
    };
    // Expansion is CPU-bound (a large feed takes tens of milliseconds or more): keep it
    // off the async workers that serve the consumer and the health endpoints.
    let expansion =
        tokio::task::spawn_blocking(move || calsync_ical::expand(&body, window, tz, &limits))
            .await
            .map_err(SyncError::Parser)?
            .map_err(SyncError::Parse)?;
    log_warnings(&expansion);
    let refresh_hint = expansion.refresh_interval.map(hint_secs);

    let instances = to_events(expansion.instances);
    let keep: Vec<String> = instances
        .iter()
        .map(|e| e.provider_event_id.clone())
        .collect();
    let success = SyncSuccess {
        window_start: Some(window.from),
        ics_etag: etag,
        ics_last_modified: last_modified,
        ics_body_sha256: Some(digest),
        ics_refresh_interval_secs: refresh_hint,
    };
    let (id, specialist, stored) = (c.id, c.specialist_id, keep.len());
    let (instances, keep, success) = (&instances, &keep, &success);
    lease.ensure_held()?;
    let mut db = ctx.pool.get().await.map_err(DbError::from)?;
    let removed = db
        .transaction::<_, DbError, _>(|tx| {
            async move {
                events::upsert(tx, id, specialist, instances).await?;
                let removed =
                    events::retain_only_in_window(tx, id, window.from, window.to, keep).await?;
                connections::record_success(tx, id, success, now, next_poll_at).await?;
                Ok(removed)
            }
            .scope_boxed()
        })
        .await?;
    tracing::info!(instances = stored, removed, "feed expanded and stored");
    Ok(())
}

async fn specialist_zone(ctx: &WorkerContext, c: &Connection) -> Result<chrono_tz::Tz, SyncError> {
    let mut db = ctx.pool.get().await.map_err(DbError::from)?;
    let s = specialists::get(&mut db, c.specialist_id).await?;
    calsync_ical::parse_zone(&s.time_zone)
        .ok_or_else(|| SyncError::UnknownZone(s.time_zone.clone()))
}

/// The feed's refresh hint as stored: whole seconds, a hint beyond the column's range
/// (68 years) kept as its largest value. Only shown; polling keeps the configured interval.
fn hint_secs(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

fn body_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body))
}

/// Whether a fetched body may be skipped: the same bytes were expanded last time, and
/// no full resync or window move asks for a fresh expansion.
fn unchanged(stored: Option<&str>, digest: &str, forced: bool) -> bool {
    !forced && stored == Some(digest)
}

fn log_warnings(expansion: &Expansion) {
    for w in expansion.warnings.iter().take(WARNINGS_LOGGED) {
        tracing::warn!(warning = %w, "feed expansion");
    }
    if expansion.warnings.len() > WARNINGS_LOGGED {
        tracing::warn!(
            more = expansion.warnings.len() - WARNINGS_LOGGED,
            "further feed expansion warnings"
        );
    }
}

/// Maps instances to stored events. An instance id can repeat (the same UID published
/// twice, in two VCALENDARs): the last one wins, as one INSERT … ON CONFLICT cannot
/// touch a row twice.
fn to_events(instances: Vec<BusyInstance>) -> Vec<ExternalEvent> {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(instances.len());
    let mut out: Vec<ExternalEvent> = Vec::with_capacity(instances.len());
    for i in instances {
        let event = ExternalEvent {
            provider_event_id: i.instance_id,
            ical_uid: Some(i.uid),
            starts_at: i.start,
            ends_at: i.end,
            all_day: i.all_day,
            status: i.status,
            blocks: i.blocks,
            is_soradin_created: false,
            appointment_id: None,
            title: i.summary,
            provider_updated_at: None::<DateTime<Utc>>,
        };
        match index.get(&event.provider_event_id) {
            Some(&at) => out[at] = event,
            None => {
                index.insert(event.provider_event_id.clone(), out.len());
                out.push(event);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use calsync_core::EventStatus;

    fn instance(id: &str, hour: u32) -> BusyInstance {
        use chrono::TimeZone;
        let start = Utc
            .with_ymd_and_hms(2026, 3, 2, hour, 0, 0)
            .single()
            .unwrap_or_default();
        BusyInstance {
            uid: "u1".into(),
            instance_id: id.into(),
            start,
            end: start + Duration::hours(1),
            all_day: false,
            summary: Some("Dentist".into()),
            status: EventStatus::Tentative,
            blocks: true,
        }
    }

    #[test]
    fn the_same_body_is_skipped_unless_a_full_expansion_is_due() {
        let d = body_digest(b"BEGIN:VCALENDAR");
        assert_eq!(d.len(), 64);
        assert!(unchanged(Some(&d), &d, false));
        assert!(
            !unchanged(Some(&d), &d, true),
            "a full resync expands anyway"
        );
        assert!(!unchanged(None, &d, false), "a first fetch expands");
        assert!(!unchanged(Some(&d), &body_digest(b"other"), false));
    }

    #[test]
    fn instances_map_to_events_keyed_by_instance_id_with_the_last_duplicate_winning() {
        let events = to_events(vec![instance("a", 9), instance("b", 10), instance("a", 11)]);
        let ids: Vec<_> = events
            .iter()
            .map(|e| e.provider_event_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(events[0].starts_at.format("%H").to_string(), "11");
        assert_eq!(events[0].ical_uid.as_deref(), Some("u1"));
        assert_eq!(events[0].title.as_deref(), Some("Dentist"));
        assert_eq!(events[0].status, EventStatus::Tentative);
        assert!(events[0].blocks && !events[0].is_soradin_created);
    }
}
