//! The order of instances: by start, then UID, then instance id.

use super::run;
use chrono_tz::UTC;

#[test]
fn instances_at_the_same_start_are_ordered_by_uid_then_instance_id() {
    // b's second instance is moved onto its third's start; a and c start then too.
    let text = "BEGIN:VCALENDAR\n\
        BEGIN:VEVENT\nUID:c\nDTSTART:20240103T090000Z\nDURATION:PT1H\nEND:VEVENT\n\
        BEGIN:VEVENT\nUID:b\nDTSTART:20240101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=3\nEND:VEVENT\n\
        BEGIN:VEVENT\nUID:b\nRECURRENCE-ID:20240102T090000Z\nDTSTART:20240103T090000Z\nDURATION:PT30M\nEND:VEVENT\n\
        BEGIN:VEVENT\nUID:a\nDTSTART:20240103T090000Z\nDURATION:PT2H\nEND:VEVENT\n\
        END:VCALENDAR\n";
    let exp = run(text, "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z", UTC);
    let ids: Vec<&str> = exp
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            "b/20240101T090000Z",
            "a/20240103T090000Z",
            "b/20240102T090000Z",
            "b/20240103T090000Z",
            "c/20240103T090000Z",
        ]
    );
}
