//! Renders the agent's week as HTML: one column per local day, marketplace bookings and
//! external events placed by time (overlapping ones side by side), external ones styled
//! apart and labelled with their provider, an all-day row, and banners for calendars
//! that need attention. The page is a maud template, which escapes every interpolated
//! value by construction: titles come from anyone who can put a meeting in the agent's
//! calendar. The stylesheet is `schedule.css`.

use crate::portal::{CalendarEvent, PortalItem};
use calsync_core::TimeRange;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Pixels per minute of the time grid.
const PX_PER_MIN: f64 = 1.0;
const DEFAULT_FIRST_HOUR: u32 = 7;
const DEFAULT_LAST_HOUR: u32 = 20;

pub struct Banner {
    pub message: String,
    /// Path (with query) of the page that reconnects the calendar, if it can be.
    pub reconnect: Option<String>,
}

pub struct SchedulePage<'a> {
    pub display_name: &'a str,
    pub tz: Tz,
    /// The Monday the week starts on.
    pub week_start: NaiveDate,
    pub items: &'a [PortalItem],
    /// Working hours of the week, in UTC.
    pub working: &'a [TimeRange],
    pub banners: &'a [Banner],
    /// Query suffix that keeps the agent signed in across links (`&token=…`), already
    /// URL-encoded; empty when the token came in a header.
    pub link_suffix: &'a str,
}

/// The first instant of a local date (a day that begins in a DST gap starts when it ends).
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    (0..4)
        .find_map(|h| {
            tz.from_local_datetime(&date.and_time(NaiveTime::from_hms_opt(h, 0, 0)?))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)))
}

fn provider_label(source: &str) -> &'static str {
    match source {
        "google" => "Google",
        "microsoft" => "Microsoft",
        "ics" => "ICS",
        _ => "Booking",
    }
}

/// Minutes after local midnight of `t`, with the day's end as 24 h.
fn minute_of_day(t: DateTime<Utc>, tz: Tz, day_end: DateTime<Utc>) -> u32 {
    if t >= day_end {
        return 24 * 60;
    }
    let local = t.with_timezone(&tz);
    local.hour() * 60 + local.minute()
}

struct Placed<'a> {
    item: &'a PortalItem,
    from: u32,
    to: u32,
    lane: usize,
    /// Lanes of the group of mutually overlapping items this one belongs to.
    lanes: usize,
}

/// Greedy lanes within each group of overlapping items (sorted by start): an item takes
/// the first lane whose last item ended before it starts; a group shares the column width.
fn place(items: Vec<(&PortalItem, u32, u32)>) -> Vec<Placed<'_>> {
    let mut out: Vec<Placed<'_>> = Vec::with_capacity(items.len());
    let mut lane_ends: Vec<u32> = Vec::new();
    let mut group_start = 0;
    let mut group_end = 0;
    for (item, from, to) in items {
        let shown_end = to.max(from + 15);
        if from >= group_end {
            close_group(&mut out[group_start..], lane_ends.len());
            group_start = out.len();
            lane_ends.clear();
        }
        group_end = group_end.max(shown_end);
        let lane = match lane_ends.iter().position(|end| *end <= from) {
            Some(l) => l,
            None => {
                lane_ends.push(0);
                lane_ends.len() - 1
            }
        };
        lane_ends[lane] = shown_end;
        out.push(Placed {
            item,
            from,
            to,
            lane,
            lanes: 1,
        });
    }
    close_group(&mut out[group_start..], lane_ends.len());
    out
}

fn close_group(group: &mut [Placed<'_>], lanes: usize) {
    for p in group {
        p.lanes = lanes.max(1);
    }
}

fn item_class(item: &PortalItem) -> String {
    let mut class = if item.is_marketplace() {
        "item marketplace".to_owned()
    } else {
        format!("item external provider-{}", item.source)
    };
    if !item.blocks_availability {
        class.push_str(" free");
    }
    class
}

/// What the page says about a booking's event in the agent's own calendar.
fn calendar_note(c: CalendarEvent) -> Option<&'static str> {
    Some(match c {
        CalendarEvent::Synced | CalendarEvent::Written => "· also in your calendar",
        CalendarEvent::Moved => "· moved in your calendar: the booking stands",
        CalendarEvent::Deleted => "· deleted from your calendar: the booking stands",
        CalendarEvent::Failed => "· could not be added to your calendar",
        CalendarEvent::Pending => return None,
    })
}

fn title_of(item: &PortalItem) -> &str {
    item.title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or("(no title)")
}

