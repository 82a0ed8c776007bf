//! Renders the agent's week as HTML: one column per local day, marketplace bookings and
//! external events placed by time (overlapping ones side by side), external ones styled
//! apart and labelled with their provider, an all-day row, and banners for calendars
//! that need attention. Every piece of text is HTML-escaped: titles come from anyone who
//! can put a meeting in the agent's calendar.

use crate::portal::PortalItem;
use calsync_core::TimeRange;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::fmt::Write;

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

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
        format!("item external provider-{}", escape(&item.source))
    };
    if !item.blocks_availability {
        class.push_str(" free");
    }
    class
}

fn title_of(item: &PortalItem) -> String {
    escape(
        item.title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or("(no title)"),
    )
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

    let mut h = String::with_capacity(16 * 1024);
    let week_end = page.week_start + Duration::days(6);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Schedule of {name}</title><style>{CSS}</style></head><body>\
         <header><h1>{name}</h1><p class=\"tz\">Times in <strong>{tz}</strong></p>\
         <nav><a id=\"prev\" href=\"/agent/schedule?week={prev}{suffix}\">&larr; Previous week</a>\
         <span class=\"week\">{from} – {to}</span>\
         <a id=\"next\" href=\"/agent/schedule?week={next}{suffix}\">Next week &rarr;</a></nav></header>",
        name = escape(page.display_name),
        tz = escape(tz.name()),
        prev = page.week_start - Duration::days(7),
        next = page.week_start + Duration::days(7),
        suffix = escape(page.link_suffix),
        from = page.week_start.format("%a %-d %b %Y"),
        to = week_end.format("%a %-d %b %Y"),
    );
    for b in page.banners {
        let _ = write!(
            h,
            "<div class=\"banner\" role=\"alert\">{}",
            escape(&b.message)
        );
        if let Some(link) = &b.reconnect {
            let _ = write!(
                h,
                " <a class=\"reconnect\" href=\"{}\">Reconnect</a>",
                escape(link)
            );
        }
        h.push_str("</div>");
    }
    h.push_str("<div class=\"legend\"><span class=\"item marketplace\">Marketplace booking</span>\
                <span class=\"item external\">Calendar event (Google / Microsoft / ICS)</span></div>");
    h.push_str("<table class=\"week\"><thead><tr><th class=\"gutter\"></th>");
    for d in &days {
        let _ = write!(h, "<th>{}</th>", d.format("%a %-d %b"));
    }
    h.push_str("</tr><tr class=\"allday\"><th class=\"gutter\">All day</th>");
    for items in &all_day {
        h.push_str("<td>");
        for item in items {
            let _ = write!(
                h,
                "<div class=\"{}\"><span class=\"tag\">{}</span> {}</div>",
                item_class(item),
                provider_label(&item.source),
                title_of(item)
            );
        }
        h.push_str("</td>");
    }
    let height = f64::from(grid_minutes) * PX_PER_MIN;
    let _ = write!(h, "</tr></thead><tbody><tr><th class=\"gutter\"><div class=\"col\" style=\"height:{height:.0}px\">");
    for hour in first_hour..last_hour.max(first_hour + 1) {
        let _ = write!(
            h,
            "<span class=\"hour\" style=\"top:{:.0}px\">{hour:02}:00</span>",
            px(hour * 60)
        );
    }
    h.push_str("</div></th>");
    for (i, items) in timed.into_iter().enumerate() {
        let _ = write!(h, "<td><div class=\"col\" style=\"height:{height:.0}px\">");
        let (start, end) = bounds[i];
        for w in page
            .working
            .iter()
            .filter(|w| w.start < end && w.end > start)
        {
            let from = minute_of_day(w.start.max(start), tz, end);
            let to = minute_of_day(w.end.min(end), tz, end);
            let _ = write!(
                h,
                "<div class=\"working\" style=\"top:{:.0}px;height:{:.0}px\"></div>",
                px(from),
                f64::from(to.saturating_sub(from)) * PX_PER_MIN
            );
        }
        for p in place(items) {
            let width = 100.0 / p.lanes as f64;
            let label = provider_label(&p.item.source);
            let _ = write!(
                h,
                "<div class=\"{class}\" style=\"top:{top:.0}px;height:{hgt:.0}px;left:{left:.2}%;width:{width:.2}%\">\
                 <span class=\"tag\">{label}</span> <span class=\"time\">{t}</span> <span class=\"title\">{title}</span>{status}</div>",
                class = item_class(p.item),
                top = px(p.from),
                hgt = (f64::from(p.to - p.from) * PX_PER_MIN).max(16.0),
                left = width * p.lane as f64,
                t = format_args!("{:02}:{:02}–{:02}:{:02}", p.from / 60, p.from % 60, p.to / 60, p.to % 60),
                title = title_of(p.item),
                status = if p.item.status == "confirmed" {
                    String::new()
                } else {
                    format!(" <span class=\"status\">({})</span>", escape(&p.item.status))
                },
            );
        }
        h.push_str("</div></td>");
    }
    h.push_str("</tr></tbody></table></body></html>");
    h
}

/// The Monday of the week containing `date`.
pub fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1rem;color:#1d2330}\
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:1rem}h1{font-size:1.4rem;margin:0}\
.tz{margin:0;color:#555}nav{margin-left:auto;display:flex;gap:1rem;align-items:baseline}\
.banner{background:#fff3cd;border:1px solid #e0b400;padding:.5rem .75rem;margin:.75rem 0;border-radius:4px}\
.legend{display:flex;gap:.5rem;margin:.5rem 0}.legend .item{position:static;padding:.2rem .5rem}\
table.week{border-collapse:collapse;width:100%;table-layout:fixed}th,td{border:1px solid #dde;vertical-align:top;padding:0}\
th.gutter{width:4rem;font-weight:normal;font-size:.8rem;color:#666}thead th{padding:.3rem;background:#f4f6fa}\
tr.allday td{padding:.2rem;height:1.6rem}tr.allday .item{position:static;margin:.1rem 0}\
.col{position:relative}.hour{position:absolute;right:.3rem;font-size:.75rem;color:#777}\
.working{position:absolute;left:0;right:0;background:#eef7ee}\
.item{position:absolute;box-sizing:border-box;overflow:hidden;font-size:.75rem;border-radius:4px;padding:.1rem .25rem;line-height:1.2}\
.marketplace{background:#2f6fdf;color:#fff;border:1px solid #1d4fa8}\
.external{background:#fff;color:#333;border:1px dashed #888;border-left:4px solid #888}\
.provider-google{border-left-color:#db4437}.provider-microsoft{border-left-color:#0078d4}.provider-ics{border-left-color:#8a5cc2}\
.free{opacity:.55}.tag{font-weight:600;font-size:.65rem;text-transform:uppercase}";

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
}
