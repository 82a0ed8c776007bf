//! Failing notices go round the TTL retry queues and end in the dead-letter queue after
//! the configured number of attempts; permanent failures go there at once.

use crate::support::{
    depth, eventually, notice, publisher, within, Behaviour, Recorder, RunningConsumer, WAIT,
};
use calsync_mq::ATTEMPT_HEADER;
use calsync_proto::v1::ChangeNotice;
use calsync_proto::Message;
use calsync_testkit::TestBroker;
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use std::time::Duration;

/// Longer than every retry delay of `TestBroker` (50 ms, 100 ms) put together.
const SETTLE: Duration = Duration::from_millis(600);

/// Takes the one dead-lettered message and returns it with its attempt header.
async fn take_dead_letter(broker: &TestBroker) -> (ChangeNotice, Option<AMQPValue>) {
    let conn = within("connecting", WAIT, calsync_mq::connect(&broker.url))
        .await
        .expect("connect");
    let ch = within("channel", WAIT, conn.create_channel())
        .await
        .expect("channel");
    let got = within(
        "basic_get",
        WAIT,
        ch.basic_get(
            &broker.topology.dead_letter_queue(),
            BasicGetOptions { no_ack: true },
        ),
    )
    .await
    .expect("get")
    .expect("a dead letter");
    let attempt = got
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned());
    let notice = ChangeNotice::decode(got.delivery.data.as_slice()).expect("a ChangeNotice");
    let _ = conn.close(200, "done").await;
    (notice, attempt)
}

async fn assert_only_the_dead_letter_remains(broker: &TestBroker) {
    for q in broker.topology.all_queues() {
        let expected = u32::from(q == broker.topology.dead_letter_queue());
        assert_eq!(depth(broker, &q).await, expected, "messages left in {q}");
    }
}

#[tokio::test]
async fn a_message_that_always_fails_is_dead_lettered_after_the_configured_attempts() {
    let broker = TestBroker::new();
    let max = broker.topology.max_attempts() as usize;
    assert_eq!(max, 3, "TestBroker retries twice");
    let publisher = publisher(&broker);
    let failing = Recorder::new(Behaviour::FailTransiently(u32::MAX));
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), failing.clone(), 4);
    let sent = notice();
    within("publishing", WAIT, publisher.publish_notice(&sent))
        .await
        .expect("confirmed");

    let dlq = broker.topology.dead_letter_queue();
    eventually(
        "the notice reaching the dead-letter queue",
        WAIT,
        || async { depth(&broker, &dlq).await == 1 },
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        failing.call_count(),
        max,
        "one handler call per attempt, then no more"
    );
    consumer.stop().await;

    assert_only_the_dead_letter_remains(&broker).await;
    let (dead, attempt) = take_dead_letter(&broker).await;
    assert_eq!(dead, sent, "the dead letter is the original notice");
    assert_eq!(
        attempt,
        Some(AMQPValue::LongLongInt(3)),
        "it records its last attempt"
    );
    publisher.close().await;
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dead_letter_queue_at_once() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let refusing = Recorder::new(Behaviour::FailPermanently);
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), refusing.clone(), 4);
    let sent = notice();
    within("publishing", WAIT, publisher.publish_notice(&sent))
        .await
        .expect("confirmed");

    let dlq = broker.topology.dead_letter_queue();
    eventually(
        "the notice reaching the dead-letter queue",
        WAIT,
        || async { depth(&broker, &dlq).await == 1 },
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(refusing.call_count(), 1, "no retry for a permanent failure");
    consumer.stop().await;

    assert_only_the_dead_letter_remains(&broker).await;
    let (dead, attempt) = take_dead_letter(&broker).await;
    assert_eq!(dead, sent);
    assert_eq!(attempt, Some(AMQPValue::LongLongInt(1)));
    publisher.close().await;
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_without_calling_the_handler() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let handler = Recorder::new(Behaviour::Succeed);
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), handler.clone(), 4);
    let garbage = [0xff_u8, 0xff, 0xff, 0xff];
    within(
        "publishing garbage",
        WAIT,
        publisher.publish(&broker.topology.exchange(), "notice", &garbage, 1),
    )
    .await
    .expect("confirmed");

    let dlq = broker.topology.dead_letter_queue();
    eventually(
        "the garbage reaching the dead-letter queue",
        WAIT,
        || async { depth(&broker, &dlq).await == 1 },
    )
    .await;
    consumer.stop().await;
    assert_eq!(handler.call_count(), 0);
    assert_only_the_dead_letter_remains(&broker).await;
    publisher.close().await;
}

#[tokio::test]
async fn a_message_that_fails_once_is_handled_on_its_retry() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let flaky = Recorder::new(Behaviour::FailTransiently(1));
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), flaky.clone(), 4);
    let sent = notice();
    within("publishing", WAIT, publisher.publish_notice(&sent))
        .await
        .expect("confirmed");

    eventually("the retry", WAIT, || async { flaky.call_count() == 2 }).await;
    tokio::time::sleep(SETTLE).await;
    consumer.stop().await;
    assert_eq!(
        flaky.call_count(),
        2,
        "succeeded on the second attempt, then left alone"
    );
    for q in broker.topology.all_queues() {
        assert_eq!(depth(&broker, &q).await, 0, "messages left in {q}");
    }
    publisher.close().await;
}
