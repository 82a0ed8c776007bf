//! Google client wire tests: paging to the sync token, incremental parameters, 410, 429
//! with Retry-After, watch, OAuth errors.

use crate::mock::{MockServer, Response};
use calsync_core::event::BusyPolicy;
use calsync_core::TimeRange;
use calsync_providers::google::GoogleClient;
use calsync_providers::http::RetryPolicy;
use calsync_providers::{GoogleConfig, ProviderError, SyncChange, SyncWindow};
use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::time::{Duration, Instant};
use url::Url;

fn client(base: &str) -> GoogleClient {
    let cfg = GoogleConfig {
        client_id: "cid".into(),
        client_secret: SecretString::from("csecret"),
        api_base: Url::parse(&format!("{base}/calendar/v3")).unwrap(),
        auth_url: Url::parse(&format!("{base}/o/oauth2/v2/auth")).unwrap(),
        token_url: Url::parse(&format!("{base}/token")).unwrap(),
        redirect_uri: Url::parse("http://127.0.0.1:1/api/integrations/google/callback").unwrap(),
    };
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    GoogleClient::with_retry(cfg, reqwest::Client::new(), retry)
}

fn window() -> SyncWindow {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    SyncWindow {
        range: TimeRange {
            start,
            end: start + chrono::Duration::days(90),
        },
        tz: chrono_tz::UTC,
        policy: BusyPolicy::default(),
    }
}

fn token() -> SecretString {
    SecretString::from("at")
}

fn timed(id: &str) -> serde_json::Value {
    json!({"id": id, "status": "confirmed", "start": {"dateTime": "2026-01-05T10:00:00Z"}, "end": {"dateTime": "2026-01-05T11:00:00Z"}})
}

#[tokio::test]
async fn a_full_sync_follows_pages_including_empty_ones_to_the_sync_token() {
    let server = MockServer::start(|req| match req.query.get("pageToken").map(String::as_str) {
        None => Response::json(200, json!({"items": [timed("a")], "nextPageToken": "p2"})),
        Some("p2") => Response::json(200, json!({"items": [], "nextPageToken": "p3"})),
        Some("p3") => Response::json(
            200,
            json!({"items": [timed("b")], "nextSyncToken": "sync-1"}),
        ),
        Some(_) => Response::json(400, json!({})),
    })
    .await;
    let batch = client(&server.base)
        .sync_events(&token(), "me@example.com", None, &window())
        .await
        .unwrap();
    assert!(batch.full);
    assert_eq!(batch.next_cursor, "sync-1");
    let ids: Vec<_> = batch
        .changes
        .iter()
        .map(SyncChange::provider_event_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path, "/calendar/v3/calendars/me@example.com/events");
    assert_eq!(reqs[0].headers["authorization"], "Bearer at");
    assert_eq!(reqs[0].query["singleEvents"], "true");
    assert_eq!(reqs[0].query["maxResults"], "2500");
    assert_eq!(reqs[0].query["timeMin"], "2026-01-01T00:00:00Z");
    assert!(!reqs[0].query.contains_key("orderBy"));
    assert_eq!(
        reqs[2].query["timeMin"], "2026-01-01T00:00:00Z",
        "same filters on every page"
    );
}

#[tokio::test]
async fn an_incremental_sync_sends_the_token_without_forbidden_filters_and_maps_removals() {
    let server = MockServer::start(|_| {
        Response::json(200, json!({"items": [{"id": "gone", "status": "cancelled"}, timed("new")], "nextSyncToken": "sync-2"}))
    })
    .await;
    let batch = client(&server.base)
        .sync_events(&token(), "primary", Some("sync-1"), &window())
        .await
        .unwrap();
    assert!(!batch.full);
    assert_eq!(batch.next_cursor, "sync-2");
    assert_eq!(
        batch.changes[0],
        SyncChange::Remove {
            provider_event_id: "gone".into()
        }
    );
    let q = &server.requests()[0].query;
    assert_eq!(q["syncToken"], "sync-1");
    assert_eq!(q["singleEvents"], "true");
    for forbidden in [
        "timeMin",
        "timeMax",
        "orderBy",
        "q",
        "updatedMin",
        "iCalUID",
        "privateExtendedProperty",
    ] {
        assert!(
            !q.contains_key(forbidden),
            "{forbidden} sent with syncToken"
        );
    }
}

#[tokio::test]
async fn an_expired_sync_token_means_full_sync_required() {
    let server = MockServer::start(|_| {
        Response::json(410, json!({"error": {"code": 410, "message": "Sync token is no longer valid", "errors": [{"domain": "global", "reason": "fullSyncRequired"}]}}))
    })
    .await;
    let err = client(&server.base)
        .sync_events(&token(), "primary", Some("old"), &window())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::SyncStateExpired), "{err:?}");
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_it_asks_for() {
    // First answer 429 with Retry-After: 1, then the normal page.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c2 = calls.clone();
    let limited = MockServer::start(move |_| {
        if c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Response::json(
                429,
                json!({"error": {"code": 429, "errors": [{"reason": "rateLimitExceeded"}]}}),
            )
            .with_header("Retry-After", "1")
        } else {
            Response::json(200, json!({"items": [timed("a")], "nextSyncToken": "s"}))
        }
    })
    .await;
    let started = Instant::now();
    let batch = client(&limited.base)
        .sync_events(&token(), "primary", None, &window())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(batch.changes.len(), 1);
    assert_eq!(limited.requests().len(), 2);
}

