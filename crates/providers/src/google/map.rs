//! Google event (wire) → `SyncChange`, reading the facts and applying the rules of
//! `calsync_core::busy`.

use super::wire::{Event, EventTime};
use super::APPOINTMENT_PROPERTY;
use crate::sync::SyncChange;
use calsync_core::busy::{
    all_day_range, google_disposition, Disposition, GoogleEventType, GoogleFacts, SelfResponse,
};
use calsync_core::event::BusyPolicy;
use calsync_core::{AppointmentId, EventStatus, ExternalEvent, TimeRange};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The change one event stands for; `None` (logged) when an event to keep has no usable
/// start or end, which a well-formed answer never has.
pub fn map_event(ev: &Event, tz: Tz, policy: BusyPolicy) -> Option<SyncChange> {
    let appointment_id = appointment_id(ev);
    let facts = GoogleFacts {
        status: match ev.status.as_deref() {
            Some("cancelled") => EventStatus::Cancelled,
            Some("tentative") => EventStatus::Tentative,
            _ => EventStatus::Confirmed,
        },
        transparent: ev.transparency.as_deref() == Some("transparent"),
        self_response: self_response(ev),
        event_type: event_type(ev.event_type.as_deref()),
        soradin_created: appointment_id.is_some(),
    };
    let (blocks, status) = match google_disposition(&facts, policy) {
        Disposition::Remove => {
            return Some(SyncChange::Remove {
                provider_event_id: ev.id.clone(),
            })
        }
        Disposition::Keep { blocks, status } => (blocks, status),
    };
    let Some((range, all_day)) = times(ev, tz) else {
        tracing::warn!(event.id = %ev.id, "google event without usable start/end skipped");
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
        title: ev.summary.clone(),
        provider_updated_at: ev.updated.as_deref().and_then(parse_rfc3339),
    }))
}

fn appointment_id(ev: &Event) -> Option<AppointmentId> {
    let raw = ev
        .extended_properties
        .as_ref()?
        .private
        .get(APPOINTMENT_PROPERTY)?;
    match raw.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            tracing::warn!(event.id = %ev.id, "calsyncAppointmentId is not a uuid; treated as foreign");
            None
        }
    }
}

fn self_response(ev: &Event) -> SelfResponse {
    let Some(me) = ev.attendees.iter().find(|a| a.is_self) else {
        return SelfResponse::NotInvited;
    };
    match me.response_status.as_deref() {
        Some("declined") => SelfResponse::Declined,
        Some("tentative") => SelfResponse::Tentative,
        Some("accepted") => SelfResponse::Accepted,
        Some("needsAction") => SelfResponse::NeedsAction,
        _ => SelfResponse::NotInvited,
    }
}

fn event_type(raw: Option<&str>) -> GoogleEventType {
    match raw {
        None | Some("default") => GoogleEventType::Default,
        Some("outOfOffice") => GoogleEventType::OutOfOffice,
        Some("focusTime") => GoogleEventType::FocusTime,
        Some("workingLocation") => GoogleEventType::WorkingLocation,
        Some("fromGmail") => GoogleEventType::FromGmail,
        Some("birthday") => GoogleEventType::Birthday,
        Some(_) => GoogleEventType::Other,
    }
}

/// The UTC range and whether it is all-day. All-day dates become local days of `tz`
/// (the specialist's zone, not the calendar's: availability is computed in it).
fn times(ev: &Event, tz: Tz) -> Option<(TimeRange, bool)> {
    let (start, end) = (ev.start.as_ref()?, ev.end.as_ref()?);
    if let (Some(s), Some(e)) = (start.date.as_deref(), end.date.as_deref()) {
        let s = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let e = NaiveDate::parse_from_str(e, "%Y-%m-%d").ok()?;
        return Some((all_day_range(s, e, tz), true));
    }
    let s = instant(start, tz)?;
    let e = instant(end, tz)?;
    // A reversed range from a broken client is stored as a point, which blocks nothing.
    Some((
        TimeRange {
            start: s,
            end: e.max(s),
        },
        false,
    ))
}

