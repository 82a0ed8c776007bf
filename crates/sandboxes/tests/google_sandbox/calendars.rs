//! Several calendars per account: `calendarList` (primary first, paged), each secondary
//! calendar with its own events and sync tokens, and 404 for calendars one cannot see.

use super::*;

#[tokio::test]
async fn calendar_list_pages_through_the_primary_and_secondary_calendars() {
    let env = env().await;
    let token = env.access_token().await;
    let team = env.st.add_calendar(USER, "Team");
    let home = env.st.add_calendar(USER, "Home");
    let strangers = env.st.add_calendar("someone@example.com", "Theirs");

    let (status, first) = env
        .get(&token, "/users/me/calendarList", &[("maxResults", "2")])
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "calendar#calendarList");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], USER);
    assert_eq!(items[0]["primary"], true);
    assert_eq!(items[0]["accessRole"], "owner");
    assert!(
        items[1].get("primary").is_none(),
        "only the primary says so"
    );
    let next = first["nextPageToken"].as_str().unwrap().to_owned();
    let (status, second) = env
        .get(
            &token,
            "/users/me/calendarList",
            &[("maxResults", "2"), ("pageToken", &next)],
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert!(second.get("nextPageToken").is_none(), "the last page");
    let mut ids: Vec<String> = items
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![USER.to_owned(), team.clone(), home.clone()];
    want.sort();
    assert_eq!(
        ids, want,
        "another user's calendar ({strangers}) is not listed"
    );

    let (status, bad) = env
        .get(&token, "/users/me/calendarList", &[("pageToken", "bogus")])
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) = env
        .get(&token, "/users/me/calendarList", &[("maxResults", "0")])
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn each_calendar_has_its_own_events_and_unknown_calendars_are_404() {
    let env = env().await;
    let token = env.access_token().await;
    let team = env.st.add_calendar(USER, "Team");
    env.st
        .insert_event(
            &team,
            timed("Team sync", "2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z"),
        )
        .unwrap();
    env.st
        .insert_event(
            USER,
            timed("Own", "2030-01-07T12:00:00Z", "2030-01-07T13:00:00Z"),
        )
        .unwrap();

    let path = format!("/calendars/{team}/events");
    let (items, sync_token, _) = {
        let (status, body) = env.get(&token, &path, &[("singleEvents", "true")]).await;
        assert_eq!(status, 200, "{body}");
        (
            body["items"].as_array().unwrap().clone(),
            body["nextSyncToken"].as_str().unwrap().to_owned(),
            (),
        )
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["summary"], "Team sync");
    // The primary calendar's token does not sync the team calendar and vice versa:
    // a change in the primary calendar is not in the team calendar's increment.
    env.st
        .insert_event(
            USER,
            timed("Own 2", "2030-01-08T12:00:00Z", "2030-01-08T13:00:00Z"),
        )
        .unwrap();
    let (status, inc) = env
        .get(
            &token,
            &path,
            &[("singleEvents", "true"), ("syncToken", &sync_token)],
        )
        .await;
    assert_eq!(status, 200, "{inc}");
    assert!(inc["items"].as_array().unwrap().is_empty(), "{inc}");

    let other = env.st.add_calendar("someone@example.com", "Theirs");
    for cal in [other.as_str(), "nope@group.calendar.google.com"] {
        let (status, body) = env
            .get(&token, &format!("/calendars/{cal}/events"), &[])
            .await;
        assert_eq!(status, 404, "{cal}: {body}");
    }
}
