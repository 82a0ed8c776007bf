//! EXRULE (RFC 2445 section 4.8.5.2): instances its rule generates are removed from the
//! series, DTSTART and RDATEs included. Feeds of RFC 2445-era clients still carry it.

use super::{fixture, run, spans};
use chrono_tz::Europe::Berlin;

fn february() -> calsync_ical::Expansion {
    run(
        &fixture("sunbird-exrule.ics"),
        "2026-02-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        Berlin,
    )
}

fn days(exp: &calsync_ical::Expansion, uid: &str) -> Vec<String> {
    spans(exp, uid)
        .iter()
        .map(|s| s[8..10].to_string())
        .collect()
}

#[test]
fn a_monthly_exrule_removes_the_first_friday_from_a_weekday_series() {
    let exp = february();
    let uid = "8f0d2c1e-5b7a-4e1f-9a3c-standup-exrule";
    assert_eq!(
        days(&exp, uid),
        vec!["02", "03", "04", "05", "09", "10", "11", "12", "13"]
    );
    assert_eq!(spans(&exp, uid)[0], "2026-02-02T08:30Z..2026-02-02T08:45Z");
}

#[test]
fn an_exrule_with_an_interval_removes_every_other_thursday() {
    let exp = february();
    assert_eq!(
        days(&exp, "8f0d2c1e-5b7a-4e1f-9a3c-tue-thu-alt"),
        vec!["03", "10", "12", "17", "24", "26"]
    );
}

#[test]
fn exrules_remove_dtstart_counted_instances_and_rdates_alike() {
    let exp = february();
    assert_eq!(
        spans(&exp, "8f0d2c1e-5b7a-4e1f-9a3c-two-exrules"),
        vec![
            "2026-02-18T11:00Z..2026-02-18T11:30Z",
            "2026-02-19T11:00Z..2026-02-19T11:30Z",
            "2026-02-20T11:00Z..2026-02-20T11:30Z",
            "2026-02-24T11:00Z..2026-02-24T11:30Z",
        ]
    );
}

#[test]
fn an_exrule_of_a_years_old_series_is_applied_in_todays_window() {
    let exp = february();
    assert_eq!(
        days(&exp, "8f0d2c1e-5b7a-4e1f-9a3c-old-weekly"),
        vec!["09", "16", "23"]
    );
}

#[test]
fn an_exrule_without_freq_is_ignored_with_a_warning_and_excludes_nothing() {
    let exp = february();
    assert_eq!(
        days(&exp, "8f0d2c1e-5b7a-4e1f-9a3c-broken-exrule"),
        vec!["25", "26", "27"]
    );
    assert_eq!(exp.warnings.len(), 1, "{:?}", exp.warnings);
    assert!(
        exp.warnings[0].contains("EXRULE ignored"),
        "{:?}",
        exp.warnings
    );
}
