//! Microsoft Graph client wire tests: nextLink → deltaLink with @removed, occurrences
//! completed from their master, expired delta tokens, foreign links, subscriptions.

use crate::mock::{MockServer, Response};
use calsync_core::event::BusyPolicy;
use calsync_core::TimeRange;
use calsync_providers::http::RetryPolicy;
use calsync_providers::microsoft::{MicrosoftClient, Subscription};
use calsync_providers::{MicrosoftConfig, ProviderError, SyncChange, SyncWindow};
use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::time::Duration;
use url::Url;

fn client(base: &str) -> MicrosoftClient {
    let cfg = MicrosoftConfig {
        client_id: "mid".into(),
        client_secret: SecretString::from("msecret"),
        graph_base: Url::parse(&format!("{base}/v1.0")).unwrap(),
        auth_url: Url::parse(&format!("{base}/common/oauth2/v2.0/authorize")).unwrap(),
        token_url: Url::parse(&format!("{base}/common/oauth2/v2.0/token")).unwrap(),
        redirect_uri: Url::parse("http://127.0.0.1:1/api/integrations/microsoft/callback").unwrap(),
    };
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    MicrosoftClient::with_retry(cfg, reqwest::Client::new(), retry)
}

fn window() -> SyncWindow {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    SyncWindow {
        range: TimeRange {
            start,
            end: start + chrono::Duration::days(60),
        },
        tz: chrono_tz::UTC,
        policy: BusyPolicy::default(),
    }
}

fn token() -> SecretString {
    SecretString::from("at")
}

fn busy(id: &str) -> serde_json::Value {
    json!({"id": id, "subject": "Meet", "showAs": "busy", "isAllDay": false, "isCancelled": false,
        "start": {"dateTime": "2026-01-05T15:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T16:00:00.0000000", "timeZone": "UTC"}})
}

#[tokio::test]
async fn an_initial_round_follows_next_links_to_the_delta_link_and_maps_removals() {
    let server = MockServer::start(|req| {
        let base = format!("http://{}", req.headers["host"]);
        if req.query.contains_key("startDateTime") {
            Response::json(200, json!({"value": [busy("e1")], "@odata.nextLink": format!("{base}/v1.0/me/calendarView/delta?$skiptoken=s1")}))
        } else if req.query.get("$skiptoken").map(String::as_str) == Some("s1") {
            Response::json(200, json!({"value": [{"id": "e0", "@removed": {"reason": "deleted"}}],
                "@odata.deltaLink": format!("{base}/v1.0/me/calendarView/delta?$deltatoken=d1")}))
        } else {
            Response::json(400, json!({"error": {"code": "BadRequest", "message": "unexpected"}}))
        }
    })
    .await;
    let batch = client(&server.base)
        .sync_events(&token(), None, None, &window())
        .await
        .unwrap();
    assert!(batch.full);
    assert_eq!(
        batch.next_cursor,
        format!("{}/v1.0/me/calendarView/delta?$deltatoken=d1", server.base)
    );
    assert!(
        matches!(&batch.changes[0], SyncChange::Upsert(e) if e.provider_event_id == "e1" && e.blocks)
    );
    assert_eq!(
        batch.changes[1],
        SyncChange::Remove {
            provider_event_id: "e0".into()
        }
    );
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/v1.0/me/calendarView/delta");
    assert_eq!(reqs[0].query["startDateTime"], "2026-01-01T00:00:00Z");
    assert_eq!(reqs[0].query["endDateTime"], "2026-03-02T00:00:00Z");
    for r in &reqs {
        assert_eq!(
            r.headers["prefer"],
            "outlook.timezone=\"UTC\", odata.maxpagesize=200"
        );
        assert_eq!(r.headers["authorization"], "Bearer at");
        // Graph refuses these on calendarView delta with 400.
        for refused in ["$expand", "$select", "$filter", "$orderby", "$search"] {
            assert!(
                !r.query.contains_key(refused),
                "{refused} sent: {:?}",
                r.query
            );
        }
    }
}

