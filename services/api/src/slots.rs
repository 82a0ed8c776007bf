//! Availability of many specialists at once: what it is computed from is taken from the
//! cache (`crate::cache`) or read in one round trip (three pipelined statements, whatever
//! the number of specialists), then cut into slots with `calsync_core`. Booking decides
//! with the same two functions, `load` from the database under its lock and `compute`,
//! so that it accepts exactly what availability offers.

use crate::cache::{AvailabilityCache, Lookup};
use crate::error::ApiError;
use crate::freshness::{self, Freshness};
use calsync_core::{
    compute_slots, local_rfc3339, AvailabilityQuery, SlotPolicy, TimeRange, WorkingHours,
};
use calsync_db::availability::{self as reads, ConnectionHealth};
use calsync_db::AsyncPgConnection;
use calsync_runtime::settings::AvailabilitySettings;
use calsync_runtime::StalePolicy;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::sync::Arc;
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

/// What one specialist's slots are computed from.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub tz: Tz,
    pub hours: Vec<WorkingHours>,
    /// Confirmed appointments and blocking external events near the window.
    pub busy: Vec<TimeRange>,
    pub connections: Vec<ConnectionHealth>,
}

/// The window busy time must be read for: a busy interval just outside `window` still
/// removes slots inside it through the buffers.
pub fn busy_window(settings: &AvailabilitySettings, window: TimeRange) -> TimeRange {
    TimeRange {
        start: window.start - Duration::minutes(settings.buffer_after_minutes.max(0)),
        end: window.end + Duration::minutes(settings.buffer_before_minutes.max(0)),
    }
}

/// Reads the inputs of every known specialist among `ids`, busy time over `busy`, in one
/// round trip. Unknown ids are absent from the map.
pub async fn load(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    busy: TimeRange,
) -> Result<HashMap<Uuid, Inputs>, ApiError> {
    let (rows, health, busy) = futures::try_join!(
        reads::specialists_with_hours(conn, ids),
        reads::connection_health(conn, ids),
        reads::busy_between(conn, ids, busy.start, busy.end),
    )?;
    let mut out: HashMap<Uuid, Inputs> = HashMap::with_capacity(ids.len());
    for r in rows {
        let inputs = match out.entry(r.specialist_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let tz: Tz = r.time_zone.parse().map_err(|_| {
                    ApiError::Internal(anyhow::anyhow!(
                        "specialist {} has an invalid stored time zone {:?}",
                        r.specialist_id,
                        r.time_zone
                    ))
                })?;
                e.insert(Inputs {
                    tz,
                    hours: Vec::new(),
                    busy: Vec::new(),
                    connections: Vec::new(),
                })
            }
        };
        if let (Some(weekday), Some(start), Some(end)) = (r.weekday, r.start_time, r.end_time) {
            inputs.hours.push(WorkingHours {
                weekday: u8::try_from(weekday).unwrap_or(0),
                start,
                end,
            });
        }
    }
    for b in busy {
        if let Some(i) = out.get_mut(&b.specialist_id) {
            i.busy.push(TimeRange {
                start: b.starts_at,
                end: b.ends_at,
            });
        }
    }
    for c in health {
        if let Some(i) = out.get_mut(&c.specialist_id) {
            i.connections.push(c);
        }
    }
    Ok(out)
}

/// One specialist's answer.
#[derive(Debug, Clone)]
pub struct SpecialistSlots {
    pub specialist_id: Uuid,
    pub tz: Tz,
    pub slots: Vec<TimeRange>,
    pub freshness: Freshness,
}

/// The slots `inputs` offer in `window` at `now`, and whether the calendars are fresh.
pub fn compute(
    settings: &AvailabilitySettings,
    specialist_id: Uuid,
    inputs: &Inputs,
    window: TimeRange,
    duration: Duration,
    now: DateTime<Utc>,
) -> Result<SpecialistSlots, ApiError> {
    let freshness = freshness::assess(
        &inputs.connections,
        now,
        Duration::minutes(settings.stale_after_minutes),
    );
    let slots = if !freshness.fresh && settings.stale_policy == StalePolicy::Block {
        Vec::new()
    } else {
        compute_slots(&AvailabilityQuery {
            tz: inputs.tz,
            hours: &inputs.hours,
            busy: &inputs.busy,
            window,
            now,
            policy: SlotPolicy {
                duration,
                step: Duration::minutes(settings.step_minutes),
                buffer_before: Duration::minutes(settings.buffer_before_minutes),
                buffer_after: Duration::minutes(settings.buffer_after_minutes),
                min_notice: Duration::minutes(settings.min_notice_minutes),
            },
        })?
    };
    Ok(SpecialistSlots {
        specialist_id,
        tz: inputs.tz,
        slots,
        freshness,
    })
}

