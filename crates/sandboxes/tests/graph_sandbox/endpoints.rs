//! Graph's penalty for slow notification endpoints, over real HTTP: Graph's rule with
//! small figures (a 16-answer window, 200 ms for "slow") so that it runs in about a second.

use std::time::{Duration, Instant};

use calsync_sandboxes::endpoints::SlowEndpointPolicy;
use calsync_sandboxes::graph::{GraphSandbox, GraphSandboxConfig};
use serde_json::Value;

use crate::support::{config, connect, event, http, subscribe, Echo, Hook, AGENT};

const WINDOW: usize = 16;
/// Far above a loopback answer even on a loaded machine, so that fast stays fast.
const SLOW_ANSWER: Duration = Duration::from_millis(200);
const SLOW: Duration = Duration::from_millis(300);
const SLOW_DELAY: Duration = Duration::from_millis(400);
const DROP_PERIOD: Duration = Duration::from_millis(1000);

async fn subscribed(answer_delays: &[Duration]) -> (GraphSandbox, Hook) {
    let sb = GraphSandbox::start(GraphSandboxConfig {
        notification_batch_window: Duration::from_millis(5),
        endpoint_policy: SlowEndpointPolicy {
            slow_answer: SLOW_ANSWER,
            window: WINDOW,
            slow_delay: SLOW_DELAY,
            drop_period: DROP_PERIOD,
            ..SlowEndpointPolicy::graph()
        },
        ..config()
    })
    .await
    .expect("sandbox starts");
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    assert_eq!(subscribe(&sb, &access, &hook, 60).await.status(), 201);
    hook.answer_delays
        .lock()
        .expect("lock")
        .extend(answer_delays.iter().copied());
    (sb, hook)
}

/// A coworker books one more meeting; the `n`th successful notification POST is awaited
/// up to `wait`, and how long it took to arrive is returned (None: it did not arrive).
async fn book_within(sb: &GraphSandbox, n: usize, wait: Duration) -> Option<Duration> {
    let st = sb.state();
    let day = 1 + n % 28;
    let started = Instant::now();
    st.create_event(
        AGENT,
        event(
            &format!("Meeting {n}"),
            &format!("2026-02-{day:02}T10:00:00"),
            &format!("2026-02-{day:02}T11:00:00"),
        ),
    )
    .expect("event created");
    st.wait_for_deliveries(n, wait)
        .await
        .then(|| started.elapsed())
}

async fn book(sb: &GraphSandbox, n: usize) -> Option<Duration> {
    book_within(sb, n, Duration::from_secs(2)).await
}

/// The endpoint as `GET /_sandbox/endpoints` shows it.
async fn endpoint(sb: &GraphSandbox, hook: &Hook) -> Value {
    let doc: Value = http()
        .get(format!("{}/_sandbox/endpoints", sb.base_url()))
        .send()
        .await
        .expect("endpoints")
        .json()
        .await
        .expect("json");
    doc["value"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["url"] == hook.url.as_str()))
        .cloned()
        .unwrap_or(Value::Null)
}

fn plan(slow_at: &[usize]) -> Vec<Duration> {
    (0..WINDOW)
        .map(|i| {
            if slow_at.contains(&i) {
                SLOW
            } else {
                Duration::ZERO
            }
        })
        .collect()
}

#[tokio::test]
async fn a_receiver_slow_in_over_15_percent_of_answers_is_dropped_for_the_drop_period() {
    // 3 of 16 answers slow: 18.75 %.
    let (sb, hook) = subscribed(&plan(&[2, 7, 12])).await;
    for n in 1..=WINDOW {
        assert!(book(&sb, n).await.is_some(), "notification {n} arrives");
    }
    let e = endpoint(&sb, &hook).await;
    assert_eq!(e["state"], "dropped", "{e}");
    assert_eq!(
        (e["sent"].as_u64(), e["slow"].as_u64()),
        (Some(16), Some(3))
    );
    assert!(e["droppedUntil"].is_string(), "{e}");

    let received = hook.received().len();
    assert!(
        book_within(&sb, WINDOW + 1, Duration::from_millis(300))
            .await
            .is_none(),
        "nothing is delivered while dropped"
    );
    assert_eq!(hook.received().len(), received);
    assert_eq!(endpoint(&sb, &hook).await["discarded"], 1);

    tokio::time::sleep(DROP_PERIOD).await;
    assert!(
        book(&sb, WINDOW + 1).await.is_some(),
        "delivered again once the drop period is over"
    );
    let e = endpoint(&sb, &hook).await;
    assert_eq!(e["state"], "normal", "{e}");
    assert_eq!(
        (e["sent"].as_u64(), e["discarded"].as_u64()),
        (Some(1), Some(0)),
        "counting starts afresh: {e}"
    );
    sb.stop().await;
}

#[tokio::test]
async fn a_receiver_slow_in_10_to_15_percent_of_answers_gets_its_deliveries_delayed() {
    // 2 of 16 answers slow: 12.5 %.
    let (sb, hook) = subscribed(&plan(&[5, 10])).await;
    for n in 1..=WINDOW {
        assert!(book(&sb, n).await.is_some(), "notification {n} arrives");
    }
    let e = endpoint(&sb, &hook).await;
    assert_eq!(e["state"], "slow", "{e}");

    let took = book(&sb, WINDOW + 1).await.expect("still delivered");
    assert!(took >= SLOW_DELAY, "delivery held back: {took:?}");
    let e = endpoint(&sb, &hook).await;
    assert_eq!(
        (e["delayed"].as_u64(), e["discarded"].as_u64()),
        (Some(1), Some(0)),
        "{e}"
    );
    assert_eq!(
        sb.state().endpoints()[0].window_slow,
        2,
        "the handle shows what the admin API shows"
    );
    sb.stop().await;
}

#[tokio::test]
async fn a_receiver_that_answers_fast_stays_normal_and_failures_are_counted_apart() {
    let (sb, hook) = subscribed(&[]).await;
    hook.fail_next.store(1, std::sync::atomic::Ordering::SeqCst);
    for n in 1..=WINDOW + 4 {
        assert!(book(&sb, n).await.is_some(), "notification {n} arrives");
    }
    let e = endpoint(&sb, &hook).await;
    assert_eq!(e["state"], "normal", "{e}");
    assert_eq!(
        (
            e["sent"].as_u64(),
            e["slow"].as_u64(),
            e["failed"].as_u64(),
            e["delayed"].as_u64()
        ),
        (Some(21), Some(0), Some(1), Some(0)),
        "20 notifications, one answered 500 and retried, none held back: {e}"
    );
    assert_eq!(e["windowAnswers"], WINDOW);
    sb.stop().await;
}
