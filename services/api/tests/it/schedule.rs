//! `GET /agent/schedule`: the server-rendered week page.

use crate::helpers::{at, next_monday, TestApp};
use chrono::Duration;

#[tokio::test]
async fn the_schedule_page_shows_the_week_escaped_with_a_reconnect_banner() {
    let app = TestApp::spawn().await;
    let id = app.create_specialist("agent-a", "Europe/Berlin").await;
    let conn = app.connect_calendar(id, "google").await;
    let day = next_monday();
    app.add_event(
        conn,
        id,
        "g-1",
        "<b>Board</b> & review",
        at(day, 9, 0),
        at(day, 10, 0),
    )
    .await;
    assert_eq!(
        app.book(id, at(day, 12, 0), at(day, 13, 0)).await.status(),
        201
    );
    app.sql(&format!(
        "UPDATE calendar_connections SET needs_reauth = true WHERE id = '{conn}'"
    ))
    .await;

    let token = app.agent_token("agent-a", Duration::hours(1));
    let week = day.format("%Y-%m-%d");
    let res = app
        .get(&format!("/agent/schedule?week={week}&token={token}"))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(
        html.contains("&lt;b&gt;Board&lt;/b&gt; &amp; review"),
        "title escaped"
    );
    assert!(!html.contains("<b>Board"), "raw title must not appear");
    assert!(html.contains("Booking: Ada Lovelace"));
    assert!(html.contains("provider-google") && html.contains("item marketplace"));
    assert!(html.contains("Europe/Berlin"));
    assert!(html.contains("class=\"banner\""), "reauth banner");
    assert!(html.contains(&format!(
        "/api/integrations/google/connect?specialistId={id}&amp;token="
    )));
    assert!(html.contains(&format!(
        "week={}",
        (day - Duration::days(7)).format("%Y-%m-%d")
    )));

    // The reconnect link works from a browser: the token in the query is accepted.
    let res = app
        .get(&format!(
            "/api/integrations/google/connect?specialistId={id}&token={token}"
        ))
        .await;
    assert_ne!(res.status(), 401);
}

#[tokio::test]
async fn the_schedule_page_needs_a_valid_agent_token() {
    let app = TestApp::spawn().await;
    app.create_specialist("agent-b", "UTC").await;
    assert_eq!(app.get("/agent/schedule").await.status(), 401);
    assert_eq!(app.get("/agent/schedule?token=forged").await.status(), 401);
    let res = app
        .agent_get(
            "/agent/schedule",
            &app.agent_token("agent-b", Duration::hours(1)),
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("token="),
        "a header token is never written into links"
    );
    let bad = app
        .agent_get(
            "/agent/schedule?week=someday",
            &app.agent_token("agent-b", Duration::hours(1)),
        )
        .await;
    assert_eq!(bad.status(), 400);
}
