//! Several calendars per mailbox: `/me/calendars` with the fields a client reads, a
//! per-calendar delta that sees only its own events, subscriptions on one calendar's
//! events, and 404 for an unknown calendar id.

use serde_json::{json, Value};

use crate::support::{connect, event, http, in_minutes, sandbox, Echo, Hook, AGENT};

#[tokio::test]
async fn a_mailbox_lists_its_calendars_and_each_has_its_own_delta() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let team = sb.state().add_calendar(AGENT, "Team");
    sb.state()
        .create_event_in(
            AGENT,
            Some(&team),
            event("Team sync", "2030-01-07T10:00:00", "2030-01-07T11:00:00"),
        )
        .expect("team event");
    sb.state()
        .create_event(
            AGENT,
            event("Own", "2030-01-07T12:00:00", "2030-01-07T13:00:00"),
        )
        .expect("own event");

    let list: Value = http()
        .get(format!("{}/me/calendars", sb.graph_base()))
        .bearer_auth(&access)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let cals = list["value"].as_array().expect("value");
    assert_eq!(cals.len(), 2, "{list}");
    assert_eq!(cals[0]["isDefaultCalendar"], true);
    assert_eq!(cals[1]["id"], team.as_str());
    assert_eq!(cals[1]["name"], "Team");
    assert_eq!(cals[1]["isDefaultCalendar"], false);
    assert_eq!(cals[1]["canEdit"], true);

    let delta = |cal: &str| {
        format!(
            "{}/me/calendars/{cal}/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-02-01T00:00:00Z",
            sb.graph_base()
        )
    };
    let res = http()
        .get(delta(&team))
        .bearer_auth(&access)
        .header("Prefer", "outlook.timezone=\"UTC\"")
        .send()
        .await
        .expect("delta");
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.expect("json");
    let subjects: Vec<&str> = page["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert_eq!(subjects, ["Team sync"], "only the team calendar's events");

    let res = http()
        .get(delta("AAMkAGI-unknown"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("delta");
    assert_eq!(res.status(), 404, "an unknown calendar id is 404");

    // A subscription on one calendar's events.
    let hook = Hook::start(Echo::Correct).await;
    let sub = |resource: String| {
        http()
            .post(format!("{}/subscriptions", sb.graph_base()))
            .bearer_auth(&access)
            .json(&json!({
                "changeType": "created,updated,deleted",
                "notificationUrl": hook.url,
                "lifecycleNotificationUrl": hook.lifecycle_url(),
                "resource": resource,
                "expirationDateTime": in_minutes(&sb, 60),
                "clientState": "conn-1.hmac",
            }))
            .send()
    };
    let res = sub(format!("me/calendars/{team}/events"))
        .await
        .expect("sub");
    assert_eq!(res.status(), 201);
    let res = sub("me/calendars/AAMkAGI-unknown/events".into())
        .await
        .expect("sub");
    assert!(
        res.status().is_client_error(),
        "a subscription on an unknown calendar is refused: {}",
        res.status()
    );
    sb.stop().await;
}
