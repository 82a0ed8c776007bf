//! A delivery is acked only after its handler finished: a consumer that dies while
//! holding it gives it back to the broker, and another consumer gets it.

use crate::support::{
    amqp_url_via, broker_proxy, depth, eventually, notice, publisher, within, Behaviour, Recorder,
    RunningConsumer, WAIT,
};
use calsync_testkit::TestBroker;

#[tokio::test]
async fn a_message_whose_consumer_dies_before_acking_is_redelivered_to_another() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let proxy = broker_proxy().await;
    let stuck = Recorder::new(Behaviour::Hang);
    let doomed = RunningConsumer::start(&broker, amqp_url_via(proxy.addr()), stuck.clone(), 1);
    let sent = notice();
    within("publishing", WAIT, publisher.publish_notice(&sent))
        .await
        .expect("confirmed");

    eventually("the first consumer receiving the notice", WAIT, || async {
        stuck.call_count() == 1
    })
    .await;
    assert_eq!(
        depth(&broker, &broker.topology.work_queue()).await,
        0,
        "the delivery is held unacked"
    );

    // The consumer's process dies: its connection drops without an ack.
    proxy.break_all();
    doomed.abort();

    let rescuer = Recorder::new(Behaviour::Succeed);
    let second = RunningConsumer::start(&broker, broker.url.clone(), rescuer.clone(), 1);
    eventually("the notice being redelivered", WAIT, || async {
        rescuer.call_count() == 1
    })
    .await;
    assert_eq!(
        rescuer.calls(),
        vec![sent.connection_id.clone()],
        "the same notice"
    );
    assert_eq!(
        stuck.calls(),
        vec![sent.connection_id],
        "the dead consumer saw it once"
    );

    second.stop().await;
    assert_eq!(
        depth(&broker, &broker.topology.work_queue()).await,
        0,
        "acked after handling"
    );
    assert_eq!(
        depth(&broker, &broker.topology.dead_letter_queue()).await,
        0
    );
    assert_eq!(rescuer.call_count(), 1, "handled once by the survivor");
    publisher.close().await;
}
