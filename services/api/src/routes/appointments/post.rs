//! `POST /api/appointments` (marketplace token): books a slot.
//!
//! A booking is accepted only when `[start, end)` is exactly a slot that
//! `GET /api/availability` offers for that duration at that moment: working hours, the
//! grid, minimum notice, buffers, not in the past, and the stale policy all apply, since
//! both are decided by `slots::compute` over the same inputs. Otherwise it is
//! `409 slot_taken` when it overlaps a confirmed appointment or a blocking event, else
//! `422 slot_unavailable`.
//!
//! Race-freedom (invariant 5) is the database's: one transaction takes a row lock on the
//! specialist (so bookings of one specialist serialise), reads the inputs and decides
//! under it, and inserts; the exclusion constraint `appointments_no_overlap` refuses any
//! overlap with a confirmed appointment even if this code had a bug.
//!
//! Write-back: the booking's transaction also queues one `calendar_writes` create per
//! Google/Microsoft connection of the specialist (the transactional outbox).
//!
//! `Idempotency-Key`: the answer to a booking made with a key is stored with the booking,
//! in its transaction; the same key with the same request answers it again (same id), with
//! another request `422 idempotency_key_reused`. Keys live 24 hours. A refused booking
//! stores nothing, so it may be retried with the same key.

use super::answer::{self, AppointmentAnswer};
use crate::auth::MarketplaceAuth;
use crate::error::{ApiError, OrNotFound};
use crate::openapi::ErrorBody;
use crate::params;
use crate::slots;
use crate::state::AppState;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use calsync_core::TimeRange;
use calsync_db::appointments::{self, NewAppointment, STATUS_CONFIRMED};
use calsync_db::{calendar_writes, idempotency, specialists, AsyncPgConnection, DbError};
use chrono::{DateTime, Duration, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_LENGTH: Duration = Duration::hours(24);
/// How long an `Idempotency-Key` is remembered.
pub const KEY_RETENTION: Duration = Duration::hours(24);
const MAX_KEY_LEN: usize = 255;
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    #[schema(value_type = String, format = Uuid)]
    specialist_id: String,
    /// Start of the slot, RFC 3339 with an offset.
    #[schema(value_type = String, format = DateTime, example = "2026-03-02T10:00:00+01:00")]
    start: String,
    /// End of the slot: start plus the slot's duration.
    #[schema(value_type = String, format = DateTime, example = "2026-03-02T11:00:00+01:00")]
    end: String,
    /// Who booked, as the marketplace describes them (a JSON object, e.g. `{"name"}`);
    /// shown in the agent's portal.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    customer: Option<serde_json::Value>,
}

/// A booking request, checked.
struct Booking {
    specialist_id: Uuid,
    slot: TimeRange,
    customer: serde_json::Value,
}

impl Booking {
    fn parse(body: Body) -> Result<Self, ApiError> {
        let specialist_id = params::uuid(&body.specialist_id, "specialistId")?;
        let start = params::time(&body.start, "start")?;
        let end = params::time(&body.end, "end")?;
        if start >= end || end - start > MAX_LENGTH {
            return Err(ApiError::bad_request(
                "invalid_time",
                "start must be before end, and an appointment lasts at most 24 hours",
            ));
        }
        let customer = match body.customer {
            None => serde_json::json!({}),
            Some(c @ serde_json::Value::Object(_)) => c,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "customer must be a JSON object",
                ))
            }
        };
        Ok(Self {
            specialist_id,
            slot: TimeRange { start, end },
            customer,
        })
    }

    /// What "the same request" means for a key: the same specialist, the same instants
    /// (whatever offset they were written with) and the same customer object.
    fn fingerprint(&self) -> Vec<u8> {
        let canonical = serde_json::json!([
            self.specialist_id,
            self.slot.start.timestamp(),
            self.slot.end.timestamp(),
            self.customer,
        ]);
        Sha256::digest(canonical.to_string().as_bytes()).to_vec()
    }
}

