//! CORS (issue 13.4): the configured origins, on the public and portal endpoints only.

use crate::helpers::{next_monday, q, TestApp};
use chrono::Duration;

const ORIGIN: &str = "https://shop.example.com";

async fn get_with_origin(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("Origin", origin)
        .send()
        .await
        .unwrap()
}

fn allowed(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn configured_origins_may_call_public_and_portal_endpoints_and_no_others() {
    let app = TestApp::spawn_with(|s| {
        s.api.cors_origins = vec![ORIGIN.to_owned(), "http://localhost:3000".to_owned()]
    })
    .await;
    let id = app.create_specialist("agent-cors", "UTC").await;
    let day = next_monday();
    let availability = format!(
        "/api/availability?specialistId={id}&from={}&to={}&duration=60",
        q(day),
        q(day + Duration::days(1))
    );
    let res = get_with_origin(&app, &availability, ORIGIN).await;
    assert_eq!(res.status(), 200);
    assert_eq!(allowed(&res).as_deref(), Some(ORIGIN));

    let res = get_with_origin(&app, &availability, "https://evil.example").await;
    assert_eq!(res.status(), 200, "a server-side caller is still answered");
    assert_eq!(allowed(&res), None);

    // A browser's preflight for the portal, with the Authorization header.
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/appointments/mine"))
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(allowed(&res).as_deref(), Some(ORIGIN));
    let token = app.agent_token("agent-cors", Duration::minutes(5));
    let res = app
        .client
        .get(app.url("/api/appointments/mine"))
        .header("Origin", ORIGIN)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(allowed(&res).as_deref(), Some(ORIGIN));

    // Operator and marketplace endpoints are for servers: no CORS.
    let res = get_with_origin(&app, "/api/integrations/setup-webhooks", ORIGIN).await;
    assert_eq!(allowed(&res), None);
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/appointments"))
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&res), None);
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let app = TestApp::spawn().await;
    let res = get_with_origin(&app, "/api/openapi.json", ORIGIN).await;
    assert_eq!(res.status(), 200);
    assert_eq!(allowed(&res), None);
}