#[tokio::test]
async fn a_403_that_is_not_a_rate_limit_is_not_retried() {
    let server = MockServer::start(|_| {
        Response::json(403, json!({"error": {"code": 403, "errors": [{"reason": "forbidden"}], "message": "no access"}}))
    })
    .await;
    let err = client(&server.base)
        .sync_events(&token(), "primary", None, &window())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Forbidden { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn watch_posts_the_channel_and_stores_the_granted_expiration() {
    let server = MockServer::start(|_| {
        Response::json(200, json!({"kind": "api#channel", "id": "ch-1", "resourceId": "res-9", "resourceUri": "x", "token": "t", "expiration": "1767225600000"}))
    })
    .await;
    let address = Url::parse("https://ingest.example/webhooks/google").unwrap();
    let ch = client(&server.base)
        .watch(
            &token(),
            "primary",
            "ch-1",
            &address,
            "v1.tok",
            Duration::from_secs(604_800),
        )
        .await
        .unwrap();
    assert_eq!(ch.resource_id, "res-9");
    assert_eq!(
        ch.expires_at,
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    );
    let req = &server.requests()[0];
    assert_eq!(req.path, "/calendar/v3/calendars/primary/events/watch");
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"id": "ch-1", "type": "web_hook", "address": "https://ingest.example/webhooks/google", "token": "v1.tok", "params": {"ttl": "604800"}})
    );
}

#[tokio::test]
async fn stopping_an_unknown_channel_is_not_an_error() {
    let server = MockServer::start(|_| {
        Response::json(
            404,
            json!({"error": {"code": 404, "message": "Channel not found"}}),
        )
    })
    .await;
    client(&server.base)
        .stop_channel(&token(), "ch", "res")
        .await
        .unwrap();
    assert_eq!(server.requests()[0].path, "/calendar/v3/channels/stop");
}

#[tokio::test]
async fn a_revoked_refresh_token_is_invalid_grant_and_a_refresh_keeps_no_new_refresh_token() {
    let server = MockServer::start(|req| {
        if req.body.contains("refresh_token=dead") {
            Response::json(400, json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}))
        } else {
            Response::json(200, json!({"access_token": "new-at", "expires_in": 3599, "scope": "s", "token_type": "Bearer"}))
        }
    })
    .await;
    let c = client(&server.base);
    let err = c.refresh(&SecretString::from("dead")).await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidGrant { .. }), "{err:?}");
    let t = c.refresh(&SecretString::from("good")).await.unwrap();
    assert_eq!(t.access_token.expose_secret(), "new-at");
    assert!(t.refresh_token.is_none());
    let req = &server.requests()[1];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(req.body.contains("grant_type=refresh_token") && req.body.contains("client_id=cid"));
}

#[tokio::test]
async fn a_watch_of_unknown_outcome_is_not_retried_and_the_tried_channel_is_stopped() {
    let server = MockServer::start(|req| {
        if req.path.ends_with("/events/watch") {
            Response::json(
                503,
                json!({"error": {"code": 503, "message": "backendError"}}),
            )
        } else {
            Response::json(204, json!({}))
        }
    })
    .await;
    let signer = calsync_providers::security::WebhookSigner::new(SecretString::from("s"));
    let current = calsync_providers::webhooks::CurrentWebhook {
        channel_id: Some("old-channel"),
        resource_id: Some("res-1"),
        subscription_id: None,
        siblings: &[],
    };
    let err = calsync_providers::webhooks::renew_google(
        &client(&server.base),
        &token(),
        "primary",
        uuid::Uuid::new_v4(),
        &signer,
        "https://i.example",
        &current,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProviderError::OutcomeUnknown(_)), "{err:?}");
    let reqs = server.requests();
    let watches: Vec<_> = reqs.iter().filter(|r| r.path.ends_with("/watch")).collect();
    assert_eq!(watches.len(), 1, "a watch is never repeated blindly");
    let tried: serde_json::Value = serde_json::from_str(&watches[0].body).unwrap();
    let stops: Vec<serde_json::Value> = reqs
        .iter()
        .filter(|r| r.path.ends_with("/channels/stop"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(stops.len(), 1, "{reqs:?}");
    assert_eq!(
        stops[0]["id"], tried["id"],
        "the channel we tried is stopped"
    );
    assert_eq!(stops[0]["resourceId"], "res-1");
}
