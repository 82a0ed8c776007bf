//! The scheduler's claims on `calendar_connections`: due polls (SKIP LOCKED, never
//! twice) and webhook renewals (paced by `webhook_renew_after`).

use crate::connections::webhook;
use crate::support::{conn, connection, new_connection, specialist, test_db, within};
use calsync_db::{calendars, connections};
use chrono::{Duration, Utc};
use std::collections::HashSet;

#[tokio::test]
async fn concurrent_poll_claims_never_hand_out_the_same_connection_twice() {
    const ROWS: usize = 200;
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let mut all = HashSet::new();
    for i in 0..ROWS {
        let row = within(
            "insert",
            connections::upsert(
                &mut c,
                &new_connection(s, "ics", &format!("https://feed/{i}")),
            ),
        )
        .await
        .expect("insert");
        all.insert(row.id);
    }
    let now = Utc::now() + Duration::seconds(5);

    let claimer = |mut c: calsync_db::DbConn| async move {
        let mut got = Vec::new();
        loop {
            let batch = connections::claim_due_polls(&mut c, now, Duration::minutes(5), 17)
                .await
                .expect("claim");
            if batch.is_empty() {
                return got;
            }
            got.extend(batch);
        }
    };
    let (a, b) = within(
        "two concurrent claimers",
        futures::future::join(claimer(conn(&db).await), claimer(conn(&db).await)),
    )
    .await;

    let mut union = HashSet::new();
    for id in a.iter().chain(&b) {
        assert!(union.insert(*id), "connection {id} was claimed twice");
    }
    assert_eq!(union, all, "every due connection is claimed exactly once");
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both claimers took part: a={} b={}",
        a.len(),
        b.len()
    );
    let after = within(
        "claim again",
        connections::claim_due_polls(&mut c, now, Duration::minutes(5), 500),
    )
    .await
    .expect("claim");
    assert!(
        after.is_empty(),
        "claimed connections are pushed into the future"
    );
}

#[tokio::test]
async fn webhook_renewal_claims_wait_for_webhook_renew_after() {
    let db = test_db().await;
    let mut c = conn(&db).await;
    let s = specialist(&mut c, "agent-1").await;
    let missing = connection(&mut c, s, "google", "no-webhook").await.id;
    let fresh = connection(&mut c, s, "microsoft", "fresh").await.id;
    let ics = connection(&mut c, s, "ics", "https://feed").await.id;
    let now = Utc::now();
    within(
        "webhook",
        calendars::store_webhook(&mut c, fresh, "fresh", &webhook("sub"), now),
    )
    .await
    .expect("store");
    let renew_before = now + Duration::hours(24);
    let retry_after = now + Duration::minutes(10);

    let first = within(
        "claim",
        calendars::claim_webhook_renewals(&mut c, now, renew_before, retry_after, 10),
    )
    .await
    .expect("claim");
    assert_eq!(
        first,
        vec![missing],
        "only the push connection without a webhook is due (ics={ics})"
    );
    let soon = within(
        "claim",
        calendars::claim_webhook_renewals(
            &mut c,
            now + Duration::minutes(9),
            renew_before,
            retry_after,
            10,
        ),
    )
    .await
    .expect("claim");
    assert!(soon.is_empty(), "a claimed renewal waits until retry_after");
    let later = within(
        "claim",
        calendars::claim_webhook_renewals(
            &mut c,
            now + Duration::minutes(10),
            renew_before,
            now + Duration::minutes(20),
            10,
        ),
    )
    .await
    .expect("claim");
    assert_eq!(later, vec![missing], "after retry_after it is due again");

    within(
        "error",
        calendars::record_webhook_error(
            &mut c,
            missing,
            "no-webhook",
            "boom",
            now + Duration::hours(1),
        ),
    )
    .await
    .expect("record");
    let paused = within(
        "claim",
        calendars::claim_webhook_renewals(
            &mut c,
            now + Duration::minutes(30),
            renew_before,
            retry_after,
            10,
        ),
    )
    .await
    .expect("claim");
    assert!(
        paused.is_empty(),
        "a failed renewal is retried only after its pause"
    );

    within(
        "renewal request",
        calendars::request_webhook_renewal(&mut c, fresh, None, false),
    )
    .await
    .expect("request");
    let expiring = within(
        "claim",
        calendars::claim_webhook_renewals(&mut c, now, now + Duration::days(30), retry_after, 10),
    )
    .await
    .expect("claim");
    assert_eq!(
        expiring,
        vec![fresh],
        "a webhook expiring before renew_before is due"
    );
}