pub fn render(page: &SchedulePage<'_>) -> String {
    let tz = page.tz;
    let days: Vec<NaiveDate> = (0..7)
        .map(|i| page.week_start + Duration::days(i))
        .collect();
    let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> = days
        .iter()
        .map(|d| {
            (
                local_midnight(tz, *d),
                local_midnight(tz, *d + Duration::days(1)),
            )
        })
        .collect();

    let (mut first_hour, mut last_hour) = (DEFAULT_FIRST_HOUR, DEFAULT_LAST_HOUR);
    let mut timed: Vec<Vec<(&PortalItem, u32, u32)>> = vec![Vec::new(); 7];
    let mut all_day: Vec<Vec<&PortalItem>> = vec![Vec::new(); 7];
    for item in page.items {
        for (i, (start, end)) in bounds.iter().enumerate() {
            let overlaps = item.start < *end
                && (item.end > *start || (item.start == item.end && item.start >= *start));
            if !overlaps {
                continue;
            }
            if item.all_day {
                all_day[i].push(item);
                continue;
            }
            let from = minute_of_day(item.start.max(*start), tz, *end);
            let to = minute_of_day(item.end.min(*end), tz, *end).max(from);
            first_hour = first_hour.min(from / 60);
            last_hour = last_hour.max(to.div_ceil(60)).min(24);
            timed[i].push((item, from, to));
        }
    }
    let grid_top = first_hour * 60;
    let grid_minutes = (last_hour.max(first_hour + 1) - first_hour) * 60;
    let px = |m: u32| f64::from(m.saturating_sub(grid_top)) * PX_PER_MIN;
    let height = format!("height:{:.0}px", f64::from(grid_minutes) * PX_PER_MIN);
    let week_end = page.week_start + Duration::days(6);
    let week_link =
        |monday: NaiveDate| format!("/agent/schedule?week={monday}{}", page.link_suffix);

    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Schedule of " (page.display_name) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (page.display_name) }
                    p.tz { "Times in " strong { (tz.name()) } }
                    nav {
                        a #prev href=(week_link(page.week_start - Duration::days(7))) { "← Previous week" }
                        span.week {
                            (page.week_start.format("%a %-d %b %Y")) " – " (week_end.format("%a %-d %b %Y"))
                        }
                        a #next href=(week_link(page.week_start + Duration::days(7))) { "Next week →" }
                    }
                }
                @for b in page.banners {
                    div.banner role="alert" {
                        (b.message)
                        @if let Some(link) = &b.reconnect {
                            " " a.reconnect href=(link) { "Reconnect" }
                        }
                    }
                }
                div.legend {
                    span.item.marketplace { "Marketplace booking" }
                    span.item.external { "Calendar event (Google / Microsoft / ICS)" }
                }
                table.week {
                    thead {
                        tr {
                            th.gutter {}
                            @for d in &days { th { (d.format("%a %-d %b")) } }
                        }
                        tr.allday {
                            th.gutter { "All day" }
                            @for items in &all_day {
                                td {
                                    @for item in items {
                                        div class=(item_class(item)) {
                                            span.tag { (provider_label(&item.source)) } " " (title_of(item))
                                        }
                                    }
                                }
                            }
                        }
                    }
                    tbody {
                        tr {
                            th.gutter {
                                div.col style=(height) {
                                    @for hour in first_hour..last_hour.max(first_hour + 1) {
                                        span.hour style=(format!("top:{:.0}px", px(hour * 60))) { (format!("{hour:02}:00")) }
                                    }
                                }
                            }
                            @for (i, items) in timed.into_iter().enumerate() {
                                td {
                                    div.col style=(height) {
                                        @for (from, to) in working_minutes(page, bounds[i]) {
                                            div.working style=(format!("top:{:.0}px;height:{:.0}px", px(from), f64::from(to.saturating_sub(from)) * PX_PER_MIN)) {}
                                        }
                                        @for p in place(items) {
                                            (timed_item(&p, px(p.from)))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// Minutes of the local day `(start, end)` that are working time, per working interval.
fn working_minutes(
    page: &SchedulePage<'_>,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Vec<(u32, u32)> {
    page.working
        .iter()
        .filter(|w| w.start < end && w.end > start)
        .map(|w| {
            (
                minute_of_day(w.start.max(start), page.tz, end),
                minute_of_day(w.end.min(end), page.tz, end),
            )
        })
        .collect()
}

fn timed_item(p: &Placed<'_>, top: f64) -> Markup {
    let width = 100.0 / p.lanes as f64;
    let style = format!(
        "top:{top:.0}px;height:{:.0}px;left:{:.2}%;width:{width:.2}%",
        (f64::from(p.to - p.from) * PX_PER_MIN).max(16.0),
        width * p.lane as f64,
    );
    let time = format!(
        "{:02}:{:02}–{:02}:{:02}",
        p.from / 60,
        p.from % 60,
        p.to / 60,
        p.to % 60
    );
    html! {
        div class=(item_class(p.item)) style=(style) {
            span.tag { (provider_label(&p.item.source)) } " "
            span.time { (time) } " "
            span.title { (title_of(p.item)) }
            @if p.item.status != "confirmed" {
                " " span.status { "(" (p.item.status) ")" }
            }
            @if let Some(note) = p.item.calendar_event.and_then(calendar_note) {
                " " span.calendar { (note) }
            }
        }
    }
}

/// The Monday of the week containing `date`.
pub fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

/// Inline, because the page's Content-Security-Policy allows inline styles only (its
/// elements are placed with style attributes anyway), and one request is all it costs.
const CSS: &str = include_str!("schedule.css");

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn item(source: &str, title: &str, start: &str, end: &str, all_day: bool) -> PortalItem {
        PortalItem {
            source: source.into(),
            id: Uuid::new_v4(),
            title: Some(title.into()),
            start: start.parse().unwrap_or_default(),
            end: end.parse().unwrap_or_default(),
            all_day,
            status: "confirmed".into(),
            blocks_availability: true,
            calendar_event: None,
        }
    }

    fn page<'a>(items: &'a [PortalItem], banners: &'a [Banner]) -> String {
        render(&SchedulePage {
            display_name: "Ada <script>",
            tz: chrono_tz::Europe::Berlin,
            week_start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
            items,
            working: &[],
            banners,
            link_suffix: "&token=a&b",
        })
    }

    #[test]
    fn titles_and_names_are_html_escaped() {
        let items = [item(
            "google",
            "<img src=x onerror=alert(1)> & \"q\"",
            "2026-03-02T09:00:00Z",
            "2026-03-02T10:00:00Z",
            false,
        )];
        let html = page(&items, &[]);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;"));
        assert!(html.contains("Ada &lt;script&gt;"));
        assert!(html.contains("week=2026-02-23&amp;token=a&amp;b"));
    }

    #[test]
    fn bookings_and_external_events_are_styled_apart_and_labelled_in_local_time() {
        let items = [
            item(
                "marketplace",
                "Booking: Bob",
                "2026-03-03T09:00:00Z",
                "2026-03-03T10:00:00Z",
                false,
            ),
            item(
                "microsoft",
                "Standup",
                "2026-03-03T09:30:00Z",
                "2026-03-03T10:00:00Z",
                false,
            ),
            item(
                "ics",
                "Holiday",
                "2026-03-04T23:00:00Z",
                "2026-03-05T23:00:00Z",
                true,
            ),
        ];
        let html = page(&items, &[]);
        assert!(html.contains("item marketplace"));
        assert!(html.contains("item external provider-microsoft"));
        // Berlin is UTC+1 in March: 09:00Z shows as 10:00.
        assert!(html.contains("10:00–11:00"), "{html}");
        assert!(
            html.contains("width:50.00%"),
            "overlapping items share the column"
        );
        let allday = html.split("tr class=\"allday\"").nth(1).unwrap_or_default();
        let allday = allday.split("</tr>").next().unwrap_or_default();
        assert!(
            allday.contains("Holiday") && allday.contains(">ICS<"),
            "{allday}"
        );
        assert!(html.contains("Europe/Berlin"));
    }

    #[test]
    fn a_booking_says_whether_it_is_also_in_the_calendar_and_flags_drift() {
        let mut synced = item(
            "marketplace",
            "Booking: Bob",
            "2026-03-03T09:00:00Z",
            "2026-03-03T10:00:00Z",
            false,
        );
        synced.calendar_event = Some(CalendarEvent::Synced);
        let mut moved = item(
            "marketplace",
            "Booking: Eve",
            "2026-03-04T09:00:00Z",
            "2026-03-04T10:00:00Z",
            false,
        );
        moved.calendar_event = Some(CalendarEvent::Moved);
        let html = page(&[synced, moved], &[]);
        assert!(html.contains("also in your calendar"), "{html}");
        assert!(
            html.contains("moved in your calendar: the booking stands"),
            "{html}"
        );
        assert!(!html.contains("deleted from your calendar"), "{html}");
    }

    #[test]
    fn a_banner_links_to_reconnect() {
        let banners = [Banner {
            message: "google calendar needs re-authorisation".into(),
            reconnect: Some("/api/integrations/google/connect?specialistId=1&token=t".into()),
        }];
        let html = page(&[], &banners);
        assert!(html.contains("class=\"banner\""));
        assert!(
            html.contains("href=\"/api/integrations/google/connect?specialistId=1&amp;token=t\"")
        );
    }

    #[test]
    fn monday_of_any_day_is_that_weeks_monday() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        assert_eq!(monday_of(d(2026, 3, 8)), d(2026, 3, 2));
        assert_eq!(monday_of(d(2026, 3, 2)), d(2026, 3, 2));
    }

    #[test]
    fn a_script_in_a_title_or_a_banner_comes_out_as_text() {
        let items = [item(
            "ics",
            "<script>alert(1)</script>",
            "2026-03-03T09:00:00Z",
            "2026-03-03T10:00:00Z",
            false,
        )];
        let banners = [Banner {
            message: "feed \"<script>x</script>\" is stale".into(),
            reconnect: Some("/x?a=\"><script>".into()),
        }];
        let html = page(&items, &banners);
        assert_eq!(html.matches("<script").count(), 0, "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("feed &quot;&lt;script&gt;x&lt;/script&gt;&quot; is stale"));
        assert!(html.contains("href=\"/x?a=&quot;&gt;&lt;script&gt;\""));
    }

    #[test]
    fn the_stylesheet_is_inlined() {
        let html = page(&[], &[]);
        assert!(
            html.contains(".provider-google {"),
            "schedule.css is in the page"
        );
    }
}
