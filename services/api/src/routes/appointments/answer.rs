//! The answer of booking and cancelling: the appointment as the marketplace sees it.

use calsync_core::to_local_rfc3339;
use calsync_db::appointments::Appointment;
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentAnswer {
    pub id: Uuid,
    pub specialist_id: Uuid,
    /// In the specialist's offset at that time.
    #[schema(format = DateTime, example = "2026-03-02T10:00:00+01:00")]
    pub start: String,
    #[schema(format = DateTime, example = "2026-03-02T11:00:00+01:00")]
    pub end: String,
    /// `confirmed` or `cancelled`.
    #[schema(example = "confirmed")]
    pub status: String,
}

pub fn of(a: &Appointment, tz: Tz) -> AppointmentAnswer {
    AppointmentAnswer {
        id: a.id,
        specialist_id: a.specialist_id,
        start: to_local_rfc3339(a.starts_at, tz),
        end: to_local_rfc3339(a.ends_at, tz),
        status: a.status.clone(),
    }
}
