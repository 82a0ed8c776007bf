//! Tests of the event → busy rules, one per rule.

use super::*;
use chrono::TimeZone;

fn google() -> GoogleFacts {
    GoogleFacts {
        status: EventStatus::Confirmed,
        transparent: false,
        self_response: SelfResponse::NotInvited,
        event_type: GoogleEventType::Default,
        soradin_created: false,
    }
}

fn graph() -> GraphFacts {
    GraphFacts {
        is_cancelled: false,
        show_as: ShowAs::Busy,
        self_response: SelfResponse::NotInvited,
        soradin_created: false,
    }
}

const BLOCKS: Disposition = Disposition::Keep {
    blocks: true,
    status: EventStatus::Confirmed,
};
const FREE: Disposition = Disposition::Keep {
    blocks: false,
    status: EventStatus::Confirmed,
};
const LENIENT: BusyPolicy = BusyPolicy {
    tentative_blocks: false,
};

#[test]
fn a_confirmed_opaque_google_event_blocks() {
    assert_eq!(google_disposition(&google(), BusyPolicy::default()), BLOCKS);
}

#[test]
fn a_cancelled_google_event_is_removed() {
    let f = GoogleFacts {
        status: EventStatus::Cancelled,
        ..google()
    };
    assert_eq!(
        google_disposition(&f, BusyPolicy::default()),
        Disposition::Remove
    );
}

#[test]
fn a_transparent_google_event_does_not_block() {
    let f = GoogleFacts {
        transparent: true,
        ..google()
    };
    assert_eq!(google_disposition(&f, BusyPolicy::default()), FREE);
}

#[test]
fn a_declined_invitation_does_not_block() {
    let f = GoogleFacts {
        self_response: SelfResponse::Declined,
        ..google()
    };
    assert_eq!(google_disposition(&f, BusyPolicy::default()), FREE);
    let g = GraphFacts {
        self_response: SelfResponse::Declined,
        ..graph()
    };
    assert_eq!(graph_disposition(&g, BusyPolicy::default()), FREE);
}

#[test]
fn an_unanswered_invitation_blocks() {
    let f = GoogleFacts {
        self_response: SelfResponse::NeedsAction,
        ..google()
    };
    assert_eq!(google_disposition(&f, BusyPolicy::default()), BLOCKS);
}

#[test]
fn a_working_location_does_not_block() {
    let f = GoogleFacts {
        event_type: GoogleEventType::WorkingLocation,
        ..google()
    };
    assert_eq!(google_disposition(&f, BusyPolicy::default()), FREE);
}

#[test]
fn out_of_office_and_focus_time_block() {
    for t in [
        GoogleEventType::OutOfOffice,
        GoogleEventType::FocusTime,
        GoogleEventType::FromGmail,
    ] {
        let f = GoogleFacts {
            event_type: t,
            ..google()
        };
        assert_eq!(
            google_disposition(&f, BusyPolicy::default()),
            BLOCKS,
            "{t:?}"
        );
    }
}

#[test]
fn a_birthday_does_not_block() {
    let f = GoogleFacts {
        event_type: GoogleEventType::Birthday,
        ..google()
    };
    assert_eq!(google_disposition(&f, BusyPolicy::default()), FREE);
}

#[test]
fn a_tentative_google_event_blocks_by_default_and_not_when_configured_otherwise() {
    let tentative = Disposition::Keep {
        blocks: true,
        status: EventStatus::Tentative,
    };
    let by_status = GoogleFacts {
        status: EventStatus::Tentative,
        ..google()
    };
    let by_answer = GoogleFacts {
        self_response: SelfResponse::Tentative,
        ..google()
    };
    for f in [by_status, by_answer] {
        assert_eq!(google_disposition(&f, BusyPolicy::default()), tentative);
        assert_eq!(
            google_disposition(&f, LENIENT),
            Disposition::Keep {
                blocks: false,
                status: EventStatus::Tentative
            }
        );
    }
}

