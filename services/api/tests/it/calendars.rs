//! `GET|PUT /api/integrations/connections/{id}/calendars`: who may call it (operator or
//! the agent's own JWT), what the Google sandbox's calendar list becomes, and the
//! refusals (ICS feeds, unknown connections, a read-only write target's absence of ids).

use crate::connect::{connect_google, sandbox_app};
use crate::helpers::error_code;
use chrono::Duration;
use serde_json::{json, Value};

#[tokio::test]
async fn the_agent_lists_and_chooses_calendars_and_others_are_refused() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-cals", "UTC").await;
    let other = app.create_specialist("agent-other", "UTC").await;
    let (status, body) = connect_google(&app, id).await;
    assert_eq!(status, 200, "{body}");
    let connection: uuid::Uuid = body["connectionId"].as_str().unwrap().parse().unwrap();
    let team = app
        .env
        .google()
        .state()
        .add_calendar("agent@example.com", "Team");
    let path = format!("/api/integrations/connections/{connection}/calendars");

    let token = app.agent_token("agent-cals", Duration::minutes(5));
    let res = app.agent_get(&path, &token).await;
    assert_eq!(res.status(), 200);
    let listed: Value = res.json().await.unwrap();
    assert_eq!(
        listed,
        json!({"calendars": [
            {"id": "primary", "name": "agent@example.com", "primary": true, "blocking": true, "writeTo": true},
            {"id": team, "name": "Team", "primary": false, "blocking": false, "writeTo": false},
        ]})
    );

    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 401, "no credential");
    let stranger = app.agent_token("agent-other", Duration::minutes(5));
    let res = app.agent_get(&path, &stranger).await;
    assert_eq!(res.status(), 403, "another agent's connection ({other})");
    let res = app
        .operator_get(&format!(
            "/api/integrations/connections/{}/calendars",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(res.status(), 404);

    // The agent makes the team calendar blocking and the bookings' home.
    let res = app
        .client
        .put(app.url(&path))
        .bearer_auth(&token)
        .json(&json!({"blocking": ["primary", team], "writeTo": team}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let chosen: Value = res.json().await.unwrap();
    assert_eq!(chosen["calendars"][1]["blocking"], true, "{chosen}");
    assert_eq!(chosen["calendars"][1]["writeTo"], true, "{chosen}");
    assert_eq!(chosen["calendars"][0]["writeTo"], false, "{chosen}");
    let mut conn = app.pool().get().await.unwrap();
    let target = calsync_db::calendars::write_target(&mut conn, connection)
        .await
        .unwrap();
    assert_eq!(target.as_deref(), Some(team.as_str()));

    // The provider's own id of the primary calendar names it too.
    let res = app
        .client
        .put(app.url(&path))
        .bearer_auth(&token)
        .json(&json!({"blocking": ["agent@example.com"], "writeTo": "agent@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let back: Value = res.json().await.unwrap();
    assert_eq!(back["calendars"][0]["writeTo"], true, "{back}");
    assert_eq!(back["calendars"][1]["blocking"], false, "{back}");

    let res = app
        .client
        .put(app.url(&path))
        .bearer_auth(&token)
        .json(&json!({"blocking": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "writeTo is required in the body");
    // The choices asked for syncs; this test runs no worker.
    app.env.drain_work_queue().await.unwrap();
}

#[tokio::test]
async fn an_ics_connection_has_no_calendars_to_choose() {
    let app = sandbox_app("http://127.0.0.1:9").await;
    let id = app.create_specialist("agent-ics", "UTC").await;
    let connection = app.connect_calendar(id, "ics").await;
    let path = format!("/api/integrations/connections/{connection}/calendars");
    let res = app.operator_get(&path).await;
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "calendars_not_supported");
    let res = app
        .client
        .put(app.url(&path))
        .bearer_auth(app.operator_token())
        .json(&json!({"blocking": [], "writeTo": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(error_code(res).await, "calendars_not_supported");
}