#[tokio::test]
async fn a_stored_delta_link_is_followed_as_is_on_a_named_calendar_too() {
    let server = MockServer::start(|req| {
        let base = format!("http://{}", req.headers["host"]);
        Response::json(200, json!({"value": [], "@odata.deltaLink": format!("{base}/v1.0/me/calendars/c1/calendarView/delta?$deltatoken=d3")}))
    })
    .await;
    let link = format!(
        "{}/v1.0/me/calendars/c1/calendarView/delta?$deltatoken=d2",
        server.base
    );
    let batch = client(&server.base)
        .sync_events(&token(), Some("c1"), Some(&link), &window())
        .await
        .unwrap();
    assert!(!batch.full);
    assert!(batch.next_cursor.ends_with("$deltatoken=d3"));
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1.0/me/calendars/c1/calendarView/delta");
    assert_eq!(r.query["$deltatoken"], "d2");
    assert!(!r.query.contains_key("startDateTime"));
}

#[tokio::test]
async fn an_occurrence_with_only_its_master_id_is_completed_from_the_master_once() {
    let server = MockServer::start(|req| {
        let base = format!("http://{}", req.headers["host"]);
        if req.path == "/v1.0/me/events/master-1" {
            return Response::json(200, json!({"id": "master-1", "subject": "Weekly", "showAs": "tentative", "type": "seriesMaster"}));
        }
        let occ = |id: &str, day: u32| json!({"id": id, "type": "occurrence", "seriesMasterId": "master-1",
            "start": {"dateTime": format!("2026-01-{day:02}T09:00:00.0000000"), "timeZone": "UTC"},
            "end": {"dateTime": format!("2026-01-{day:02}T10:00:00.0000000"), "timeZone": "UTC"}});
        Response::json(200, json!({"value": [occ("o1", 5), occ("o2", 12)], "@odata.deltaLink": format!("{base}/v1.0/d?$deltatoken=x")}))
    })
    .await;
    let batch = client(&server.base)
        .sync_events(&token(), None, None, &window())
        .await
        .unwrap();
    assert_eq!(batch.changes.len(), 2);
    for c in &batch.changes {
        let SyncChange::Upsert(e) = c else {
            panic!("{c:?}")
        };
        assert_eq!(e.title.as_deref(), Some("Weekly"));
        assert_eq!(e.status, calsync_core::EventStatus::Tentative);
    }
    let master_gets: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("master-1"))
        .collect();
    assert_eq!(master_gets.len(), 1, "master fetched once per round");
    assert!(master_gets[0].query["$expand"].contains("calsyncAppointmentId"));
}

#[tokio::test]
async fn an_expired_delta_token_means_full_resync() {
    let gone = MockServer::start(|_| {
        Response::json(
            410,
            json!({"error": {"code": "SyncStateNotFound", "message": "expired"}}),
        )
    })
    .await;
    let link = format!("{}/v1.0/me/calendarView/delta?$deltatoken=old", gone.base);
    let err = client(&gone.base)
        .sync_events(&token(), None, Some(&link), &window())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::SyncStateExpired), "{err:?}");
    let bad = MockServer::start(|_| Response::json(400, json!({"error": {"code": "syncStateNotFound", "message": "The sync state generation is not found."}}))).await;
    let link = format!("{}/v1.0/me/calendarView/delta?$deltatoken=old", bad.base);
    let err = client(&bad.base)
        .sync_events(&token(), None, Some(&link), &window())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::SyncStateExpired), "{err:?}");
    let resync = MockServer::start(|_| {
        Response::json(
            410,
            json!({"error": {"code": "resyncRequired", "message": "The delta token is no longer valid, and the app must reset the sync state."}}),
        )
    })
    .await;
    let link = format!("{}/v1.0/me/calendarView/delta?$deltatoken=old", resync.base);
    let err = client(&resync.base)
        .sync_events(&token(), None, Some(&link), &window())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::SyncStateExpired), "{err:?}");
}

