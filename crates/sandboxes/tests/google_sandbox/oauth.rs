//! OAuth consent and token endpoint.

use super::*;
use serde_json::{json, Value};

#[tokio::test]
async fn oauth_code_flow_refreshes_until_the_user_revokes_the_grant() {
    let env = env().await;
    let code = env.code().await;
    let (status, body) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "codes are single use"
    );

    let (status, body) = env
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 200);
    assert!(
        body.get("refresh_token").is_none(),
        "a refresh grant keeps the old refresh token"
    );
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        env.get(access, "/calendars/primary/events", &[]).await.0,
        200
    );

    env.st.revoke_refresh_tokens(USER);
    let (status, body) = env
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    env.sb.stop().await;
}

#[tokio::test]
async fn token_endpoint_refuses_json_bodies_wrong_secrets_and_a_changed_redirect_uri() {
    let env = env().await;
    let code = env.code().await;
    let json_body = json!({"grant_type": "authorization_code", "code": code});
    let resp = env
        .http
        .post(env.sb.token_url())
        .json(&json_body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", "calsync-sandbox.apps.googleusercontent.com"),
        ("client_secret", "nope"),
    ];
    let resp = env
        .http
        .post(env.sb.token_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let (status, body) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("redirect_uri_mismatch"))
    );
}

#[tokio::test]
async fn consent_without_offline_access_or_with_an_unknown_client_gives_no_refresh_token() {
    let env = env().await;
    let resp = env.consent(&[("login_hint", "online@example.com")]).await;
    let code = query(resp.headers()["location"].to_str().unwrap())["code"].clone();
    let (_, body) = env
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert!(body.get("refresh_token").is_none());
    let resp = env
        .http
        .get(env.sb.auth_url())
        .query(&[
            ("client_id", "unknown"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", SCOPE),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn expired_access_tokens_get_401_auth_error() {
    let env = env().await;
    let token = env.access_token().await;
    env.st.expire_access_tokens();
    let (status, body) = env.get(&token, "/calendars/primary/events", &[]).await;
    assert_eq!((status, reason(&body)), (401, "authError"));
    let (status, _) = env
        .get("ya29.made-up", "/calendars/primary/events", &[])
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn reconnecting_gets_a_new_refresh_token_only_with_prompt_consent() {
    let env = env().await;
    let first = env.exchange(&env.code().await).await;
    assert!(first.get("refresh_token").is_some());
    let again = env.code().await;
    assert!(
        env.exchange(&again).await.get("refresh_token").is_none(),
        "a second offline consent without prompt=consent yields no refresh token"
    );
    let forced = env
        .code_with(&[
            ("access_type", "offline"),
            ("login_hint", USER),
            ("prompt", "consent"),
        ])
        .await;
    assert!(env.exchange(&forced).await.get("refresh_token").is_some());
}

#[tokio::test]
async fn a_denied_consent_redirects_with_access_denied_and_the_state() {
    let env = env().await;
    env.st.deny_next_consent();
    let resp = env.consent(&[("access_type", "offline")]).await;
    assert_eq!(resp.status(), 302);
    let q = query(resp.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st4te");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn client_credentials_may_come_as_http_basic() {
    let env = env().await;
    let code = env.code().await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let resp = env
        .http
        .post(env.sb.token_url())
        .basic_auth(env.sb.client_id(), Some(env.sb.client_secret()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let wrong = env
        .http
        .post(env.sb.token_url())
        .basic_auth(env.sb.client_id(), Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "1//x")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}
