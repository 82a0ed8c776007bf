//! calendarView delta: paging, delta links, `@removed`, series, zones, refusals, 410.

use calsync_sandboxes::graph::DeltaExpiry;
use serde_json::{json, Value};

use crate::support::{connect, event, http, sandbox, AGENT};

const WINDOW: [(&str, &str); 2] = [
    ("startDateTime", "2026-01-01T00:00:00Z"),
    ("endDateTime", "2026-02-01T00:00:00Z"),
];

async fn get(url: &str, access: &str, prefer: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = http().get(url).bearer_auth(access);
    if !prefer.is_empty() {
        req = req.header("Prefer", prefer);
    }
    let res = req.send().await.expect("delta");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.expect("json"))
}

/// Follows next links to the delta link; returns (items, deltaLink, pages).
async fn round(first: &str, access: &str, prefer: &str) -> (Vec<Value>, String, usize) {
    let mut url = first.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let (status, _, body) = get(&url, access, prefer).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        items.extend(body["value"].as_array().cloned().unwrap_or_default());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            url = next.to_owned();
            continue;
        }
        return (
            items,
            body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink")
                .to_owned(),
            pages,
        );
    }
}

fn initial_url(graph_base: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(WINDOW)
        .finish();
    format!("{graph_base}/me/calendarView/delta?{q}")
}

#[tokio::test]
async fn an_initial_round_pages_by_maxpagesize_and_a_delta_link_reports_only_changes() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let st = sb.state();
    let mut ids = Vec::new();
    for day in 5..10 {
        let id = st
            .create_event(
                AGENT,
                event(
                    "Meeting",
                    &format!("2026-01-{day:02}T10:00:00"),
                    &format!("2026-01-{day:02}T11:00:00"),
                ),
            )
            .expect("create");
        ids.push(id);
    }
    let (_, headers, page1) = get(
        &initial_url(&sb.graph_base()),
        &access,
        "odata.maxpagesize=2",
    )
    .await;
    assert_eq!(page1["value"].as_array().map(Vec::len), Some(2));
    assert!(page1["@odata.nextLink"]
        .as_str()
        .is_some_and(|l| l.starts_with(&sb.graph_base()) && l.contains("$skiptoken=")));
    assert!(headers["preference-applied"]
        .to_str()
        .is_ok_and(|v| v.contains("odata.maxpagesize=2")));

    let (items, delta_link, pages) = round(
        &initial_url(&sb.graph_base()),
        &access,
        "odata.maxpagesize=2",
    )
    .await;
    assert_eq!((items.len(), pages), (5, 3));
    assert!(delta_link.contains("$deltatoken="));

    let (_, _, empty) = get(&delta_link, &access, "").await;
    assert_eq!(empty["value"], json!([]));

    let added = st
        .create_event(
            AGENT,
            event("New", "2026-01-20T10:00:00", "2026-01-20T11:00:00"),
        )
        .expect("create");
    st.update_event(AGENT, &ids[0], json!({"subject": "Renamed"}))
        .expect("update");
    st.delete_event(AGENT, &ids[1]).expect("delete");
    st.update_event(AGENT, &ids[2], json!({"start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-03-02T11:00:00", "timeZone": "UTC"}}))
        .expect("move out");
    st.update_event(AGENT, &ids[3], json!({"isCancelled": true}))
        .expect("cancel");

    let (changes, _, _) = round(&delta_link, &access, "").await;
    let present: Vec<&str> = changes
        .iter()
        .filter(|c| c.get("@removed").is_none())
        .filter_map(|c| c["id"].as_str())
        .collect();
    let mut removed: Vec<&str> = changes
        .iter()
        .filter(|c| c["@removed"]["reason"] == "deleted")
        .filter_map(|c| c["id"].as_str())
        .collect();
    removed.sort_unstable();
    let mut expected = vec![ids[1].as_str(), ids[2].as_str(), ids[3].as_str()];
    expected.sort_unstable();
    assert_eq!(present.len(), 2, "{changes:?}");
    assert!(present.contains(&added.as_str()) && present.contains(&ids[0].as_str()));
    assert_eq!(removed, expected);
    assert!(changes
        .iter()
        .all(|c| c["@odata.type"] == "#microsoft.graph.event"));
    assert_eq!(st.delta_calls(), 6);
    sb.stop().await;
}

#[tokio::test]
async fn delta_refuses_select_and_a_missing_window() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let url = format!("{}&$select=subject", initial_url(&sb.graph_base()));
    let (status, _, body) = get(&url, &access, "").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "ErrorInvalidUrlQuery");

    for refused in ["$filter=showAs eq 'busy'", "$orderby=start/dateTime"] {
        let url = format!("{}&{refused}", initial_url(&sb.graph_base()));
        assert_eq!(get(&url, &access, "").await.0, 400, "{refused}");
    }
    let url = format!(
        "{}&$expand=singleValueExtendedProperties($filter=id eq 'String {{66f5a359-4659-4830-9070-00047ec6ac6e}} Name x')",
        initial_url(&sb.graph_base())
    );
    let (status, _, body) = get(&url, &access, "").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Parsing OData Select and Expand failed")),
        "{body}"
    );

    let (status, _, body) = get(
        &format!("{}/me/calendarView/delta", sb.graph_base()),
        &access,
        "",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "ErrorInvalidParameter");
    sb.stop().await;
}

