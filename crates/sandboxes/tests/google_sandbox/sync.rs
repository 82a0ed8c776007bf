//! events.list: pages, sync tokens, series expansion.

use super::*;
use serde_json::json;

#[tokio::test]
async fn full_sync_pages_end_in_a_sync_token_that_returns_only_changes_and_deletions() {
    let env = env_with(GoogleSandboxConfig {
        default_page_size: 2,
        ..Default::default()
    })
    .await;
    let token = env.access_token().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let start = format!("2026-03-0{}T09:00:00Z", i + 1);
        let end = format!("2026-03-0{}T10:00:00Z", i + 1);
        ids.push(
            env.st
                .insert_event(USER, timed(&format!("m{i}"), &start, &end))
                .unwrap(),
        );
    }
    let (items, sync, pages) = list_all(&env, &token, &[("maxResults", "250")]).await;
    assert_eq!((items.len(), pages), (5, 3));

    let (status, body) = env
        .get(&token, "/calendars/primary/events", &[("syncToken", &sync)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    assert_eq!(
        body["nextSyncToken"],
        json!(sync),
        "no changes keep the same token"
    );

    env.st
        .patch_event(USER, &ids[0], json!({"summary": "moved"}))
        .unwrap();
    env.st.delete_event(USER, &ids[1]).unwrap();
    let new_id = env
        .st
        .insert_event(
            USER,
            timed("new", "2026-03-09T09:00:00Z", "2026-03-09T10:00:00Z"),
        )
        .unwrap();
    let (items, _, _) = list_all(&env, &token, &[("syncToken", &sync)]).await;
    let got: Vec<&str> = items.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str(), new_id.as_str()]);
    assert_eq!(items[0]["summary"], "moved");
    let deleted = items[1].as_object().unwrap();
    let mut keys: Vec<&str> = deleted.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["etag", "id", "kind", "status"]);
    assert_eq!(deleted["status"], "cancelled");
}

