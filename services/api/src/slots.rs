//! Loading what availability needs for many specialists at once (one query per table,
//! whatever their number) and cutting it into slots with `calsync_core`.

use crate::error::ApiError;
use crate::freshness::{self, Freshness};
use crate::state::AppState;
use calsync_core::{
    compute_slots, to_local_rfc3339, AvailabilityQuery, SlotPolicy, TimeRange, WorkingHours,
};
use calsync_db::{appointments, connections, events, specialists, DbError};
use calsync_runtime::StalePolicy;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub duration_minutes: i64,
}

impl Request {
    /// Refuses an unusable window or duration before any query runs; `core` decides.
    pub fn validate(&self) -> Result<(), ApiError> {
        calsync_core::availability::window(self.from, self.to)?;
        calsync_core::availability::slot_duration(self.duration_minutes)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Slot {
    pub start: String,
    pub end: String,
}

/// One specialist's answer; the serialised form is the public contract.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecialistSlots {
    pub specialist_id: Uuid,
    pub slots: Vec<Slot>,
    pub calendars_fresh: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Slots of every known specialist among `ids`, in the order of `ids`; unknown ids are
/// left out.
pub async fn slots_for(
    state: &AppState,
    ids: &[Uuid],
    req: Request,
    now: DateTime<Utc>,
) -> Result<Vec<SpecialistSlots>, ApiError> {
    req.validate()?;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let people = specialists::get_many(&mut conn, ids).await?;
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let known: Vec<Uuid> = people.iter().map(|s| s.id).collect();
    let rows = specialists::working_hours_for(&mut conn, &known).await?;
    let booked = appointments::confirmed_between(&mut conn, &known, req.from, req.to).await?;
    let blocking = events::blocking_between(&mut conn, &known, req.from, req.to).await?;
    let conns = connections::for_specialists(&mut conn, &known).await?;
    drop(conn);

    let mut hours: HashMap<Uuid, Vec<WorkingHours>> = HashMap::new();
    for r in rows {
        let weekday = u8::try_from(r.weekday).unwrap_or(0);
        hours
            .entry(r.specialist_id)
            .or_default()
            .push(WorkingHours {
                weekday,
                start: r.start_time,
                end: r.end_time,
            });
    }
    let mut busy: HashMap<Uuid, Vec<TimeRange>> = HashMap::new();
    for a in booked {
        busy.entry(a.specialist_id).or_default().push(TimeRange {
            start: a.starts_at,
            end: a.ends_at,
        });
    }
    for e in blocking {
        busy.entry(e.specialist_id).or_default().push(TimeRange {
            start: e.starts_at,
            end: e.ends_at,
        });
    }
    let mut by_specialist: HashMap<Uuid, Vec<&connections::Connection>> = HashMap::new();
    for c in &conns {
        by_specialist.entry(c.specialist_id).or_default().push(c);
    }
    let a = &state.availability;
    let policy = SlotPolicy {
        duration: Duration::minutes(req.duration_minutes),
        step: Duration::minutes(a.step_minutes),
        buffer_before: Duration::minutes(a.buffer_before_minutes),
        buffer_after: Duration::minutes(a.buffer_after_minutes),
        min_notice: Duration::minutes(a.min_notice_minutes),
    };
    let stale_after = Duration::minutes(a.stale_after_minutes);
    let people: HashMap<Uuid, _> = people.into_iter().map(|s| (s.id, s)).collect();
    let mut out = Vec::with_capacity(people.len());
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let Some(s) = people.get(id) else { continue };
        if !seen.insert(*id) {
            continue;
        }
        let tz: Tz = s.time_zone.parse().map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "specialist {id} has an invalid stored time zone {:?}",
                s.time_zone
            ))
        })?;
        let Freshness { fresh, reason } = freshness::assess(
            by_specialist.get(id).into_iter().flatten().copied(),
            now,
            stale_after,
        );
        let slots = if !fresh && a.stale_policy == StalePolicy::Block {
            Vec::new()
        } else {
            let query = AvailabilityQuery {
                tz,
                hours: hours.get(id).map_or(&[][..], Vec::as_slice),
                busy: busy.get(id).map_or(&[][..], Vec::as_slice),
                window: TimeRange {
                    start: req.from,
                    end: req.to,
                },
                now,
                policy,
            };
            compute_slots(&query)?
                .into_iter()
                .map(|r| Slot {
                    start: to_local_rfc3339(r.start, tz),
                    end: to_local_rfc3339(r.end, tz),
                })
                .collect()
        };
        out.push(SpecialistSlots {
            specialist_id: *id,
            slots,
            calendars_fresh: fresh,
            reason,
        });
    }
    Ok(out)
}
