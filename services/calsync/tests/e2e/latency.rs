//! Push → availability latency: a coworker's change until `/api/availability` shows it,
//! over 200 changes per provider; prints p50 and p99. A benchmark, not a test: speed
//! is reported, never asserted. Run with `scripts/bench-latency.sh`.

use crate::provider::{Google, Graph, SandboxProvider};
use crate::support::{at, test_day, Options, TestSystem};
use std::time::{Duration, Instant};

const CHANGES: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{what}: push → availability over {} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
}

/// Moves one event back and forth between 10:00 and 14:00; each move is one change.
async fn measure(
    sys: &TestSystem,
    specialist: uuid::Uuid,
    mut change: impl FnMut(chrono::DateTime<chrono::Utc>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let day = test_day();
    let (ten, two) = (at(day, 10, 0), at(day, 14, 0));
    let mut samples = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let (to, from) = if i % 2 == 0 { (ten, two) } else { (two, ten) };
        let started = Instant::now();
        change(to)?;
        sys.wait_slot(specialist, to, false).await?;
        sys.wait_slot(specialist, from, true).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// One event of `P`'s coworker moved 200 times; each move timed until availability shows it.
async fn push_to_availability_latency<P: SandboxProvider>(user_id: &str) -> anyhow::Result<()> {
    let sys = TestSystem::start(Options::default()).await?;
    let specialist = sys.create_specialist(user_id).await?;
    sys.connect_and_sync(P::NAME, specialist).await?;
    let day = test_day();
    let id = P::coworker_inserts(&sys, "Moving", at(day, 14, 0), 60)?;
    sys.wait_slot(specialist, at(day, 14, 0), false).await?;
    let samples = measure(&sys, specialist, |to| {
        P::coworker_moves(&sys, &id, "Moving", to, 60)
    })
    .await?;
    assert_eq!(samples.len(), CHANGES, "every change became visible");
    report(P::NAME, samples);
    sys.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench-latency.sh"]
async fn google_push_to_availability_latency_over_200_changes() -> anyhow::Result<()> {
    push_to_availability_latency::<Google>("agent-latency-google").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench-latency.sh"]
async fn graph_push_to_availability_latency_over_200_changes() -> anyhow::Result<()> {
    push_to_availability_latency::<Graph>("agent-latency-graph").await
}
