//! The refresh hint a feed publishes (RFC 7986 REFRESH-INTERVAL, Microsoft's
//! X-PUBLISHED-TTL) is read as data for the operator status; it never changes what is
//! expanded, and never slows polling.

use super::{fixture, run};
use chrono_tz::UTC;
use std::time::Duration;

fn hint(text: &str) -> Option<Duration> {
    run(text, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", UTC).refresh_interval
}

#[test]
fn refresh_interval_with_a_value_parameter_is_read() {
    assert_eq!(
        hint(&fixture("fastmail-published.ics")),
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn refresh_interval_wins_over_x_published_ttl() {
    let text =
        fixture("fastmail-published.ics").replace("X-PUBLISHED-TTL:PT1H", "X-PUBLISHED-TTL:P1D");
    assert_eq!(hint(&text), Some(Duration::from_secs(3600)));
}

#[test]
fn x_published_ttl_alone_is_read_in_weeks_days_and_hours() {
    let text =
        fixture("fastmail-published.ics").replace("REFRESH-INTERVAL;VALUE=DURATION:PT1H\n", "");
    for (ttl, secs) in [("P1W", 7 * 86_400), ("P1DT12H", 129_600), ("PT15M", 900)] {
        let text = text.replace("X-PUBLISHED-TTL:PT1H", &format!("X-PUBLISHED-TTL:{ttl}"));
        assert_eq!(hint(&text), Some(Duration::from_secs(secs)), "{ttl}");
    }
}

#[test]
fn an_unreadable_zero_or_negative_hint_is_no_hint_and_the_feed_still_expands() {
    let base = fixture("fastmail-published.ics").replace("X-PUBLISHED-TTL:PT1H\n", "");
    for bad in ["soon", "PT0S", "-PT1H", "P"] {
        let text = base.replace(
            "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
            &format!("REFRESH-INTERVAL;VALUE=DURATION:{bad}"),
        );
        let exp = run(&text, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", UTC);
        assert_eq!(exp.refresh_interval, None, "{bad}");
        assert_eq!(exp.instances.len(), 1, "{bad}");
    }
}

#[test]
fn a_feed_without_a_hint_has_none() {
    assert_eq!(hint(&fixture("google.ics")), None);
}

#[test]
fn the_hint_of_a_later_calendar_in_the_file_is_found() {
    let text = format!(
        "BEGIN:VCALENDAR\nEND:VCALENDAR\n{}",
        fixture("fastmail-published.ics")
    );
    assert_eq!(hint(&text), Some(Duration::from_secs(3600)));
}

#[test]
fn the_hint_does_not_change_the_instances() {
    let with = fixture("fastmail-published.ics");
    let without = with
        .replace("REFRESH-INTERVAL;VALUE=DURATION:PT1H\n", "")
        .replace("X-PUBLISHED-TTL:PT1H\n", "");
    let a = run(&with, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", UTC);
    let b = run(
        &without,
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
        UTC,
    );
    assert_eq!(a.instances, b.instances);
    assert_eq!(b.refresh_interval, None);
}
