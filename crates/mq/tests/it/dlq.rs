//! The dead-letter queue is operable: listing shows each message's id, connection,
//! attempts and reason without consuming it; replay puts one or all back to work.

use crate::support::{
    depth, eventually, notice, publisher, within, Behaviour, Recorder, RunningConsumer, WAIT,
};
use calsync_mq::dlq::{self, Replay};
use calsync_testkit::TestBroker;

#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_replayed_by_id_or_all() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let failing = Recorder::new(Behaviour::FailPermanently);
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), failing.clone(), 4);
    let (mut first, mut second) = (notice(), notice());
    first.connection_id = "00000000-0000-0000-0000-00000000000a".into();
    second.connection_id = "00000000-0000-0000-0000-00000000000b".into();
    for n in [&first, &second] {
        within("publishing", WAIT, publisher.publish_notice(n))
            .await
            .expect("confirmed");
    }
    let dlq_name = broker.topology.dead_letter_queue();
    eventually("both notices dead-lettered", WAIT, || async {
        depth(&broker, &dlq_name).await == 2
    })
    .await;
    consumer.stop().await;

    let listed = dlq::list(&broker.url, &broker.topology, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|d| d.id.is_some()), "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|d| d.reason.as_deref().is_some_and(|r| !r.is_empty())),
        "{listed:?}"
    );
    let mut conns: Vec<_> = listed
        .iter()
        .filter_map(|d| d.connection_id.clone())
        .collect();
    conns.sort();
    assert_eq!(
        conns,
        [first.connection_id.clone(), second.connection_id.clone()]
    );
    assert_eq!(
        depth(&broker, &dlq_name).await,
        2,
        "listing consumes nothing"
    );

    let target = listed
        .iter()
        .find(|d| d.connection_id.as_deref() == Some(second.connection_id.as_str()))
        .and_then(|d| d.id.clone())
        .expect("an id");
    let one = dlq::replay(&broker.url, &broker.topology, &Replay::Id(target))
        .await
        .expect("replay one");
    assert_eq!(one, 1);
    let work = broker.topology.work_queue();
    assert_eq!(depth(&broker, &work).await, 1);
    assert_eq!(depth(&broker, &dlq_name).await, 1);
    let unknown = dlq::replay(&broker.url, &broker.topology, &Replay::Id("nope".into()))
        .await
        .expect("replay none");
    assert_eq!(unknown, 0);
    assert_eq!(
        depth(&broker, &dlq_name).await,
        1,
        "an unknown id leaves the rest"
    );

    let rest = dlq::replay(&broker.url, &broker.topology, &Replay::All)
        .await
        .expect("replay all");
    assert_eq!(rest, 1);
    assert_eq!(depth(&broker, &work).await, 2);
    assert_eq!(depth(&broker, &dlq_name).await, 0);
}

#[tokio::test]
async fn a_message_carrying_several_notices_is_handled_whole_and_dead_lettered_whole() {
    let broker = TestBroker::new();
    let publisher = publisher(&broker);
    let ids = [
        "00000000-0000-0000-0000-0000000000c1",
        "00000000-0000-0000-0000-0000000000c2",
    ];
    let group = || {
        ids.iter()
            .map(|id| {
                let mut n = notice();
                n.connection_id = (*id).into();
                n
            })
            .collect::<Vec<_>>()
    };

    let recorder = Recorder::new(Behaviour::Succeed);
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), recorder.clone(), 4);
    within("publishing", WAIT, publisher.publish_notices(group()))
        .await
        .expect("confirmed");
    eventually("both notices handled", WAIT, || async {
        recorder.call_count() == 2
    })
    .await;
    consumer.stop().await;
    assert_eq!(recorder.calls(), ids, "each carried notice, in order");

    let failing = Recorder::new(Behaviour::FailPermanently);
    let consumer = RunningConsumer::start(&broker, broker.url.clone(), failing.clone(), 4);
    within("publishing", WAIT, publisher.publish_notices(group()))
        .await
        .expect("confirmed");
    let dlq_name = broker.topology.dead_letter_queue();
    eventually("the message dead-lettered", WAIT, || async {
        depth(&broker, &dlq_name).await == 1
    })
    .await;
    consumer.stop().await;
    let listed = dlq::list(&broker.url, &broker.topology, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].connection_id.as_deref(),
        Some(ids.join(",").as_str()),
        "the listing names every connection the message carries"
    );
    publisher.close().await;
}