#[test]
fn an_event_we_created_for_a_booking_is_kept_but_does_not_block_twice() {
    let f = GoogleFacts {
        soradin_created: true,
        ..google()
    };
    assert_eq!(google_disposition(&f, BusyPolicy::default()), FREE);
    let g = GraphFacts {
        soradin_created: true,
        ..graph()
    };
    assert_eq!(graph_disposition(&g, BusyPolicy::default()), FREE);
}

#[test]
fn a_cancelled_graph_event_is_removed() {
    let g = GraphFacts {
        is_cancelled: true,
        ..graph()
    };
    assert_eq!(
        graph_disposition(&g, BusyPolicy::default()),
        Disposition::Remove
    );
}

#[test]
fn graph_free_and_working_elsewhere_do_not_block() {
    for s in [ShowAs::Free, ShowAs::WorkingElsewhere] {
        let g = GraphFacts {
            show_as: s,
            ..graph()
        };
        assert_eq!(graph_disposition(&g, BusyPolicy::default()), FREE, "{s:?}");
    }
}

#[test]
fn graph_busy_oof_and_unknown_block() {
    for s in [ShowAs::Busy, ShowAs::Oof, ShowAs::Unknown] {
        let g = GraphFacts {
            show_as: s,
            ..graph()
        };
        assert_eq!(
            graph_disposition(&g, BusyPolicy::default()),
            BLOCKS,
            "{s:?}"
        );
    }
}

#[test]
fn a_tentative_graph_event_follows_the_policy() {
    let g = GraphFacts {
        show_as: ShowAs::Tentative,
        ..graph()
    };
    assert_eq!(
        graph_disposition(&g, BusyPolicy::default()),
        Disposition::Keep {
            blocks: true,
            status: EventStatus::Tentative
        }
    );
    assert_eq!(
        graph_disposition(&g, LENIENT),
        Disposition::Keep {
            blocks: false,
            status: EventStatus::Tentative
        }
    );
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

#[test]
fn an_all_day_event_blocks_the_local_day_in_the_specialists_zone() {
    let r = all_day_range(
        date(2026, 1, 5),
        date(2026, 1, 6),
        chrono_tz::America::New_York,
    );
    assert_eq!(r.start, Utc.with_ymd_and_hms(2026, 1, 5, 5, 0, 0).unwrap());
    assert_eq!(r.end, Utc.with_ymd_and_hms(2026, 1, 6, 5, 0, 0).unwrap());
}

#[test]
fn an_all_day_event_on_a_spring_forward_day_lasts_23_hours() {
    let r = all_day_range(
        date(2026, 3, 29),
        date(2026, 3, 30),
        chrono_tz::Europe::Berlin,
    );
    assert_eq!(r.duration(), Duration::hours(23));
    assert_eq!(
        r.start,
        Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap()
    );
}

#[test]
fn an_all_day_event_on_a_fall_back_day_lasts_25_hours() {
    let r = all_day_range(
        date(2026, 10, 25),
        date(2026, 10, 26),
        chrono_tz::Europe::Berlin,
    );
    assert_eq!(r.duration(), Duration::hours(25));
}

#[test]
fn a_multi_day_event_ends_at_the_exclusive_end_date() {
    let r = all_day_range(date(2026, 1, 5), date(2026, 1, 8), chrono_tz::UTC);
    assert_eq!(r.duration(), Duration::days(3));
}

#[test]
fn an_end_date_not_after_the_start_means_one_day() {
    let r = all_day_range(date(2026, 1, 5), date(2026, 1, 5), chrono_tz::UTC);
    assert_eq!(r.duration(), Duration::days(1));
}

#[test]
fn a_day_whose_midnight_does_not_exist_starts_at_the_first_local_time() {
    // Santiago springs forward at 00:00 → 01:00 on 2026-09-06.
    let r = all_day_range(
        date(2026, 9, 6),
        date(2026, 9, 7),
        chrono_tz::America::Santiago,
    );
    assert_eq!(r.duration(), Duration::hours(23));
    assert_eq!(r.start, Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).unwrap());
}