/// The optional `Idempotency-Key`: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Why the transaction stopped: an answer for the client, or a lost race for the key.
enum Stop {
    Api(ApiError),
    /// Another request stored this key first; its answer is read after the rollback.
    KeyTaken,
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<DbError> for Stop {
    fn from(e: DbError) -> Self {
        Self::Api(e.into())
    }
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Self {
        Self::Api(e.into())
    }
}

/// Books a slot that availability offers now.
#[utoipa::path(
    post,
    path = "/api/appointments",
    tag = "booking",
    request_body = Body,
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "Repeats of a request with this key get its first answer again (kept 24 hours)"),
    ),
    security(("marketplace" = [])),
    responses(
        (status = 201, description = "Booked (or the first answer to this Idempotency-Key again)", body = AppointmentAnswer),
        (status = 400, description = "A malformed field or Idempotency-Key", body = ErrorBody),
        (status = 401, description = "The marketplace token is missing or wrong; nothing was done", body = ErrorBody),
        (status = 404, description = "No such specialist", body = ErrorBody),
        (status = 409, description = "`slot_taken`: the time overlaps a confirmed appointment or a blocking calendar event", body = ErrorBody),
        (status = 413, description = "The body is larger than the configured limit", body = ErrorBody),
        (status = 422, description = "`slot_unavailable`: not a slot availability offers now; `idempotency_key_reused`: the key came with another request", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn handle(
    _marketplace: MarketplaceAuth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Body>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(req.headers())?;
    let booking = Booking::parse(body.into_inner())?;
    let fingerprint = booking.fingerprint();
    let now = Utc::now();
    let live_since = now - KEY_RETENTION;
    let mut conn = state.pool.get().await.map_err(DbError::from)?;
    let settings = &state.availability;
    let outcome = conn
        .transaction::<_, Stop, _>(|c| {
            let (key, fingerprint, booking) = (&key, &fingerprint, &booking);
            async move {
                specialists::lock(c, booking.specialist_id)
                    .await
                    .or_not_found("specialist")?;
                if let Some(key) = key {
                    if let Some(first) = idempotency::find(c, key, live_since).await? {
                        return Ok(replay(first, fingerprint)?);
                    }
                }
                let answer = book(c, settings, booking, now).await?;
                if let Some(key) = key {
                    let json =
                        serde_json::to_value(&answer).map_err(|e| ApiError::Internal(e.into()))?;
                    if !idempotency::remember(c, key, fingerprint, answer.id, &json, live_since)
                        .await?
                    {
                        return Err(Stop::KeyTaken);
                    }
                }
                Ok(Answer::Booked(answer))
            }
            .scope_boxed()
        })
        .await;
    let answer = match outcome {
        Ok(a) => a,
        Err(Stop::Api(e)) => return Err(e),
        Err(Stop::KeyTaken) => {
            let first = match &key {
                Some(k) => idempotency::find(&mut conn, k, live_since).await?,
                None => None,
            };
            let first = first.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("an idempotency key vanished in a race"))
            })?;
            replay(first, &fingerprint)?
        }
    };
    Ok(match answer {
        Answer::Booked(a) => {
            // Its own notification follows; this answers the booker's next look at once.
            state.cache.invalidate(a.specialist_id);
            tracing::info!(appointment.id = %a.id, specialist.id = %a.specialist_id, "appointment booked");
            if key.is_some() {
                forget_expired(&mut conn, live_since).await;
            }
            HttpResponse::Created().json(a)
        }
        Answer::Replayed(json) => HttpResponse::Created()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(json),
    })
}

enum Answer {
    Booked(AppointmentAnswer),
    Replayed(serde_json::Value),
}

/// The first answer again, if this is the same request.
fn replay(first: idempotency::Remembered, fingerprint: &[u8]) -> Result<Answer, ApiError> {
    if first.request_sha256 != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(Answer::Replayed(first.response))
}

/// Decides under the specialist's lock and inserts.
async fn book(
    c: &mut AsyncPgConnection,
    settings: &calsync_runtime::settings::AvailabilitySettings,
    booking: &Booking,
    now: DateTime<Utc>,
) -> Result<AppointmentAnswer, Stop> {
    let id = booking.specialist_id;
    let slot = booking.slot;
    let mut inputs = slots::load(c, &[id], slots::busy_window(settings, slot)).await?;
    let inputs = inputs
        .remove(&id)
        .ok_or(ApiError::NotFound { what: "specialist" })?;
    let whole_minutes = (slot.end - slot.start).num_seconds() % 60 == 0;
    let offered = whole_minutes
        && slots::compute(settings, id, &inputs, slot, slot.end - slot.start, now)?
            .slots
            .contains(&slot);
    if !offered {
        let overlaps = inputs
            .busy
            .iter()
            .any(|b| b.start < slot.end && slot.start < b.end);
        return Err(Stop::Api(if overlaps {
            ApiError::SlotTaken
        } else {
            ApiError::SlotUnavailable
        }));
    }
    let booked = appointments::insert(
        c,
        &NewAppointment {
            id: Uuid::new_v4(),
            specialist_id: id,
            starts_at: slot.start,
            ends_at: slot.end,
            status: STATUS_CONFIRMED.to_owned(),
            customer: booking.customer.clone(),
        },
    )
    .await?;
    // The outbox rows commit with the booking; sync-worker writes the events later, so
    // a provider outage never fails or delays the booking.
    calendar_writes::enqueue_creates(c, booked.id, id, now).await?;
    Ok(answer::of(&booked, inputs.tz))
}

/// Expired keys go with the next booking that uses one; a failure only waits for the
/// next.
async fn forget_expired(conn: &mut AsyncPgConnection, live_since: DateTime<Utc>) {
    if let Err(e) = idempotency::delete_expired(conn, live_since).await {
        tracing::warn!(error.message = %e, "expired idempotency keys not deleted");
    }
}