#[tokio::test]
async fn a_page_token_replayed_with_other_parameters_is_refused() {
    let env = env_with(GoogleSandboxConfig {
        default_page_size: 1,
        ..Default::default()
    })
    .await;
    let token = env.access_token().await;
    for d in 1..=2 {
        env.st
            .insert_event(
                USER,
                timed(
                    "x",
                    &format!("2026-03-0{d}T09:00:00Z"),
                    &format!("2026-03-0{d}T10:00:00Z"),
                ),
            )
            .unwrap();
    }
    let (_, body) = env.get(&token, "/calendars/primary/events", &[]).await;
    let page = body["nextPageToken"].as_str().unwrap();
    let (status, _) = env
        .get(
            &token,
            "/calendars/primary/events",
            &[("pageToken", page), ("singleEvents", "true")],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn sync_token_combined_with_time_min_is_refused_with_400() {
    let env = env().await;
    let token = env.access_token().await;
    let (_, sync, _) = list_all(&env, &token, &[("timeMin", "2026-01-01T00:00:00Z")]).await;
    assert!(
        !sync.is_empty(),
        "a timeMin-bounded full sync still yields a sync token"
    );
    let (status, body) = env
        .get(
            &token,
            "/calendars/primary/events",
            &[("syncToken", &sync), ("timeMin", "2026-01-01T00:00:00Z")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = env
        .get(
            &token,
            "/calendars/primary/events",
            &[("syncToken", &sync), ("singleEvents", "true")],
        )
        .await;
    assert_eq!(status, 400, "singleEvents must match the token's");
}

#[tokio::test]
async fn invalidated_or_garbled_sync_tokens_answer_410_full_sync_required() {
    let env = env().await;
    let token = env.access_token().await;
    let (_, sync, _) = list_all(&env, &token, &[]).await;
    env.st.invalidate_sync_tokens();
    for t in [sync.as_str(), "garbage"] {
        let (status, body) = env
            .get(&token, "/calendars/primary/events", &[("syncToken", t)])
            .await;
        assert_eq!(status, 410);
        assert_eq!(
            body["error"]["message"],
            "Sync token is no longer valid, a full sync is required."
        );
        assert_eq!(reason(&body), "fullSyncRequired");
        let item = &body["error"]["errors"][0];
        assert_eq!(
            item["domain"], "calendar",
            "as Google's error guide shows it"
        );
        assert_eq!(item["location"], "syncToken");
        assert_eq!(body["error"]["code"], 410);
    }
}

#[tokio::test]
async fn single_events_expands_a_weekly_series_and_skips_exdates() {
    let env = env().await;
    let token = env.access_token().await;
    let master = env
        .st
        .insert_event(USER, json!({
            "summary": "standup",
            "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-03-02T09:15:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20260309T090000"],
        }))
        .unwrap();
    let (items, _, _) = list_all(
        &env,
        &token,
        &[("singleEvents", "true"), ("orderBy", "startTime")],
    )
    .await;
    let ids: Vec<&str> = items.iter().map(|e| e["id"].as_str().unwrap()).collect();
    // 2026-03-29 is the switch to summer time: 09:00 Berlin is 07:00Z from then on.
    let want: Vec<String> = [
        "20260302T080000Z",
        "20260316T080000Z",
        "20260323T080000Z",
        "20260330T070000Z",
    ]
    .iter()
    .map(|s| format!("{master}_{s}"))
    .collect();
    assert_eq!(ids, want);
    assert_eq!(items[0]["recurringEventId"], json!(master));
    assert_eq!(
        items[1]["originalStartTime"]["dateTime"],
        "2026-03-16T09:00:00+01:00"
    );
    assert!(items[0].get("recurrence").is_none());

    let (items, _, _) = list_all(&env, &token, &[]).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(master));
    let (status, _) = env
        .get(
            &token,
            "/calendars/primary/events",
            &[("orderBy", "startTime")],
        )
        .await;
    assert_eq!(status, 400, "orderBy=startTime needs singleEvents=true");
}

#[tokio::test]
async fn an_incremental_single_events_sync_reports_instances_an_edit_removed_as_cancelled() {
    let env = env().await;
    let token = env.access_token().await;
    let master = env
        .st
        .insert_event(
            USER,
            json!({
                "summary": "daily",
                "start": {"dateTime": "2026-03-02T09:00:00Z", "timeZone": "UTC"},
                "end": {"dateTime": "2026-03-02T09:30:00Z", "timeZone": "UTC"},
                "recurrence": ["RRULE:FREQ=DAILY;INTERVAL=2;COUNT=3"],
            }),
        )
        .unwrap();
    let params = [("singleEvents", "true")];
    let (items, sync, _) = list_all(&env, &token, &params).await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["id"], json!(format!("{master}_20260306T090000Z")));

    env.st
        .patch_event(
            USER,
            &master,
            json!({"recurrence": ["RRULE:FREQ=DAILY;INTERVAL=2;COUNT=2"]}),
        )
        .unwrap();
    let (items, sync, _) = list_all(
        &env,
        &token,
        &[("singleEvents", "true"), ("syncToken", &sync)],
    )
    .await;
    let cancelled: Vec<&Value> = items
        .iter()
        .filter(|e| e["status"] == "cancelled")
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        cancelled[0]["id"],
        json!(format!("{master}_20260306T090000Z"))
    );
    assert_eq!(cancelled[0]["recurringEventId"], json!(master));

    env.st.delete_event(USER, &master).unwrap();
    let (items, _, _) = list_all(
        &env,
        &token,
        &[("singleEvents", "true"), ("syncToken", &sync)],
    )
    .await;
    assert_eq!(
        items.len(),
        3,
        "every instance ever shown is cancelled: {items:?}"
    );
    assert!(items.iter().all(|e| e["status"] == "cancelled"));
}

#[tokio::test]
async fn time_window_filters_by_end_after_time_min_and_start_before_time_max() {
    let env = env().await;
    let token = env.access_token().await;
    env.st
        .insert_event(
            USER,
            timed("early", "2026-03-02T08:00:00Z", "2026-03-02T09:00:00Z"),
        )
        .unwrap();
    env.st
        .insert_event(
            USER,
            timed("inside", "2026-03-02T09:30:00Z", "2026-03-02T10:30:00Z"),
        )
        .unwrap();
    env.st
        .insert_event(
            USER,
            timed("late", "2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z"),
        )
        .unwrap();
    let window = [
        ("timeMin", "2026-03-02T09:00:00Z"),
        ("timeMax", "2026-03-02T11:00:00Z"),
    ];
    let (items, _, _) = list_all(&env, &token, &window).await;
    let names: Vec<&str> = items
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["inside"]);
    let (status, body) = env
        .get(
            &token,
            "/calendars/primary/events",
            &[("timeMin", "2026-03-02T09:00:00")],
        )
        .await;
    assert_eq!(status, 400, "a time without an offset is refused: {body}");
}