#[tokio::test]
async fn an_invalidated_delta_token_answers_410_sync_state_not_found() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let (_, delta_link, _) = round(&initial_url(&sb.graph_base()), &access, "").await;
    sb.state().invalidate_delta_tokens();
    let (status, _, body) = get(&delta_link, &access, "").await;
    assert_eq!(status, 410);
    assert_eq!(body["error"]["code"], "SyncStateNotFound");

    let unknown = format!("{}/me/calendarView/delta?$skiptoken=nope", sb.graph_base());
    assert_eq!(get(&unknown, &access, "").await.0, 410);
    sb.stop().await;
}

#[tokio::test]
async fn an_expired_delta_token_can_answer_410_resync_required_or_400_sync_state_not_found() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    for (shape, status, code) in [
        (DeltaExpiry::GoneResyncRequired, 410, "resyncRequired"),
        (DeltaExpiry::BadRequest, 400, "SyncStateNotFound"),
    ] {
        let (_, delta_link, _) = round(&initial_url(&sb.graph_base()), &access, "").await;
        sb.state().set_delta_expiry(shape);
        sb.state().invalidate_delta_tokens();
        let (got, _, body) = get(&delta_link, &access, "").await;
        assert_eq!(got, status, "{shape:?}");
        assert_eq!(body["error"]["code"], code, "{shape:?}");
    }
    // The admin endpoint switches the shape too.
    let res = http()
        .post(format!("{}/_sandbox/delta/expiry", sb.base_url()))
        .json(&json!({"shape": "gone"}))
        .send()
        .await
        .expect("admin");
    assert_eq!(res.status(), 204);
    let (_, delta_link, _) = round(&initial_url(&sb.graph_base()), &access, "").await;
    sb.state().invalidate_delta_tokens();
    assert_eq!(get(&delta_link, &access, "").await.0, 410);
    sb.stop().await;
}

#[tokio::test]
async fn times_come_in_utc_without_offset_when_asked_and_in_the_event_zone_otherwise() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    sb.state()
        .create_event(
            AGENT,
            event("Berlin", "2026-01-05T16:00:00", "2026-01-05T17:00:00"),
        )
        .expect("create");

    let (items, _, _) = round(
        &initial_url(&sb.graph_base()),
        &access,
        "outlook.timezone=\"UTC\"",
    )
    .await;
    assert_eq!(
        items[0]["start"],
        json!({"dateTime": "2026-01-05T15:00:00.0000000", "timeZone": "UTC"})
    );

    let (items, _, _) = round(&initial_url(&sb.graph_base()), &access, "").await;
    assert_eq!(
        items[0]["start"],
        json!({"dateTime": "2026-01-05T16:00:00.0000000", "timeZone": "Europe/Berlin"})
    );
    sb.stop().await;
}

#[tokio::test]
async fn a_series_is_expanded_into_occurrences_and_exceptions_without_its_master() {
    let sb = sandbox().await;
    let (access, _) = connect(&sb).await;
    let st = sb.state();
    let mut series = event("Standup", "2026-01-05T09:00:00", "2026-01-05T09:15:00");
    series["recurrence"] = json!({
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 3}
    });
    let master = st.create_event(AGENT, series).expect("series");
    let (items, delta_link, _) = round(
        &initial_url(&sb.graph_base()),
        &access,
        "outlook.timezone=\"UTC\"",
    )
    .await;
    assert_eq!(items.len(), 3);
    assert!(items
        .iter()
        .all(|i| i["type"] == "occurrence" && i["seriesMasterId"] == master.as_str()));
    assert!(
        items[0].get("subject").is_none(),
        "occurrences carry few fields"
    );
    assert_eq!(items[1]["start"]["dateTime"], "2026-01-12T08:00:00.0000000");

    let res = http()
        .get(format!("{}/me/events/{master}", sb.graph_base()))
        .bearer_auth(&access)
        .send()
        .await
        .expect("get");
    let full: Value = res.json().await.expect("json");
    assert_eq!(full["type"], "seriesMaster");
    assert_eq!(full["subject"], "Standup");

    let second = items[1]["id"].as_str().expect("id").to_owned();
    st.update_event(AGENT, &second, json!({"subject": "Moved standup", "start": {"dateTime": "2026-01-12T11:00:00", "timeZone": "Europe/Berlin"}, "end": {"dateTime": "2026-01-12T11:15:00", "timeZone": "Europe/Berlin"}}))
        .expect("exception");
    let third = items[2]["id"].as_str().expect("id").to_owned();
    st.delete_event(AGENT, &third).expect("cancel occurrence");

    let (changes, _, _) = round(&delta_link, &access, "").await;
    let exception = changes
        .iter()
        .find(|c| c["id"] == second.as_str())
        .expect("exception reported");
    assert_eq!(exception["type"], "exception");
    assert_eq!(exception["subject"], "Moved standup");
    assert!(changes
        .iter()
        .any(|c| c["id"] == third.as_str() && c["@removed"]["reason"] == "deleted"));
    sb.stop().await;
}
