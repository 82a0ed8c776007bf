//! Scheduler replicas coordinate through PostgreSQL alone: run side by side on one
//! database, they never claim the same poll or renewal twice. Also the gauges the
//! scheduler refreshes (webhooks by state, queue depth).

use crate::support::{connect, specialist, worker_with};
use calsync_sync_worker::clock::ManualClock;
use calsync_sync_worker::scheduler::Scheduler;
use calsync_testkit::TestEnv;
use chrono::{Duration, Utc};
use std::collections::HashSet;
use uuid::Uuid;

/// More due rows than two ticks of one replica claim (500 each), so both replicas work
/// through the same rows at the same time.
const ICS: usize = 1100;
const GOOGLE: usize = 100;

/// What one replica claimed while ticking until nothing was left.
#[derive(Default)]
struct Drained {
    polled: Vec<Uuid>,
    renewals: Vec<Uuid>,
    notices: usize,
}

async fn drain(s: &mut Scheduler) -> Drained {
    let mut d = Drained::default();
    loop {
        let r = s.run_once().await.unwrap();
        assert_eq!(r.unpublished, 0);
        if r.polled.is_empty() && r.renewals.is_empty() {
            return d;
        }
        let renew_only = r
            .renewals
            .iter()
            .filter(|id| !r.polled.contains(id))
            .count();
        d.notices += r.polled.len() + renew_only;
        d.polled.extend(r.polled);
        d.renewals.extend(r.renewals);
    }
}

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
    let world = TestEnv::new().await.unwrap();
    // No consumer runs: the notices the replicas publish are what this test counts.
    world.expect_leftover_messages();
    let agent = specialist(world.pool(), "replica-agent", "UTC").await;
    let (mut all, mut google) = (HashSet::new(), HashSet::new());
    for i in 0..ICS {
        let url = format!("https://example.com/{i}.ics");
        all.insert(connect(world.pool(), agent, "ics", &url).await.id);
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
    // Both replicas read the same (manual) time, a minute after the rows were created.
    let clock = ManualClock::new(Utc::now() + Duration::minutes(1));
    let (one, two) = (
        worker_with(&world.settings, &clock).context(),
        worker_with(&world.settings, &clock).context(),
    );
    let (mut s1, mut s2) = (Scheduler::new(one.clone()), Scheduler::new(two.clone()));

    let (mut notices, mut split) = (0, Vec::new());
    for round in 0..3 {
        if round > 0 {
            clock.advance(Duration::minutes(12));
        }
        let (d1, d2) = tokio::join!(drain(&mut s1), drain(&mut s2));
        let polled = disjoint_union(&d1.polled, &d2.polled);
        assert_eq!(
            polled, all,
            "round {round}: every due connection is claimed once"
        );
        let renewed = disjoint_union(&d1.renewals, &d2.renewals);
        assert_eq!(
            renewed, google,
            "round {round}: every missing webhook is claimed once"
        );
        // One notice per connection a replica claimed, even for both its poll and its
        // renewal; two replicas splitting the kinds send two, which the consumer
        // coalesces.
        notices += d1.notices + d2.notices;
        split.push((d1.polled.len(), d2.polled.len()));
    }
    let depth = world
        .broker
        .depth(&world.topology().work_queue())
        .await
        .unwrap();
    assert_eq!(
        depth as usize, notices,
        "one notice per claimed connection and replica"
    );
    assert!(
        notices < 3 * (ICS + 2 * GOOGLE),
        "a poll and a renewal share a notice"
    );
    eprintln!(
        "replicas: polls claimed per round (replica 1, replica 2): {split:?}; {notices} notices"
    );

    let gauge = |p: &str, s: &str| one.metrics.webhooks.with_label_values(&[p, s]).get();
    clock.advance(Duration::seconds(30));
    s1.run_once().await.unwrap();
    assert_eq!(gauge("ics", "not_applicable"), ICS as i64);
    assert_eq!(gauge("google", "missing"), GOOGLE as i64);
    assert_eq!(gauge("google", "active"), 0);
    let queue = world.topology().work_queue();
    assert_eq!(
        one.metrics.queue_depth.with_label_values(&[&queue]).get(),
        notices as i64
    );
}
