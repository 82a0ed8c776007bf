//! The broker going away under a running consumer loses nothing: the consumer
//! reconnects, unacked deliveries come back, and notices published meanwhile wait.

use crate::support::{
    amqp_url_via, broker_proxy, depth, eventually, notice, publisher, within, Behaviour, Recorder,
    RunningConsumer, WAIT,
};
use calsync_testkit::TestBroker;
use std::collections::HashSet;
use std::time::Duration;

const BATCH: usize = 6;

#[tokio::test]
async fn a_broker_outage_under_a_running_consumer_loses_no_message() {
    let broker = TestBroker::new();
    // Publishes go straight to the broker; only the consumer sits behind the proxy.
    let publisher = publisher(&broker);
    let proxy = broker_proxy().await;
    // Slow handlers and prefetch 2: the cut catches deliveries in flight.
    let handler = Recorder::slow(Behaviour::Succeed, Duration::from_millis(80));
    let consumer = RunningConsumer::start(&broker, amqp_url_via(proxy.addr()), handler.clone(), 2);

    let mut expected = HashSet::new();
    let mut publish_batch = |n: usize| {
        let batch: Vec<_> = (0..n).map(|_| notice()).collect();
        expected.extend(batch.iter().map(|b| b.connection_id.clone()));
        batch
    };

    let before = publish_batch(BATCH);
    for n in &before {
        within("publishing before", WAIT, publisher.publish_notice(n))
            .await
            .expect("confirmed");
    }
    eventually("the consumer handling a first notice", WAIT, || async {
        handler.call_count() >= 1
    })
    .await;

    proxy.break_all();
    let during = publish_batch(BATCH);
    for n in &during {
        within("publishing during", WAIT, publisher.publish_notice(n))
            .await
            .expect("confirmed");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let handled: HashSet<String> = handler.calls().into_iter().collect();
    assert!(
        during.iter().all(|n| !handled.contains(&n.connection_id)),
        "the consumer was really cut off: nothing published during the outage was handled"
    );
    assert!(
        depth(&broker, &broker.topology.work_queue()).await >= BATCH as u32,
        "notices published during the outage wait in the work queue"
    );
    proxy.restore();

    let after = publish_batch(BATCH);
    for n in &after {
        within("publishing after", WAIT, publisher.publish_notice(n))
            .await
            .expect("confirmed");
    }

    eventually(
        "every notice being handled",
        Duration::from_secs(30),
        || async {
            let seen: HashSet<String> = handler.calls().into_iter().collect();
            expected.is_subset(&seen)
        },
    )
    .await;
    consumer.stop().await;

    let per_id = handler.per_id();
    assert_eq!(
        per_id.len(),
        expected.len(),
        "only published notices were handled"
    );
    assert!(per_id.values().all(|&n| n >= 1));
    for q in broker.topology.all_queues() {
        assert_eq!(depth(&broker, &q).await, 0, "messages left in {q}");
    }
    publisher.close().await;
}
