//! `TestBroker` isolation: whatever a test declared under its prefix is gone after it.

use crate::support::{within, WAIT};
use calsync_mq::{declare, queue_depth, Topology};
use calsync_testkit::TestBroker;

#[tokio::test]
async fn dropping_a_test_broker_deletes_its_queues_including_default_retry_queues() {
    let broker = TestBroker::new();
    let url = broker.url.clone();
    // Services under test declare the prefix with the production retry delays.
    let service_view = Topology::new(broker.prefix());
    let mut queues = broker.topology.all_queues();
    queues.extend(service_view.all_queues());

    let conn = within("connecting", WAIT, calsync_mq::connect(&url))
        .await
        .expect("connect");
    let ch = within("channel", WAIT, conn.create_channel())
        .await
        .expect("channel");
    within("declaring", WAIT, declare(&ch, &broker.topology))
        .await
        .expect("declare");
    within("declaring", WAIT, declare(&ch, &service_view))
        .await
        .expect("declare");
    for q in &queues {
        within("depth", WAIT, queue_depth(&ch, q))
            .await
            .expect("the queue exists");
    }

    drop(broker);

    for q in &queues {
        // A passive declare of a missing queue fails and closes the channel.
        let ch = within("channel", WAIT, conn.create_channel())
            .await
            .expect("channel");
        let gone = within("depth", WAIT, queue_depth(&ch, q)).await;
        assert!(gone.is_err(), "{q} survived the TestBroker");
    }
    let _ = conn.close(200, "done").await;
}