fn instant(t: &EventTime, fallback: Tz) -> Option<DateTime<Utc>> {
    let raw = t.date_time.as_deref()?;
    if let Some(dt) = parse_rfc3339(raw) {
        return Some(dt);
    }
    // No offset: local time in the event's own zone (Google requires one then).
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let zone = t
        .time_zone
        .as_deref()
        .and_then(|z| z.parse::<Tz>().ok())
        .unwrap_or(fallback);
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> SyncChange {
        let ev: Event = serde_json::from_value(v).unwrap();
        map_event(&ev, chrono_tz::Europe::Berlin, BusyPolicy::default()).unwrap()
    }

    fn upsert(c: SyncChange) -> ExternalEvent {
        match c {
            SyncChange::Upsert(e) => e,
            other => panic!("expected upsert, got {other:?}"),
        }
    }

    #[test]
    fn a_timed_event_maps_to_its_utc_range_with_title_and_updated() {
        let e = upsert(map(json!({
            "id": "e1", "status": "confirmed", "summary": "Dentist", "iCalUID": "u@google.com",
            "updated": "2026-01-02T10:00:00.000Z",
            "start": {"dateTime": "2026-01-05T10:00:00+01:00"}, "end": {"dateTime": "2026-01-05T11:00:00+01:00"}
        })));
        assert_eq!(
            e.starts_at,
            Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
        );
        assert_eq!(
            e.ends_at,
            Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
        );
        assert_eq!(e.title.as_deref(), Some("Dentist"));
        assert_eq!(e.ical_uid.as_deref(), Some("u@google.com"));
        assert_eq!(
            e.provider_updated_at,
            Some(Utc.with_ymd_and_hms(2026, 1, 2, 10, 0, 0).unwrap())
        );
        assert!(e.blocks && !e.all_day);
    }

    #[test]
    fn a_cancelled_stub_maps_to_a_removal() {
        assert_eq!(
            map(json!({"id": "x_20260105", "status": "cancelled"})),
            SyncChange::Remove {
                provider_event_id: "x_20260105".into()
            }
        );
    }

    #[test]
    fn an_all_day_event_covers_local_days_in_the_specialists_zone() {
        let e = upsert(map(
            json!({"id": "a", "start": {"date": "2026-01-05"}, "end": {"date": "2026-01-06"}}),
        ));
        assert!(e.all_day);
        assert_eq!(
            e.starts_at,
            Utc.with_ymd_and_hms(2026, 1, 4, 23, 0, 0).unwrap()
        );
        assert_eq!(
            e.ends_at,
            Utc.with_ymd_and_hms(2026, 1, 5, 23, 0, 0).unwrap()
        );
    }

    #[test]
    fn our_booking_mirror_is_recognised_by_its_private_property() {
        let id = uuid::Uuid::new_v4();
        let e = upsert(map(json!({
            "id": "b", "start": {"dateTime": "2026-01-05T10:00:00Z"}, "end": {"dateTime": "2026-01-05T11:00:00Z"},
            "extendedProperties": {"private": {"calsyncAppointmentId": id.to_string()}}
        })));
        assert!(e.is_soradin_created);
        assert_eq!(e.appointment_id, Some(AppointmentId(id)));
        assert!(!e.blocks);
    }

    #[test]
    fn the_self_attendees_decline_and_tentative_answers_are_read() {
        let declined = upsert(map(json!({
            "id": "d", "start": {"dateTime": "2026-01-05T10:00:00Z"}, "end": {"dateTime": "2026-01-05T11:00:00Z"},
            "attendees": [{"email": "o@x", "responseStatus": "accepted"}, {"email": "me@x", "self": true, "responseStatus": "declined"}]
        })));
        assert!(!declined.blocks);
        let tentative = upsert(map(json!({
            "id": "t", "start": {"dateTime": "2026-01-05T10:00:00Z"}, "end": {"dateTime": "2026-01-05T11:00:00Z"},
            "attendees": [{"email": "me@x", "self": true, "responseStatus": "tentative"}]
        })));
        assert!(tentative.blocks);
        assert_eq!(tentative.status, EventStatus::Tentative);
    }

    #[test]
    fn a_local_time_without_offset_is_read_in_its_time_zone() {
        let e = upsert(map(json!({
            "id": "z", "start": {"dateTime": "2026-07-01T09:00:00", "timeZone": "America/New_York"},
            "end": {"dateTime": "2026-07-01T10:00:00", "timeZone": "America/New_York"}
        })));
        assert_eq!(
            e.starts_at,
            Utc.with_ymd_and_hms(2026, 7, 1, 13, 0, 0).unwrap()
        );
    }
}
