//! Watch channels, push delivery, fault injection.

use super::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use calsync_sandboxes::google::Fault;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A webhook receiver on loopback that records headers and answers `statuses` in turn
/// (then 200).
async fn receiver(statuses: Vec<u16>) -> (String, Seen, actix_web::dev::ServerHandle) {
    let seen: Seen = Arc::default();
    let queue = Arc::new(Mutex::new(statuses));
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
                    let next = {
                        let mut q = q.lock().unwrap();
                        if q.is_empty() {
                            200
                        } else {
                            q.remove(0)
                        }
                    };
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