#[tokio::test]
async fn reauthorizing_a_subscription_accepts_graphs_204_without_a_body() {
    let server = MockServer::start(|_| Response {
        status: 204,
        headers: Vec::new(),
        body: String::new(),
    })
    .await;
    client(&server.base)
        .reauthorize_subscription(&token(), "sub-1")
        .await
        .unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "no retry of a success");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/v1.0/subscriptions/sub-1/reauthorize")
    );
}

#[tokio::test]
async fn a_delta_link_to_another_origin_is_refused_without_sending_the_token() {
    let server = MockServer::start(|_| Response::json(200, json!({}))).await;
    let err = client(&server.base)
        .sync_events(
            &token(),
            None,
            Some("http://127.0.0.1:1/v1.0/me/calendarView/delta?$deltatoken=x"),
            &window(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::InvalidUrl(_)), "{err:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_throttled_delta_page_is_retried_after_retry_after() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c2 = calls.clone();
    let server = MockServer::start(move |req| {
        let base = format!("http://{}", req.headers["host"]);
        if c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Response::json(429, json!({"error": {"code": "ApplicationThrottled", "message": "slow down"}})).with_header("Retry-After", "1")
        } else {
            Response::json(200, json!({"value": [busy("e1")], "@odata.deltaLink": format!("{base}/v1.0/d?$deltatoken=1")}))
        }
    })
    .await;
    let started = std::time::Instant::now();
    let batch = client(&server.base)
        .sync_events(&token(), None, None, &window())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(batch.changes.len(), 1);
}

#[tokio::test]
async fn a_subscription_is_created_with_the_documented_body_and_the_granted_expiry_is_kept() {
    let server = MockServer::start(|_| Response::json(201, json!({"id": "sub-1", "expirationDateTime": "2026-01-04T10:00:00Z", "resource": "me/events"}))).await;
    let asked = Utc.with_ymd_and_hms(2026, 1, 8, 10, 0, 0).unwrap();
    let s = client(&server.base)
        .create_subscription(
            &token(),
            "me/events",
            &Url::parse("https://i.example/webhooks/microsoft").unwrap(),
            &Url::parse("https://i.example/webhooks/microsoft/lifecycle").unwrap(),
            "v1.abc.def",
            asked,
        )
        .await
        .unwrap();
    assert_eq!(
        s,
        Subscription {
            id: "sub-1".into(),
            expires_at: Utc.with_ymd_and_hms(2026, 1, 4, 10, 0, 0).unwrap()
        }
    );
    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1.0/subscriptions")
    );
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["changeType"], "created,updated,deleted");
    assert_eq!(
        body["notificationUrl"],
        "https://i.example/webhooks/microsoft"
    );
    assert_eq!(
        body["lifecycleNotificationUrl"],
        "https://i.example/webhooks/microsoft/lifecycle"
    );
    assert_eq!(body["clientState"], "v1.abc.def");
    assert_eq!(body["latestSupportedTlsVersion"], "v1_2");
    assert_eq!(body["expirationDateTime"], "2026-01-08T10:00:00Z");
}

#[tokio::test]
async fn renewing_a_vanished_subscription_reports_not_found_and_deleting_it_is_fine() {
    let server = MockServer::start(|_| {
        Response::json(
            404,
            json!({"error": {"code": "ResourceNotFound", "message": "gone"}}),
        )
    })
    .await;
    let c = client(&server.base);
    let err = c
        .renew_subscription(&token(), "sub-1", Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound), "{err:?}");
    c.delete_subscription(&token(), "sub-1").await.unwrap();
    let reqs = server.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("PATCH", "/v1.0/subscriptions/sub-1")
    );
    assert_eq!(reqs[1].method, "DELETE");
}

#[tokio::test]
async fn a_microsoft_refresh_returns_the_rotated_refresh_token() {
    let server = MockServer::start(|_| Response::json(200, json!({"token_type": "Bearer", "scope": "Calendars.ReadWrite", "expires_in": 3600, "ext_expires_in": 3600, "access_token": "a2", "refresh_token": "r2"}))).await;
    let t = client(&server.base)
        .refresh(&SecretString::from("r1"))
        .await
        .unwrap();
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "r2");
    let body = &server.requests()[0].body;
    assert!(body.contains("grant_type=refresh_token") && body.contains("scope=offline_access"));
}

