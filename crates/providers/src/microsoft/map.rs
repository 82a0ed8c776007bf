//! Graph event (wire) → `SyncChange`, reading the facts and applying the rules of
//! `calsync_core::busy`. Times are asked for in UTC (`Prefer: outlook.timezone="UTC"`).

use super::wire::{DateTimeTimeZone, Event};
use super::APPOINTMENT_PROPERTY_ID;
use crate::sync::SyncChange;
use calsync_core::busy::{
    all_day_range, graph_disposition, Disposition, GraphFacts, SelfResponse, ShowAs,
};
use calsync_core::event::BusyPolicy;
use calsync_core::{AppointmentId, ExternalEvent, TimeRange};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The change one delta item stands for; `None` (logged) when an item to keep has no
/// usable start or end.
pub fn map_event(ev: &Event, tz: Tz, policy: BusyPolicy) -> Option<SyncChange> {
    if ev.removed.is_some() {
        return Some(SyncChange::Remove {
            provider_event_id: ev.id.clone(),
        });
    }
    let appointment_id = appointment_id(ev);
    let facts = GraphFacts {
        is_cancelled: ev.is_cancelled.unwrap_or(false),
        show_as: show_as(ev.show_as.as_deref()),
        self_response: match ev
            .response_status
            .as_ref()
            .and_then(|r| r.response.as_deref())
        {
            Some("declined") => SelfResponse::Declined,
            Some("tentativelyAccepted") => SelfResponse::Tentative,
            Some("accepted") => SelfResponse::Accepted,
            Some("notResponded") => SelfResponse::NeedsAction,
            _ => SelfResponse::NotInvited,
        },
        soradin_created: appointment_id.is_some(),
    };
    let (blocks, status) = match graph_disposition(&facts, policy) {
        Disposition::Remove => {
            return Some(SyncChange::Remove {
                provider_event_id: ev.id.clone(),
            })
        }
        Disposition::Keep { blocks, status } => (blocks, status),
    };
    let all_day = ev.is_all_day.unwrap_or(false);
    let range = match (ev.start.as_ref(), ev.end.as_ref()) {
        (Some(s), Some(e)) if all_day => all_day_from(s, e, tz),
        (Some(s), Some(e)) => instant(s).zip(instant(e)).map(|(s, e)| TimeRange {
            start: s,
            end: e.max(s),
        }),
        _ => None,
    };
    let Some(range) = range else {
        tracing::warn!(event.id = %ev.id, "graph event without usable start/end skipped");
        return None;
    };
    Some(SyncChange::Upsert(ExternalEvent {
        provider_event_id: ev.id.clone(),
        ical_uid: ev.ical_uid.clone(),
        starts_at: range.start,
        ends_at: range.end,
        all_day,
        status,
        blocks,
        is_soradin_created: appointment_id.is_some(),
        appointment_id,
        title: ev.subject.clone(),
        provider_updated_at: ev
            .last_modified_date_time
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc)),
    }))
}

fn show_as(raw: Option<&str>) -> ShowAs {
    match raw {
        Some("free") => ShowAs::Free,
        Some("tentative") => ShowAs::Tentative,
        Some("busy") => ShowAs::Busy,
        Some("oof") => ShowAs::Oof,
        Some("workingElsewhere") => ShowAs::WorkingElsewhere,
        _ => ShowAs::Unknown,
    }
}

fn appointment_id(ev: &Event) -> Option<AppointmentId> {
    let props = ev.single_value_extended_properties.as_ref()?;
    let p = props
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(APPOINTMENT_PROPERTY_ID))?;
    p.value.as_deref()?.parse().ok()
}

/// All-day events are floating midnights; their date part names the local days, which
/// become days of the specialist's zone.
fn all_day_from(s: &DateTimeTimeZone, e: &DateTimeTimeZone, tz: Tz) -> Option<TimeRange> {
    let s = naive(&s.date_time)?.date();
    let e = naive(&e.date_time)?.date();
    Some(all_day_range(s, e, tz))
}

