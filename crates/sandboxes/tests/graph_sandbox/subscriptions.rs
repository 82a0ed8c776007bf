//! Subscriptions: the validation handshake, limits, renewal, notifications, lifecycle.

use std::sync::atomic::Ordering;
use std::time::Duration;

use calsync_sandboxes::graph::{DeliveryKind, GraphSandbox, GraphSandboxConfig};
use serde_json::{json, Value};

use crate::support::{
    config, connect, event, http, in_minutes, sandbox, subscribe, Echo, Hook, AGENT,
};

#[tokio::test]
async fn a_subscription_is_refused_when_the_endpoint_echoes_the_wrong_token() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::WrongToken).await;
    let res = subscribe(&sb, &access, &hook, 60).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ValidationError");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Subscription validation request failed.")));
    assert!(sb.state().subscriptions().is_empty());
    sb.stop().await;
}

#[tokio::test]
async fn a_subscription_is_refused_when_the_endpoint_answers_slowly_or_not_in_text() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Slow(Duration::from_millis(1500))).await;
    let res = subscribe(&sb, &access, &hook, 60).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["code"],
        "ValidationError"
    );

    *hook.echo.lock().expect("lock") = Echo::JsonContentType;
    let res = subscribe(&sb, &access, &hook, 60).await;
    assert_eq!(res.status(), 400);
    sb.stop().await;
}

#[tokio::test]
async fn a_subscription_is_created_after_a_correct_echo_of_an_encoded_token() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    let res = subscribe(&sb, &access, &hook, 60).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.expect("json");
    assert_eq!(sub["resource"], "me/events");
    assert_eq!(sub["changeType"], "created,updated,deleted");
    assert_eq!(sub["clientState"], "conn-1.hmac");
    assert_eq!(sub["applicationId"], config().client_id);
    assert!(sub["expirationDateTime"]
        .as_str()
        .is_some_and(|e| e.ends_with('Z')));
    assert!(sub["creatorId"].is_string() && sub["id"].is_string());
    // Both URLs were validated, with tokens that needed decoding.
    let tokens = hook.tokens.lock().expect("lock").clone();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t.contains(' ') && t.contains(':')));
    assert_eq!(sb.state().subscriptions().len(), 1);
    sb.stop().await;
}

#[tokio::test]
async fn an_expiration_beyond_the_maximum_is_refused_and_patch_renews_within_it() {
    let sb = GraphSandbox::start(GraphSandboxConfig {
        max_subscription_minutes: 4230,
        ..config()
    })
    .await
    .expect("sandbox");
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    let res = subscribe(&sb, &access, &hook, 4231).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ExtensionError");
    assert_eq!(
        body["error"]["message"],
        "Subscription expiration can only be 4230 minutes in the future."
    );

    let sub: Value = subscribe(&sb, &access, &hook, 60)
        .await
        .json()
        .await
        .expect("json");
    let url = format!(
        "{}/subscriptions/{}",
        sb.graph_base(),
        sub["id"].as_str().expect("id")
    );
    let renewed = http()
        .patch(&url)
        .bearer_auth(&access)
        .json(&json!({"expirationDateTime": in_minutes(&sb, 4200)}))
        .send()
        .await
        .expect("patch");
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.expect("json");
    assert_ne!(renewed["expirationDateTime"], sub["expirationDateTime"]);

    let too_far = http()
        .patch(&url)
        .bearer_auth(&access)
        .json(&json!({"expirationDateTime": in_minutes(&sb, 5000)}))
        .send()
        .await
        .expect("patch");
    assert_eq!(too_far.status(), 400);

    sb.state().advance_clock(Duration::from_secs(4201 * 60));
    let expired = http()
        .patch(&url)
        .bearer_auth(&access)
        .json(&json!({"expirationDateTime": in_minutes(&sb, 60)}))
        .send()
        .await
        .expect("patch");
    assert!(
        expired.status() == 404 || expired.status() == 401,
        "{}",
        expired.status()
    );
    sb.stop().await;
}

#[tokio::test]
async fn renewing_an_unknown_subscription_answers_404_and_delete_answers_204() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    let res = http()
        .patch(format!(
            "{}/subscriptions/{}",
            sb.graph_base(),
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(&access)
        .json(&json!({"expirationDateTime": in_minutes(&sb, 60)}))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 404);
    let sub: Value = subscribe(&sb, &access, &hook, 60)
        .await
        .json()
        .await
        .expect("json");
    let url = format!(
        "{}/subscriptions/{}",
        sb.graph_base(),
        sub["id"].as_str().expect("id")
    );
    assert_eq!(
        http()
            .delete(&url)
            .bearer_auth(&access)
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&access)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    sb.stop().await;
}

