//! Property: no input makes expansion panic.

use calsync_ical::{expand, Limits, Window};
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn window() -> Window {
    Window {
        from: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        to: DateTime::<Utc>::from_timestamp(1_740_000_000, 0).unwrap_or_default(),
    }
}

fn limits() -> Limits {
    Limits {
        max_instances_per_series: 500,
        max_steps_per_series: 20_000,
        max_steps_total: 200_000,
        ..Limits::default()
    }
}

/// Lines that look like iCalendar, so the generator reaches deep code paths.
fn line() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "BEGIN:VEVENT",
        "END:VEVENT",
        "BEGIN:VTIMEZONE",
        "END:VTIMEZONE",
        "BEGIN:STANDARD",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "END:DAYLIGHT",
        "END:VCALENDAR",
        "BEGIN:VCALENDAR",
        "UID:",
        "DTSTART:",
        "DTSTART;VALUE=DATE:",
        "DTSTART;TZID=Europe/Berlin:",
        "DTSTART;TZID=Custom:",
        "DTSTART;TZID=\"A, B\":",
        "DTEND;VALUE=DATE:",
        "DTEND:",
        "DURATION:",
        "RRULE:",
        "EXRULE:",
        "RRULE:RRULE:",
        "RDATE:",
        "RDATE;VALUE=PERIOD:",
        "EXDATE:",
        "RECURRENCE-ID:",
        "RECURRENCE-ID;RANGE=THISANDFUTURE:",
        "STATUS:",
        "TRANSP:",
        "TZID:",
        "TZOFFSETFROM:",
        "TZOFFSETTO:",
        "X-WR-TIMEZONE:",
        "SEQUENCE:",
        " ",
    ]);
    let values = prop::sample::select(vec![
        "",
        "20240101T090000Z",
        "20240101T090000",
        "20240101",
        "99991231T235959Z",
        "00000000",
        "P1D",
        "PT1H",
        "-P1W",
        "P99999999D",
        "FREQ=DAILY",
        "FREQ=SECONDLY;INTERVAL=1",
        "FREQ=YEARLY;BYDAY=-53MO;BYSETPOS=1,-1",
        "FREQ=MONTHLY;BYMONTHDAY=-31,31;COUNT=5",
        "FREQ=WEEKLY;UNTIL=20240301",
        "FREQ=HOURLY;BYWEEKNO=-1,53",
        "CANCELLED",
        "TENTATIVE",
        "TRANSPARENT",
        "Custom",
        "+0100",
        "-2359",
        "Europe/Berlin",
        "20240101T090000Z/PT1H",
        "20240101T090000Z,20240102",
        "a",
        "\\n\\,;:\"",
    ]);
    (names, values, "[ -~]{0,12}").prop_map(|(n, v, junk)| format!("{n}{v}{junk}"))
}

proptest! {

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,2000}") {
        let _ = expand(&text, window(), chrono_tz::UTC, &limits());
    }

    #[test]
    fn icalendar_shaped_noise_never_panics(lines in prop::collection::vec(line(), 0..80), lf in any::<bool>()) {
        let sep = if lf { "\n" } else { "\r\n" };
        let text = format!("BEGIN:VCALENDAR{sep}{}{sep}", lines.join(sep));
        let result = expand(&text, window(), chrono_tz::Europe::Berlin, &limits());
        // A continuation line right after BEGIN:VCALENDAR can fold it into something else.
        prop_assert!(matches!(result, Ok(_) | Err(calsync_ical::IcalError::NotICalendar)));
        if let Ok(exp) = result {
            prop_assert!(exp.instances.windows(2).all(|w| w[0].start <= w[1].start));
            prop_assert!(exp.instances.iter().all(|i| i.end >= i.start));
        }
    }
}
