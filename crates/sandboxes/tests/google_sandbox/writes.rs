//! Event writes: validation and private properties.

use super::*;
use serde_json::{json, Value};

#[tokio::test]
async fn writes_are_validated_like_google() {
    let env = env().await;
    let token = env.access_token().await;
    let cases = [
        (
            timed("backwards", "2026-03-02T10:00:00Z", "2026-03-02T09:00:00Z"),
            "timeRangeEmpty",
        ),
        (
            json!({"start": {"date": "2026-03-02"}, "end": {"dateTime": "2026-03-02T09:00:00Z"}}),
            "invalid",
        ),
        (
            timed("no zone", "2026-03-02T09:00:00", "2026-03-02T10:00:00"),
            "required",
        ),
        (json!({"start": {"date": "2026-03-02"}}), "required"),
    ];
    for (body, want) in cases {
        let resp = env
            .post(&token, "/calendars/primary/events", body.clone())
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(reason(&resp.json().await.unwrap()), want, "{body}");
    }
    let ok = env
        .post(
            &token,
            "/calendars/primary/events",
            timed(
                "fine",
                "2026-03-02T09:00:00+01:00",
                "2026-03-02T10:00:00+01:00",
            ),
        )
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn private_extended_properties_are_seen_only_by_the_app_that_wrote_them() {
    let env = env().await;
    let token = env.access_token().await;
    let mut ev = timed("booking", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z");
    ev["extendedProperties"] = json!({"private": {"calsyncAppointmentId": "a-1"}});
    let created: Value = env
        .post(&token, "/calendars/primary/events", ev)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created["extendedProperties"]["private"]["calsyncAppointmentId"],
        "a-1"
    );
    assert!(env
        .st
        .event(USER, id)
        .unwrap()
        .get("extendedProperties")
        .is_none());
    let (_, body) = env
        .get(
            &token,
            "/calendars/primary/events",
            &[("privateExtendedProperty", "calsyncAppointmentId=a-1")],
        )
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn read_only_tokens_cannot_write() {
    let env = env().await;
    let code = env
        .code_with(&[
            ("scope", "https://www.googleapis.com/auth/calendar.readonly"),
            ("login_hint", "reader@example.com"),
        ])
        .await;
    let token = env.exchange(&code).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = env.get(&token, "/calendars/primary/events", &[]).await;
    assert_eq!(status, 200);
    let resp = env
        .post(
            &token,
            "/calendars/primary/events",
            timed("x", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        reason(&resp.json().await.unwrap()),
        "insufficientPermissions"
    );
}

#[tokio::test]
async fn patch_merges_fields_and_a_second_delete_is_gone() {
    let env = env().await;
    let token = env.access_token().await;
    let id = env
        .st
        .insert_event(
            USER,
            timed("orig", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
        )
        .unwrap();
    let before = env.st.event(USER, &id).unwrap();
    let url = format!("{}/calendars/primary/events/{id}", env.sb.api_base());
    let resp = env
        .http
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"start": {"dateTime": "2026-03-02T08:00:00Z"}, "location": "Room 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let after: Value = resp.json().await.unwrap();
    assert_eq!(after["summary"], "orig");
    assert_eq!(after["location"], "Room 1");
    assert_ne!(after["etag"], before["etag"]);
    assert_eq!(after["sequence"], 1);
    let del = env
        .http
        .delete(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let again = env
        .http
        .delete(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410);
    assert_eq!(reason(&again.json().await.unwrap()), "deleted");
}

#[tokio::test]
async fn the_sandbox_admin_api_writes_as_a_coworker_and_lists_channels() {
    let env = env().await;
    let token = env.access_token().await;
    let admin = format!("{}/_sandbox/calendars/{USER}/events", env.sb.base_url());
    let mut ev = timed(
        "from coworker",
        "2026-03-02T09:00:00Z",
        "2026-03-02T10:00:00Z",
    );
    ev["organizer"] = json!({"email": "boss@example.com"});
    ev["attendees"] = json!([{"email": USER, "responseStatus": "declined"}]);
    let resp = env.http.post(&admin).json(&ev).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = env
        .get(&token, &format!("/calendars/primary/events/{id}"), &[])
        .await;
    assert_eq!(body["organizer"]["email"], "boss@example.com");
    assert!(body["organizer"].get("self").is_none());
    assert_eq!(body["attendees"][0]["self"], true);

    let del = env
        .http
        .delete(format!("{admin}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(env.st.event(USER, &id).unwrap()["status"], "cancelled");
    let channels: Value = env.admin("channels").await;
    assert_eq!(channels["items"], json!([]));
}
