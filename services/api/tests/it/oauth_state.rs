//! The OAuth `state` is bound to the browser that started the connect (a cookie) and
//! is single-use: a replayed or transplanted callback is refused and stores nothing.

use crate::connect::sandbox_app;
use crate::helpers::error_code;

/// Connect → consent as the app's browser; returns the callback URL the provider sent.
async fn consent(app: &crate::helpers::TestApp, specialist: uuid::Uuid) -> String {
    let res = app
        .operator_get(&format!(
            "/api/integrations/google/connect?specialistId={specialist}"
        ))
        .await;
    assert_eq!(res.status(), 302);
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.starts_with("calsync_oauth_state="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let consent = res.headers()["location"].to_str().unwrap().to_owned();
    let res = app.client.get(&consent).send().await.unwrap();
    assert_eq!(res.status(), 302);
    res.headers()["location"].to_str().unwrap().to_owned()
}

async fn connection_count(app: &crate::helpers::TestApp) -> usize {
    let mut conn = app.pool().get().await.unwrap();
    calsync_db::connections::list(&mut conn, None)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-replay", "UTC").await;
    let callback = consent(&app, id).await;
    let first = app.client.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let again = app.client.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(error_code(again).await, "invalid_state");
    assert_eq!(connection_count(&app).await, 1);
    assert_eq!(
        app.env.drain_work_queue().await.unwrap().len(),
        1,
        "one first sync; the replay enqueued nothing"
    );
}

#[tokio::test]
async fn a_state_carried_to_another_browser_is_refused_and_stores_nothing() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-transplant", "UTC").await;
    let callback = consent(&app, id).await;
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = stranger.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "invalid_state");
    assert_eq!(connection_count(&app).await, 0);
    // The browser that started it can still finish: the refusal spent nothing.
    let own = app.client.get(&callback).send().await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(
        app.env.drain_work_queue().await.unwrap().len(),
        1,
        "only the browser's own callback asked for a sync"
    );
}
