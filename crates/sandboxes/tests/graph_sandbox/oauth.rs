//! The v2.0 code flow, rotating refresh tokens, `invalid_grant`, bearer checks, throttling.

use std::time::Duration;

use serde_json::Value;

use crate::support::{authorize, connect, http, sandbox, token, REDIRECT};

#[tokio::test]
async fn a_code_is_exchanged_once_and_refresh_tokens_rotate_until_revoked() {
    let sb = sandbox().await;
    let code = authorize(&sb, "offline_access Calendars.ReadWrite User.Read").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];

    let (status, first) = token(&sb, &form).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    assert!(first["expires_in"].as_i64().is_some_and(|s| s > 0));
    assert!(first["ext_expires_in"].as_i64().is_some());
    assert!(first["scope"]
        .as_str()
        .is_some_and(|s| s.contains("https://graph.microsoft.com/Calendars.ReadWrite")));
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let (status, reused) = token(&sb, &form).await;
    assert_eq!(status, 400);
    assert_eq!(reused["error"], "invalid_grant");
    assert_eq!(reused["error_codes"][0], 54005);

    let (status, second) = token(
        &sb,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(rt1, rt2, "refresh tokens rotate");

    // The old one dies once the reuse grace is over.
    sb.state().advance_clock(Duration::from_secs(120));
    let (status, stale) = token(
        &sb,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(stale["error"], "invalid_grant");

    sb.state().revoke_refresh_tokens("agent@contoso.com");
    let (status, revoked) = token(
        &sb,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(revoked["error"], "invalid_grant");
    assert_eq!(revoked["error_codes"], serde_json::json!([70008]));
    assert!(revoked["error_description"]
        .as_str()
        .is_some_and(|d| d.starts_with("AADSTS70008:")));
    sb.stop().await;
}

#[tokio::test]
async fn no_refresh_token_is_issued_without_offline_access() {
    let sb = sandbox().await;
    let code = authorize(&sb, "Calendars.ReadWrite").await;
    let (status, body) = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());
    sb.stop().await;
}

#[tokio::test]
async fn a_wrong_client_secret_or_redirect_uri_is_refused() {
    let sb = sandbox().await;
    let code = authorize(&sb, "offline_access Calendars.ReadWrite").await;
    let res = http()
        .post(sb.token_url())
        .form(&[
            ("client_id", crate::support::config().client_id.as_str()),
            ("client_secret", "wrong"),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"],
        "invalid_client"
    );

    let (status, body) = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    sb.stop().await;
}

#[tokio::test]
async fn a_json_token_request_is_refused_as_missing_grant_type() {
    let sb = sandbox().await;
    let res = http()
        .post(sb.token_url())
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
    sb.stop().await;
}

#[tokio::test]
async fn api_calls_need_a_live_bearer_token() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let me = format!("{}/me", sb.graph_base());

    let res = http().get(&me).send().await.expect("me");
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["code"],
        "InvalidAuthenticationToken"
    );

    let res = http()
        .get(&me)
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("json")["userPrincipalName"],
        "agent@contoso.com"
    );

    sb.state().advance_clock(Duration::from_secs(3600));
    let res = http()
        .get(&me)
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    sb.stop().await;
}

#[tokio::test]
async fn injected_throttling_answers_429_with_retry_after_then_recovers() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    sb.state().inject_throttle(2, 7);
    let me = format!("{}/me", sb.graph_base());
    for _ in 0..2 {
        let res = http()
            .get(&me)
            .bearer_auth(&access)
            .send()
            .await
            .expect("me");
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "7");
        assert_eq!(
            res.json::<Value>().await.expect("json")["error"]["code"],
            "TooManyRequests"
        );
    }
    let res = http()
        .get(&me)
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), 200);

    sb.state().inject_unavailable(1, 3);
    let res = http()
        .get(&me)
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "3");
    sb.stop().await;
}

#[tokio::test]
async fn a_repeated_transaction_id_returns_the_same_event_and_bad_bodies_are_refused() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let url = format!("{}/me/events", sb.graph_base());
    let mut body = crate::support::event("Booking", "2026-01-05T10:00:00", "2026-01-05T11:00:00");
    body["transactionId"] = "appt-42".into();
    let a: Value = http()
        .post(&url)
        .bearer_auth(&access)
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let b: Value = http()
        .post(&url)
        .bearer_auth(&access)
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(a["id"], b["id"]);

    let all_day = serde_json::json!({
        "subject": "Off", "isAllDay": true,
        "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-06T00:00:00", "timeZone": "UTC"},
    });
    let res = http()
        .post(&url)
        .bearer_auth(&access)
        .json(&all_day)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);

    let mut unknown = crate::support::event("X", "2026-01-05T10:00:00", "2026-01-05T11:00:00");
    unknown["colour"] = "red".into();
    let res = http()
        .post(&url)
        .bearer_auth(&access)
        .json(&unknown)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["code"],
        "RequestBodyRead"
    );
    sb.stop().await;
}

#[tokio::test]
async fn extended_properties_come_back_only_when_expanded() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let prop = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsyncAppointmentId";
    let mut body = crate::support::event("Booking", "2026-01-05T10:00:00", "2026-01-05T11:00:00");
    body["singleValueExtendedProperties"] = serde_json::json!([{"id": prop, "value": "appt-7"}]);
    let created: Value = http()
        .post(format!("{}/me/events", sb.graph_base()))
        .bearer_auth(&access)
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    assert!(created.get("singleValueExtendedProperties").is_none());

    let url = format!("{}/me/events/{id}", sb.graph_base());
    let expanded: Value = http()
        .get(&url)
        .query(&[(
            "$expand",
            format!("singleValueExtendedProperties($filter=id eq '{prop}')"),
        )])
        .bearer_auth(&access)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        expanded["singleValueExtendedProperties"][0]["value"],
        "appt-7"
    );
    sb.stop().await;
}

#[tokio::test]
async fn a_deleted_event_answers_404_and_malformed_property_ids_are_refused() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let mut body = crate::support::event("Booking", "2026-01-05T10:00:00", "2026-01-05T11:00:00");
    body["singleValueExtendedProperties"] =
        serde_json::json!([{"id": "String {not-a-guid} Name calsyncAppointmentId", "value": "x"}]);
    let res = http()
        .post(format!("{}/me/events", sb.graph_base()))
        .bearer_auth(&access)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.expect("json")["error"]["code"],
        "ErrorInvalidProperty"
    );

    body["singleValueExtendedProperties"] = serde_json::json!([{
        "id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsyncAppointmentId",
        "value": "appt-9",
    }]);
    let created: Value = http()
        .post(format!("{}/me/events", sb.graph_base()))
        .bearer_auth(&access)
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let url = format!(
        "{}/me/events/{}",
        sb.graph_base(),
        created["id"].as_str().expect("id")
    );
    for expected in [204, 404] {
        let res = http()
            .delete(&url)
            .bearer_auth(&access)
            .send()
            .await
            .expect("delete");
        assert_eq!(res.status(), expected);
    }
    let res = http()
        .get(&url)
        .bearer_auth(&access)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 404);
    sb.stop().await;
}