/// Slots of every known specialist among `ids`, in the order of `ids` (each once);
/// unknown ids are left out. Inputs come from `cache` where it holds them, the rest from
/// the database in one round trip (and into the cache).
pub async fn slots_for(
    pool: &calsync_db::DbPool,
    cache: &AvailabilityCache,
    settings: &AvailabilitySettings,
    ids: &[Uuid],
    req: Request,
    now: DateTime<Utc>,
) -> Result<Vec<SpecialistSlots>, ApiError> {
    req.validate()?;
    let window = TimeRange {
        start: req.from,
        end: req.to,
    };
    let busy = busy_window(settings, window);
    let Lookup { mut found, missing } = cache.lookup(ids, busy);
    if !missing.is_empty() {
        let ticket = cache.ticket(&missing);
        let covers = if ticket.keeps() {
            AvailabilityCache::cover(busy)
        } else {
            busy
        };
        let mut conn = pool.get().await.map_err(calsync_db::DbError::from)?;
        let read = load(&mut conn, &missing, covers).await?;
        drop(conn);
        let read: HashMap<Uuid, Arc<Inputs>> =
            read.into_iter().map(|(id, i)| (id, Arc::new(i))).collect();
        cache.store(&ticket, covers, &read);
        found.extend(read);
    }
    let duration = Duration::minutes(req.duration_minutes);
    let mut out = Vec::with_capacity(found.len());
    for id in ids {
        // Each once: removed when used.
        let Some(i) = found.remove(id) else { continue };
        out.push(compute(settings, *id, &i, window, duration, now)?);
    }
    Ok(out)
}

/// The contract's form: `{"specialistId", "slots": [{"start", "end"}], "calendarsFresh",
/// "reason"?}`, times in the specialist's offset. Written straight into the response
/// buffer: a 500-specialist grid has a quarter of a million times.
impl Serialize for SpecialistSlots {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reason = self.freshness.reason.as_deref();
        let mut m = s.serialize_map(Some(if reason.is_some() { 4 } else { 3 }))?;
        m.serialize_entry("specialistId", &self.specialist_id)?;
        m.serialize_entry(
            "slots",
            &FullSlots {
                slots: &self.slots,
                tz: self.tz,
            },
        )?;
        m.serialize_entry("calendarsFresh", &self.freshness.fresh)?;
        if let Some(r) = reason {
            m.serialize_entry("reason", r)?;
        }
        m.end()
    }
}

struct FullSlots<'a> {
    slots: &'a [TimeRange],
    tz: Tz,
}

impl Serialize for FullSlots<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.slots.len()))?;
        for r in self.slots {
            seq.serialize_element(&FullSlot { r, tz: self.tz })?;
        }
        seq.end()
    }
}

struct FullSlot<'a> {
    r: &'a TimeRange,
    tz: Tz,
}

impl Serialize for FullSlot<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("start", local_rfc3339(self.r.start, self.tz).as_str())?;
        m.serialize_entry("end", local_rfc3339(self.r.end, self.tz).as_str())?;
        m.end()
    }
}

/// The grid's compact form (`"format": "compact"`): per specialist, the slot starts as
/// whole minutes after the answer's `from`; each slot lasts the answer's `duration`.
pub struct Compact<'a> {
    pub results: &'a [SpecialistSlots],
    pub from: DateTime<Utc>,
    pub duration_minutes: i64,
}

impl Serialize for Compact<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("format", "compact")?;
        m.serialize_entry("from", &self.from.format("%Y-%m-%dT%H:%M:%SZ").to_string())?;
        m.serialize_entry("duration", &self.duration_minutes)?;
        m.serialize_entry(
            "results",
            &CompactResults {
                results: self.results,
                from: self.from,
            },
        )?;
        m.end()
    }
}

struct CompactResults<'a> {
    results: &'a [SpecialistSlots],
    from: DateTime<Utc>,
}

impl Serialize for CompactResults<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.results.len()))?;
        for r in self.results {
            seq.serialize_element(&CompactOne { r, from: self.from })?;
        }
        seq.end()
    }
}

struct CompactOne<'a> {
    r: &'a SpecialistSlots,
    from: DateTime<Utc>,
}

impl Serialize for CompactOne<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reason = self.r.freshness.reason.as_deref();
        let mut m = s.serialize_map(Some(if reason.is_some() { 5 } else { 4 }))?;
        m.serialize_entry("specialistId", &self.r.specialist_id)?;
        m.serialize_entry("timeZone", self.r.tz.name())?;
        m.serialize_entry("calendarsFresh", &self.r.freshness.fresh)?;
        if let Some(r) = reason {
            m.serialize_entry("reason", r)?;
        }
        let starts: Vec<i64> = self
            .r
            .slots
            .iter()
            .map(|slot| (slot.start - self.from).num_minutes())
            .collect();
        m.serialize_entry("starts", &starts)?;
        m.end()
    }
}

/// `t` cut to the whole minute: the origin of the compact form's minute offsets.
pub fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}