/// `2026-01-05T15:00:00.0000000` in `timeZone` (UTC when we asked; an IANA name is
/// honoured should the preference be ignored; anything else is read as UTC, logged).
pub fn instant(t: &DateTimeTimeZone) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(&t.date_time) {
        return Some(d.with_timezone(&Utc));
    }
    let n = naive(&t.date_time)?;
    match t.time_zone.as_deref() {
        None | Some("UTC") | Some("Etc/UTC") | Some("tzone://Microsoft/Utc") => {
            Some(Utc.from_utc_datetime(&n))
        }
        Some(z) => match z.parse::<Tz>() {
            Ok(zone) => zone
                .from_local_datetime(&n)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
            Err(_) => {
                tracing::warn!(
                    time_zone = z,
                    "unexpected Graph time zone; reading the time as UTC"
                );
                Some(Utc.from_utc_datetime(&n))
            }
        },
    }
}

fn naive(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use calsync_core::EventStatus;
    use serde_json::json;

    fn map(v: serde_json::Value) -> SyncChange {
        let ev: Event = serde_json::from_value(v).unwrap();
        map_event(&ev, chrono_tz::America::New_York, BusyPolicy::default()).unwrap()
    }

    fn upsert(c: SyncChange) -> ExternalEvent {
        match c {
            SyncChange::Upsert(e) => e,
            other => panic!("expected upsert, got {other:?}"),
        }
    }

    fn base(extra: serde_json::Value) -> serde_json::Value {
        let mut v = json!({
            "id": "m1", "subject": "Sync", "showAs": "busy", "isAllDay": false, "isCancelled": false,
            "start": {"dateTime": "2026-01-05T15:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-05T15:30:00.0000000", "timeZone": "UTC"},
            "lastModifiedDateTime": "2026-01-02T08:00:00Z"
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    }

    #[test]
    fn utc_times_without_offset_are_read_as_utc() {
        let e = upsert(map(base(json!({}))));
        assert_eq!(
            e.starts_at,
            Utc.with_ymd_and_hms(2026, 1, 5, 15, 0, 0).unwrap()
        );
        assert_eq!(
            e.ends_at,
            Utc.with_ymd_and_hms(2026, 1, 5, 15, 30, 0).unwrap()
        );
        assert_eq!(e.title.as_deref(), Some("Sync"));
        assert!(e.blocks);
        assert_eq!(
            e.provider_updated_at,
            Some(Utc.with_ymd_and_hms(2026, 1, 2, 8, 0, 0).unwrap())
        );
    }

    #[test]
    fn removed_and_cancelled_items_are_removals() {
        assert!(matches!(
            map(json!({"id": "r", "@removed": {"reason": "deleted"}})),
            SyncChange::Remove { .. }
        ));
        assert!(matches!(
            map(base(json!({"isCancelled": true}))),
            SyncChange::Remove { .. }
        ));
    }

    #[test]
    fn free_and_declined_events_do_not_block() {
        assert!(!upsert(map(base(json!({"showAs": "free"})))).blocks);
        assert!(
            !upsert(map(base(
                json!({"responseStatus": {"response": "declined"}})
            )))
            .blocks
        );
        let t = upsert(map(base(json!({"showAs": "tentative"}))));
        assert!(t.blocks);
        assert_eq!(t.status, EventStatus::Tentative);
    }

    #[test]
    fn an_all_day_event_covers_the_specialists_local_day() {
        let e = upsert(map(base(json!({
            "isAllDay": true,
            "start": {"dateTime": "2026-01-05T00:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-06T00:00:00.0000000", "timeZone": "UTC"}
        }))));
        assert!(e.all_day);
        assert_eq!(
            e.starts_at,
            Utc.with_ymd_and_hms(2026, 1, 5, 5, 0, 0).unwrap()
        );
        assert_eq!(
            e.ends_at,
            Utc.with_ymd_and_hms(2026, 1, 6, 5, 0, 0).unwrap()
        );
    }

    #[test]
    fn our_booking_mirror_is_recognised_by_its_extended_property() {
        let id = uuid::Uuid::new_v4();
        let e = upsert(map(base(json!({
            "singleValueExtendedProperties": [{"id": APPOINTMENT_PROPERTY_ID, "value": id.to_string()}]
        }))));
        assert!(e.is_soradin_created);
        assert_eq!(e.appointment_id, Some(AppointmentId(id)));
    }
}