#[tokio::test]
async fn a_refused_lifetime_is_asked_again_once_within_the_maximum_graph_names() {
    // A tenant that enforces less than the setting: Graph answers 400 naming its maximum.
    let server = MockServer::start(|req| {
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
        let asked = body["expirationDateTime"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        match asked {
            Some(t) if t > Utc::now() + chrono::Duration::minutes(1000) => Response::json(
                400,
                json!({"error": {"code": "ExtensionError", "message": "Subscription expiration can only be 1000 minutes in the future."}}),
            ),
            Some(t) => Response::json(
                201,
                json!({"id": "sub-9", "expirationDateTime": t.to_rfc3339(), "resource": "me/events"}),
            ),
            None => Response::json(400, json!({"error": {"code": "BadRequest", "message": "no expiry"}})),
        }
    })
    .await;
    let signer = calsync_providers::security::WebhookSigner::new(SecretString::from("s"));
    let opened = calsync_providers::webhooks::renew_graph(
        &client(&server.base),
        &token(),
        calsync_providers::webhooks::GRAPH_RESOURCE,
        uuid::Uuid::new_v4(),
        &signer,
        "https://i.example",
        &calsync_providers::webhooks::CurrentWebhook::default(),
        Utc::now(),
        4230,
    )
    .await
    .unwrap();
    assert_eq!(opened.subscription_id.as_deref(), Some("sub-9"));
    assert!(opened.expires_at <= Utc::now() + chrono::Duration::minutes(1000));
    assert_eq!(
        server.requests().len(),
        2,
        "one refusal, one retry, no more"
    );
}

#[tokio::test]
async fn a_subscription_create_of_unknown_outcome_deletes_the_strays_at_our_url() {
    let server = MockServer::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/v1.0/subscriptions") => Response::json(
            504,
            json!({"error": {"code": "GatewayTimeout", "message": "timed out"}}),
        ),
        ("GET", "/v1.0/subscriptions") => Response::json(
            200,
            json!({"value": [
                {"id": "stray", "expirationDateTime": "2026-01-04T10:00:00Z", "notificationUrl": "https://i.example/webhooks/microsoft"},
                {"id": "held", "expirationDateTime": "2026-01-04T10:00:00Z", "notificationUrl": "https://i.example/webhooks/microsoft"},
                {"id": "sibling", "expirationDateTime": "2026-01-04T10:00:00Z", "notificationUrl": "https://i.example/webhooks/microsoft"},
                {"id": "elsewhere", "expirationDateTime": "2026-01-04T10:00:00Z", "notificationUrl": "https://other.example/hook"}
            ]}),
        ),
        ("PATCH", _) => Response::json(404, json!({"error": {"code": "ResourceNotFound", "message": "gone"}})),
        _ => Response::json(204, json!({})),
    })
    .await;
    let signer = calsync_providers::security::WebhookSigner::new(SecretString::from("s"));
    // Another calendar of the same connection holds "sibling": it is not a stray.
    let siblings = vec!["sibling".to_owned()];
    let current = calsync_providers::webhooks::CurrentWebhook {
        channel_id: None,
        resource_id: None,
        subscription_id: Some("held"),
        siblings: &siblings,
    };
    let err = calsync_providers::webhooks::renew_graph(
        &client(&server.base),
        &token(),
        &calsync_providers::webhooks::graph_resource("cal-2"),
        uuid::Uuid::new_v4(),
        &signer,
        "https://i.example",
        &current,
        Utc::now(),
        4230,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProviderError::OutcomeUnknown(_)), "{err:?}");
    let reqs = server.requests();
    let creates = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1.0/subscriptions")
        .count();
    assert_eq!(creates, 1, "a create is never repeated blindly");
    let deleted: Vec<_> = reqs
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(deleted, ["/v1.0/subscriptions/stray"]);
}
