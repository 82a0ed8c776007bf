//! The exclusion constraint `appointments_no_overlap`: confirmed appointments of one
//! specialist never overlap; everything else may.

use crate::support::{conn, specialist, test_db, within};
use calsync_db::appointments::{self, NewAppointment, STATUS_CANCELLED, STATUS_CONFIRMED};
use calsync_db::error::APPOINTMENTS_NO_OVERLAP;
use calsync_db::{DbConn, DbError};
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 4, hour, minute, 0)
        .single()
        .expect("valid time")
}

async fn book(
    c: &mut DbConn,
    specialist_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    status: &str,
) -> Result<appointments::Appointment, DbError> {
    let new = NewAppointment {
        id: Uuid::new_v4(),
        specialist_id,
        starts_at: from,
        ends_at: to,
        status: status.to_owned(),
        customer: serde_json::json!({"name": "Customer"}),
    };
    within("inserting an appointment", appointments::insert(c, &new)).await
}

#[tokio::test]
async fn an_overlapping_confirmed_appointment_of_the_same_specialist_is_refused() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    book(&mut c, s, at(10, 0), at(11, 0), STATUS_CONFIRMED)
        .await
        .expect("first booking");

    for (from, to) in [
        (at(10, 30), at(11, 30)),
        (at(9, 0), at(10, 1)),
        (at(10, 15), at(10, 45)),
        (at(9, 0), at(12, 0)),
    ] {
        let err = book(&mut c, s, from, to, STATUS_CONFIRMED)
            .await
            .expect_err("an overlapping confirmed booking must be refused");
        assert!(
            err.is_constraint(APPOINTMENTS_NO_OVERLAP),
            "expected a conflict on {APPOINTMENTS_NO_OVERLAP}, got {err:?}"
        );
    }
    let stored = within(
        "listing",
        appointments::confirmed_between(&mut c, &[s], at(0, 0), at(23, 0)),
    )
    .await
    .expect("list");
    assert_eq!(stored.len(), 1, "refused bookings leave nothing behind");
}

#[tokio::test]
async fn back_to_back_cancelled_and_other_specialists_appointments_are_accepted() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let other = specialist(&mut c, "agent-2").await;
    book(&mut c, s, at(10, 0), at(11, 0), STATUS_CONFIRMED)
        .await
        .expect("first booking");

    book(&mut c, s, at(11, 0), at(12, 0), STATUS_CONFIRMED)
        .await
        .expect("right after is free");
    book(&mut c, s, at(9, 0), at(10, 0), STATUS_CONFIRMED)
        .await
        .expect("right before is free");
    book(&mut c, s, at(10, 30), at(11, 30), STATUS_CANCELLED)
        .await
        .expect("a cancelled appointment may overlap");
    book(&mut c, s, at(10, 0), at(11, 0), STATUS_CANCELLED)
        .await
        .expect("cancelled appointments may overlap each other too");
    book(&mut c, other, at(10, 0), at(11, 0), STATUS_CONFIRMED)
        .await
        .expect("another specialist's slot is independent");

    let mine = within(
        "listing",
        appointments::confirmed_between(&mut c, &[s], at(0, 0), at(23, 0)),
    )
    .await
    .expect("list");
    assert_eq!(mine.len(), 3);
    let portal = within(
        "portal",
        appointments::for_portal(&mut c, s, at(0, 0), at(23, 0)),
    )
    .await
    .expect("portal");
    assert_eq!(portal.len(), 5, "the portal shows cancelled ones as well");
}

#[tokio::test]
async fn a_check_constraint_violation_is_a_named_conflict_too() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let err = book(&mut c, s, at(11, 0), at(10, 0), STATUS_CONFIRMED)
        .await
        .expect_err("ends before it starts");
    assert!(err.is_constraint("appointments_order_check"), "got {err:?}");
    assert!(!err.is_constraint(APPOINTMENTS_NO_OVERLAP));
}
