//! Watch channels, push delivery, fault injection.

use super::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use calsync_sandboxes::endpoints::SlowEndpointPolicy;
use calsync_sandboxes::google::Fault;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A webhook receiver on loopback that records headers and answers `statuses` in turn
/// (then 200).
async fn receiver(statuses: Vec<u16>) -> (String, Seen, actix_web::dev::ServerHandle) {
    receiver_slow(statuses.into_iter().map(|s| (s, Duration::ZERO)).collect()).await
}

/// As `receiver`, each answer given after its delay.
async fn receiver_slow(
    answers: Vec<(u16, Duration)>,
) -> (String, Seen, actix_web::dev::ServerHandle) {
    let seen: Seen = Arc::default();
    let queue = Arc::new(Mutex::new(answers));
    let (s, q) = (seen.clone(), queue.clone());
    let server = HttpServer::new(move || {
        let (s, q) = (s.clone(), q.clone());
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (s, q) = (s.clone(), q.clone());
                async move {
                    let mut h: HashMap<String, String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                v.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    h.insert("body-len".into(), body.len().to_string());
                    s.lock().unwrap().push(h);
                    let (next, delay) = {
                        let mut q = q.lock().unwrap();
                        if q.is_empty() {
                            (200, Duration::ZERO)
                        } else {
                            q.remove(0)
                        }
                    };
                    tokio::time::sleep(delay).await;
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(next).unwrap())
                        .finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}/hook"), seen, handle)
}

async fn wait_for(seen: &Seen, n: usize) -> Vec<HashMap<String, String>> {
    for _ in 0..250 {
        let got = seen.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("only {} notifications arrived", seen.lock().unwrap().len());
}

#[tokio::test]
async fn watch_sends_sync_then_exists_on_a_change_with_growing_message_numbers() {
    let env = env().await;
    let token = env.access_token().await;
    let (address, seen, hook) = receiver(vec![]).await;
    let body = json!({"id": "chan-1", "type": "web_hook", "address": address, "token": "conn=42&sig=abc", "params": {"ttl": "3600"}});
    let resp = env
        .post(&token, "/calendars/primary/events/watch", body)
        .await;
    assert_eq!(resp.status(), 200);
    let channel: Value = resp.json().await.unwrap();
    assert_eq!(channel["kind"], "api#channel");
    let expiration: i64 = channel["expiration"].as_str().unwrap().parse().unwrap();
    let expected = (env.st.now() + chrono::Duration::seconds(3600)).timestamp_millis();
    assert!((expiration - expected).abs() < 5_000);

    let first = wait_for(&seen, 1).await;
    assert_eq!(first[0]["x-goog-resource-state"], "sync");
    assert_eq!(first[0]["x-goog-message-number"], "1");
    env.st
        .insert_event(
            USER,
            timed("coworker", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
        )
        .unwrap();
    let all = wait_for(&seen, 2).await;
    let h = &all[1];
    assert_eq!(h["x-goog-resource-state"], "exists");
    assert_eq!(h["x-goog-message-number"], "2");
    assert_eq!(h["x-goog-channel-id"], "chan-1");
    assert_eq!(h["x-goog-channel-token"], "conn=42&sig=abc");
    assert_eq!(
        h["x-goog-resource-id"],
        channel["resourceId"].as_str().unwrap()
    );
    assert_eq!(
        h["x-goog-resource-uri"],
        channel["resourceUri"].as_str().unwrap()
    );
    assert!(h["x-goog-channel-expiration"].ends_with(" GMT"));
    assert_eq!(h["body-len"], "0");

    let dup = env
        .post(
            &token,
            "/calendars/primary/events/watch",
            json!({"id": "chan-1", "type": "web_hook", "address": address}),
        )
        .await;
    assert_eq!(dup.status(), 400);
    let stop = json!({"id": "chan-1", "resourceId": channel["resourceId"]});
    assert_eq!(
        env.post(&token, "/channels/stop", stop.clone())
            .await
            .status(),
        204
    );
    assert_eq!(env.post(&token, "/channels/stop", stop).await.status(), 404);
    hook.stop(true).await;
}

#[tokio::test]
async fn channels_expire_by_the_sandbox_clock_and_failed_pushes_are_retried() {
    let env = env_with(GoogleSandboxConfig {
        push_backoff: Duration::from_millis(10),
        ..Default::default()
    })
    .await;
    let token = env.access_token().await;
    let (address, seen, hook) = receiver(vec![503, 503]).await;
    let resp = env
        .post(
            &token,
            "/calendars/primary/events/watch",
            json!({"id": "c2", "type": "web_hook", "address": address}),
        )
        .await;
    let channel: Value = resp.json().await.unwrap();
    let expiration: i64 = channel["expiration"].as_str().unwrap().parse().unwrap();
    let week = (env.st.now() + chrono::Duration::days(7)).timestamp_millis();
    assert!(
        (expiration - week).abs() < 5_000,
        "no ttl asked: the maximum (a week) is granted"
    );
    wait_for(&seen, 3).await;
    let log = env.st.deliveries();
    let statuses: Vec<Option<u16>> = log.iter().map(|d| d.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);

    env.st.advance_clock(Duration::from_secs(8 * 24 * 3600));
    env.st
        .insert_event(
            USER,
            timed("late", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "an expired channel stays silent"
    );
    hook.stop(true).await;
}

#[tokio::test]
async fn watch_refuses_plain_http_to_a_non_loopback_host() {
    let env = env().await;
    let token = env.access_token().await;
    let body = json!({"id": "c3", "type": "web_hook", "address": "http://hooks.example.com/webhooks/google"});
    let resp = env
        .post(&token, "/calendars/primary/events/watch", body)
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        reason(&resp.json().await.unwrap()),
        "push.webhookUrlNotHttps"
    );
    let bad_id =
        json!({"id": "has space", "type": "web_hook", "address": "https://hooks.example.com/x"});
    assert_eq!(
        env.post(&token, "/calendars/primary/events/watch", bad_id)
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn injected_429_carries_retry_after_then_requests_succeed_again() {
    let env = env().await;
    let token = env.access_token().await;
    env.st.inject(
        Fault::new(429, "rateLimitExceeded", 1)
            .retry_after(7)
            .only_path_contains("/events"),
    );
    let resp = env
        .http
        .get(format!("{}/calendars/primary/events", env.sb.api_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    assert_eq!(reason(&body), "rateLimitExceeded");
    assert_eq!(
        env.get(&token, "/calendars/primary/events", &[]).await.0,
        200
    );
    assert_eq!(
        env.st.list_calls(USER),
        1,
        "the faulted request never reached events.list"
    );
}

#[tokio::test]
async fn slow_and_failed_answers_are_counted_per_address_without_any_penalty() {
    let env = env_with(GoogleSandboxConfig {
        push_backoff: Duration::from_millis(10),
        endpoint_policy: SlowEndpointPolicy {
            slow_answer: Duration::from_millis(100),
            window: 2,
            ..SlowEndpointPolicy::count_only()
        },
        ..Default::default()
    })
    .await;
    let token = env.access_token().await;
    let slow = Duration::from_millis(250);
    let (address, seen, hook) =
        receiver_slow(vec![(200, slow), (200, slow), (503, Duration::ZERO)]).await;
    let watch = json!({"id": "c-slow", "type": "web_hook", "address": address});
    let resp = env
        .post(&token, "/calendars/primary/events/watch", watch)
        .await;
    assert_eq!(resp.status(), 200);
    wait_for(&seen, 1).await;
    for (i, start) in ["2026-03-02T09:00:00Z", "2026-03-03T09:00:00Z"]
        .iter()
        .enumerate()
    {
        let end = start.replace("T09", "T10");
        env.st
            .insert_event(USER, timed(&format!("m{i}"), start, &end))
            .unwrap();
        // One at a time, so that the answers come in the planned order.
        wait_for(&seen, 2 + i).await;
    }
    wait_for(&seen, 4).await;
    // The slow answers are still running when the later requests arrive.
    tokio::time::sleep(slow + Duration::from_millis(100)).await;

    let doc: Value = env.admin("endpoints").await;
    let e = &doc["items"][0];
    assert_eq!(e["url"], address.as_str());
    assert_eq!(
        (e["sent"].as_u64(), e["slow"].as_u64(), e["failed"].as_u64()),
        (Some(4), Some(2), Some(1)),
        "sync and first change slow, second change 503 then retried: {e}"
    );
    assert_eq!(e["state"], "normal", "Google has no published budget: {e}");
    assert_eq!(
        (e["delayed"].as_u64(), e["discarded"].as_u64()),
        (Some(0), Some(0))
    );
    hook.stop(true).await;
}
