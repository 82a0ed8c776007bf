//! The publisher returns Ok only once the broker holds the message, and an error
//! (promptly) when it cannot get there.

use crate::support::{amqp_url_via, broker_proxy, depth, notice, publisher, within, WAIT};
use calsync_mq::{Publisher, ATTEMPT_HEADER};
use calsync_proto::v1::ChangeNotice;
use calsync_proto::Message;
use calsync_testkit::TestBroker;
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use std::time::{Duration, Instant};

/// An unreachable broker must turn into an error well before a provider's webhook
/// request times out.
const PROMPT: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_published_notice_is_confirmed_and_waits_in_the_work_queue() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let sent = notice();

    within("publishing", WAIT, publisher.publish_notice(&sent))
        .await
        .expect("the broker confirms the notice");

    let queue = broker.topology.work_queue();
    assert_eq!(
        depth(&broker, &queue).await,
        1,
        "a confirmed notice is in the work queue"
    );
    assert_eq!(
        depth(&broker, &broker.topology.dead_letter_queue()).await,
        0
    );

    let conn = within("connecting", WAIT, calsync_mq::connect(&broker.url))
        .await
        .expect("connect");
    let ch = within("channel", WAIT, conn.create_channel())
        .await
        .expect("channel");
    let got = within(
        "basic_get",
        WAIT,
        ch.basic_get(&queue, BasicGetOptions { no_ack: true }),
    )
    .await
    .expect("get")
    .expect("a message");
    let received = ChangeNotice::decode(got.delivery.data.as_slice()).expect("a ChangeNotice");
    assert_eq!(received, sent);
    assert_eq!(
        got.delivery.properties.delivery_mode(),
        &Some(2),
        "persistent"
    );
    let attempt = got
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned());
    assert_eq!(attempt, Some(AMQPValue::LongLongInt(1)), "first attempt");
    let _ = conn.close(200, "done").await;
    publisher.close().await;
}

#[tokio::test]
async fn publishing_fails_promptly_when_nothing_listens_on_the_broker_port() {
    let broker = TestBroker::new();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let publisher = Publisher::new(amqp_url_via(closed), broker.topology.clone());

    let started = Instant::now();
    let result = within(
        "publishing to a closed port",
        PROMPT,
        publisher.publish_notice(&notice()),
    )
    .await;
    assert!(result.is_err(), "no broker, no Ok");
    assert!(started.elapsed() < PROMPT);
}

#[tokio::test]
async fn the_publisher_fails_during_an_outage_and_recovers_after_it() {
    let broker = TestBroker::new();
    let proxy = broker_proxy().await;
    let publisher = Publisher::new(amqp_url_via(proxy.addr()), broker.topology.clone());
    within(
        "publishing before",
        WAIT,
        publisher.publish_notice(&notice()),
    )
    .await
    .expect("confirmed before the outage");

    proxy.break_all();
    // The first publish may find the cut connection, the second must open a new one.
    for _ in 0..2 {
        let started = Instant::now();
        let result = within(
            "publishing during the outage",
            PROMPT,
            publisher.publish_notice(&notice()),
        )
        .await;
        assert!(result.is_err(), "Ok while the broker is unreachable");
        assert!(started.elapsed() < PROMPT);
    }

    proxy.restore();
    within(
        "publishing after",
        WAIT,
        publisher.publish_notice(&notice()),
    )
    .await
    .expect("the publisher reconnects once the broker is back");
    assert_eq!(
        depth(&broker, &broker.topology.work_queue()).await,
        2,
        "exactly the two confirmed notices are queued"
    );
    publisher.close().await;
}
