//! `TestEnv` against the local PostgreSQL and RabbitMQ: what it sets up, and that its
//! `Drop` fails a test that leaves notices in the work or dead-letter queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use calsync_proto::v1::ChangeNotice;
use calsync_proto::Message;
use calsync_testkit::TestEnv;
use secrecy::ExposeSecret;
use std::time::Duration;

fn notice(id: &str) -> ChangeNotice {
    ChangeNotice {
        connection_id: id.to_owned(),
        ..ChangeNotice::default()
    }
}

#[tokio::test]
async fn each_env_has_its_own_database_prefix_and_secrets_and_settings_that_point_at_them() {
    let (a, b) = (TestEnv::new().await.unwrap(), TestEnv::new().await.unwrap());
    assert_ne!(a.db().name(), b.db().name());
    assert_ne!(a.broker.prefix(), b.broker.prefix());
    assert_ne!(a.secrets.jwt_secret, b.secrets.jwt_secret);
    assert_ne!(a.secrets.webhook_secret, b.secrets.webhook_secret);
    let s = &a.settings;
    assert_eq!(s.database.url, a.db().url());
    assert_eq!(s.amqp.prefix, a.broker.prefix());
    assert_eq!(
        s.api.operator_token.expose_secret(),
        a.secrets.operator_token
    );
    assert_eq!(s.api.jwt_secret.expose_secret(), a.secrets.jwt_secret);
    assert_eq!(
        s.security.encryption_key.expose_secret(),
        a.secrets.encryption_key
    );
    assert_eq!(
        s.security.webhook_secret.expose_secret(),
        a.secrets.webhook_secret
    );
    s.validate().unwrap();
    let _conn = a.pool().get().await.expect("the database answers");
    assert_eq!(a.queue_depths().await.unwrap(), Default::default());
}

#[tokio::test]
async fn the_sandboxes_asked_for_are_running_and_configured() {
    let env = TestEnv::builder()
        .without_database()
        .with_google_sandbox()
        .with_graph_sandbox()
        .with_ics_server()
        .build()
        .await
        .unwrap();
    let s = &env.settings;
    assert_eq!(s.google.api_base, env.google().api_base());
    assert_eq!(s.google.client_id, env.google().client_id());
    assert_eq!(s.microsoft.graph_base, env.graph().graph_base());
    assert_eq!(s.ics.allow_hosts, vec!["127.0.0.1".to_owned()]);
    env.ics()
        .set_feed("/a.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
    let body = reqwest::get(env.ics().url("/a.ics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR"));
}

#[tokio::test]
async fn drained_notices_are_returned_and_leave_the_queue_empty() {
    let env = TestEnv::builder().without_database().build().await.unwrap();
    let publisher = env.publisher();
    publisher.publish_notice(&notice("a")).await.unwrap();
    publisher.publish_notice(&notice("b")).await.unwrap();
    publisher.close().await;
    assert_eq!(env.work_queue_depth().await.unwrap(), 2);
    let ids: Vec<String> = env
        .drain_work_queue()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.connection_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(env.work_queue_depth().await.unwrap(), 0);
}

#[tokio::test]
#[should_panic(expected = "left 1 message(s) in the work queue and 0 in the dead-letter queue")]
async fn a_notice_left_in_the_work_queue_fails_the_test() {
    let env = TestEnv::builder().without_database().build().await.unwrap();
    let publisher = env.publisher();
    publisher.publish_notice(&notice("left")).await.unwrap();
    publisher.close().await;
    drop(env);
}

#[tokio::test]
#[should_panic(expected = "left 0 message(s) in the work queue and 1 in the dead-letter queue")]
async fn a_dead_lettered_notice_fails_the_test() {
    let env = TestEnv::builder().without_database().build().await.unwrap();
    let publisher = env.publisher();
    let dlq = env.topology().dead_letter_queue();
    publisher
        .publish("", &dlq, &notice("dead").encode_to_vec(), 4)
        .await
        .unwrap();
    publisher.close().await;
    drop(env);
}

#[tokio::test]
async fn a_test_that_expects_leftovers_may_leave_them() {
    let env = TestEnv::builder().without_database().build().await.unwrap();
    env.expect_leftover_messages();
    let publisher = env.publisher();
    publisher.publish_notice(&notice("kept")).await.unwrap();
    publisher.close().await;
    let depths = env
        .wait_for_empty_work_queue(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(depths.work, 1, "no wait when leftovers are expected");
    drop(env);
}
