//! Scheduler replicas coordinate through PostgreSQL alone: run side by side on one
//! database, they never claim the same poll or renewal twice. Also the gauges the
//! scheduler refreshes (webhooks by state, queue depth).

use crate::support::{connect, specialist, World};
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::scheduler::Scheduler;
use chrono::{Duration, Utc};
use std::collections::HashSet;
use uuid::Uuid;

const ICS: usize = 400;
const GOOGLE: usize = 100;

fn disjoint_union(a: &[Uuid], b: &[Uuid]) -> HashSet<Uuid> {
    let (sa, sb): (HashSet<_>, HashSet<_>) =
        (a.iter().copied().collect(), b.iter().copied().collect());
    assert_eq!(sa.len(), a.len(), "a replica claimed one connection twice");
    assert_eq!(sb.len(), b.len(), "a replica claimed one connection twice");
    assert!(
        sa.is_disjoint(&sb),
        "two replicas claimed the same connection"
    );
    sa.union(&sb).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduler_replicas_never_claim_the_same_poll_or_renewal_twice() {
    let world = World::new().await;
    let agent = specialist(world.pool(), "replica-agent", "UTC").await;
    let mut all = HashSet::new();
    let mut google = HashSet::new();
    for i in 0..ICS {
        all.insert(
            connect(
                world.pool(),
                agent,
                "ics",
                &format!("https://example.com/{i}.ics"),
            )
            .await
            .id,
        );
    }
    for i in 0..GOOGLE {
        let id = connect(
            world.pool(),
            agent,
            "google",
            &format!("user{i}@example.com"),
        )
        .await
        .id;
        google.insert(id);
        all.insert(id);
    }
    // Both replicas read the same (manual) time, a little after the rows were created.
    let clock = ManualClock::new(Utc::now() + Duration::seconds(5));
    let (one, two) = (
        world.worker(&clock).context(),
        world.worker(&clock).context(),
    );
    let (mut s1, mut s2) = (Scheduler::new(one.clone()), Scheduler::new(two.clone()));

    let mut notices = 0;
    for round in 0..3 {
        if round > 0 {
            clock.advance(Duration::minutes(12));
        }
        let (r1, r2) = tokio::join!(s1.run_once(), s2.run_once());
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        let polled = disjoint_union(&r1.polled, &r2.polled);
        assert_eq!(
            polled, all,
            "round {round}: every due connection is claimed once"
        );
        let renewed = disjoint_union(&r1.renewals, &r2.renewals);
        assert_eq!(
            renewed, google,
            "round {round}: every missing webhook is claimed for renewal once"
        );
        assert_eq!(r1.unpublished + r2.unpublished, 0);
        notices += all.len();

        let (again1, again2) = tokio::join!(s1.run_once(), s2.run_once());
        let (again1, again2) = (again1.unwrap(), again2.unwrap());
        assert!(
            again1.polled.is_empty() && again2.polled.is_empty(),
            "claimed rows are not due again at once"
        );
        assert!(
            again1.renewals.is_empty() && again2.renewals.is_empty(),
            "a renewal claim holds"
        );
    }
    let depth = world.broker.depth(&world.work_queue()).await.unwrap();
    assert_eq!(
        depth as usize, notices,
        "one notice per claim: a connection due for both poll and renewal is enqueued once"
    );

    let gauge = |p: &str, s: &str| one.metrics.webhooks.with_label_values(&[p, s]).get();
    clock.advance(Duration::seconds(30));
    s1.run_once().await.unwrap();
    assert_eq!(gauge("ics", "not_applicable"), ICS as i64);
    assert_eq!(gauge("google", "missing"), GOOGLE as i64);
    assert_eq!(gauge("google", "active"), 0);
    let queue = world.work_queue();
    assert_eq!(
        one.metrics.queue_depth.with_label_values(&[&queue]).get(),
        notices as i64
    );
}