#[tokio::test]
async fn changes_are_delivered_in_one_batch_carrying_client_state() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    assert_eq!(subscribe(&sb, &access, &hook, 60).await.status(), 201);
    let st = sb.state();
    let user_id = st.user_id(AGENT);
    let a = st
        .create_event(
            AGENT,
            event("A", "2026-01-05T10:00:00", "2026-01-05T11:00:00"),
        )
        .expect("a");
    st.create_event(
        AGENT,
        event("B", "2026-01-06T10:00:00", "2026-01-06T11:00:00"),
    )
    .expect("b");
    st.delete_event(AGENT, &a).expect("delete");
    assert!(st.wait_for_deliveries(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let deliveries: Vec<_> = st
        .deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Change)
        .collect();
    assert_eq!(deliveries.len(), 1, "one POST for the burst");
    let items = deliveries[0].items();
    assert_eq!(items.len(), 3);
    assert!(items
        .iter()
        .all(|i| i["clientState"] == "conn-1.hmac" && i["tenantId"] == st.tenant_id().as_str()));
    assert_eq!(items[2]["changeType"], "deleted");
    assert_eq!(items[0]["resource"], format!("Users/{user_id}/Events/{a}"));
    assert_eq!(
        items[0]["resourceData"]["@odata.type"],
        "#Microsoft.Graph.Event"
    );
    assert_eq!(items[0]["resourceData"]["id"], a.as_str());
    assert_eq!(hook.received().len(), 1);
    sb.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_the_endpoint_accepts_it() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    assert_eq!(subscribe(&sb, &access, &hook, 60).await.status(), 201);
    hook.fail_next.store(2, Ordering::SeqCst);
    let st = sb.state();
    st.create_event(
        AGENT,
        event("A", "2026-01-05T10:00:00", "2026-01-05T11:00:00"),
    )
    .expect("a");
    assert!(st.wait_for_deliveries(1, Duration::from_secs(5)).await);
    let attempts: Vec<(u32, Option<u16>)> = st
        .deliveries()
        .iter()
        .map(|d| (d.attempt, d.status))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, Some(500)), (2, Some(500)), (3, Some(202))]
    );
    sb.stop().await;
}

#[tokio::test]
async fn dropped_notifications_are_lost_and_lifecycle_events_reach_the_lifecycle_url() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    let sub: Value = subscribe(&sb, &access, &hook, 60)
        .await
        .json()
        .await
        .expect("json");
    let id = sub["id"].as_str().expect("id");
    let st = sb.state();
    st.drop_next_notifications(1);
    st.create_event(
        AGENT,
        event("Lost", "2026-01-05T10:00:00", "2026-01-05T11:00:00"),
    )
    .expect("a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hook.received().is_empty());
    assert_eq!(st.dropped_notifications(), 1);

    assert_eq!(
        st.send_lifecycle(id, "missed").await.expect("missed"),
        Some(202)
    );
    let got = hook.received();
    assert_eq!(got[0]["value"][0]["lifecycleEvent"], "missed");
    assert_eq!(got[0]["value"][0]["subscriptionId"], id);
    assert_eq!(got[0]["value"][0]["clientState"], "conn-1.hmac");

    // Reauthorizing a live subscription answers 204 without a body, as Graph does.
    let res = http()
        .post(format!(
            "{}/subscriptions/{id}/reauthorize",
            sb.graph_base()
        ))
        .bearer_auth(&access)
        .send()
        .await
        .expect("reauthorize");
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.expect("body").is_empty());

    st.send_lifecycle(id, "subscriptionRemoved")
        .await
        .expect("removed");
    assert!(st.subscriptions().is_empty());
    let res = http()
        .post(format!(
            "{}/subscriptions/{id}/reauthorize",
            sb.graph_base()
        ))
        .bearer_auth(&access)
        .send()
        .await
        .expect("reauthorize");
    assert_eq!(res.status(), 404);
    sb.stop().await;
}

#[tokio::test]
async fn an_expired_subscription_stops_delivering() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    assert_eq!(subscribe(&sb, &access, &hook, 30).await.status(), 201);
    let st = sb.state();
    st.advance_clock(Duration::from_secs(31 * 60));
    st.create_event(
        AGENT,
        event("Late", "2026-01-05T10:00:00", "2026-01-05T11:00:00"),
    )
    .expect("a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hook.received().is_empty());
    assert!(st.subscriptions().is_empty());
    sb.stop().await;
}

#[tokio::test]
async fn a_plain_http_notification_url_off_loopback_is_refused() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let res = http()
        .post(format!("{}/subscriptions", sb.graph_base()))
        .bearer_auth(&access)
        .json(&json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": "http://example.com/webhooks/microsoft",
            "resource": "me/events",
            "expirationDateTime": in_minutes(&sb, 60),
        }))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    sb.stop().await;
}

#[tokio::test]
async fn a_coworker_event_created_through_the_admin_endpoint_is_notified_and_readable() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    assert_eq!(subscribe(&sb, &access, &hook, 60).await.status(), 201);
    let res = http()
        .post(format!("{}/_sandbox/users/{AGENT}/events", sb.base_url()))
        .json(&event(
            "Front desk",
            "2026-01-07T10:00:00",
            "2026-01-07T10:30:00",
        ))
        .send()
        .await
        .expect("admin create");
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(
        sb.state()
            .wait_for_deliveries(1, Duration::from_secs(5))
            .await
    );
    assert_eq!(
        hook.received()[0]["value"][0]["resourceData"]["id"],
        id.as_str()
    );

    let got: Value = http()
        .get(format!("{}/me/events/{id}", sb.graph_base()))
        .bearer_auth(&access)
        .header("Prefer", "outlook.timezone=\"UTC\"")
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["subject"], "Front desk");
    assert_eq!(got["start"]["dateTime"], "2026-01-07T09:00:00.0000000");
    sb.stop().await;
}

#[tokio::test]
async fn a_subscription_to_another_users_events_is_forbidden() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let hook = Hook::start(Echo::Correct).await;
    let other = sb.state().user_id("someone.else@contoso.com");
    let mine = sb.state().user_id(AGENT);
    for (user, expected) in [(other, 403), (mine, 201)] {
        let res = http()
            .post(format!("{}/subscriptions", sb.graph_base()))
            .bearer_auth(&access)
            .json(&json!({
                "changeType": "created,updated,deleted",
                "notificationUrl": hook.url,
                "resource": format!("users/{user}/events"),
                "expirationDateTime": in_minutes(&sb, 60),
            }))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), expected);
    }
    sb.stop().await;
}
