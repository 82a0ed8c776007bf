//! The recurrence examples of RFC 5545 section 3.8.5.3, with the instance lists the RFC
//! gives. Times are America/New_York local; the window is wide enough for each series.

use super::run;
use chrono_tz::America::New_York;

/// Expands one example and returns its instances as local "YYYY-MM-DD HH:MM".
fn local_instances(dtstart: &str, extra: &str, to: &str) -> Vec<String> {
    let text = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:rfc\r\nDTSTART;TZID=America/New_York:{dtstart}\r\n\
         DURATION:PT1H\r\n{extra}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let exp = run(&text, "1996-01-01T00:00:00Z", to, New_York);
    assert!(exp.warnings.is_empty(), "{:?}", exp.warnings);
    exp.instances
        .iter()
        .map(|i| {
            i.start
                .with_timezone(&New_York)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .collect()
}

/// Days of one year and month at 09:00 local.
fn days(ym: &str, ds: &[u32]) -> Vec<String> {
    ds.iter().map(|d| format!("{ym}-{d:02} 09:00")).collect()
}

fn cat(parts: &[Vec<String>]) -> Vec<String> {
    parts.concat()
}

#[test]
fn daily_for_10_occurrences() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=DAILY;COUNT=10",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(got, days("1997-09", &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
}

#[test]
fn daily_until_december_24_1997_keeps_9am_across_dst() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=DAILY;UNTIL=19971224T000000Z",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(got.len(), 113);
    assert_eq!(got.first().map(String::as_str), Some("1997-09-02 09:00"));
    assert_eq!(got.last().map(String::as_str), Some("1997-12-23 09:00"));
    assert!(got.iter().all(|g| g.ends_with("09:00")));
}

#[test]
fn every_other_day_forever_within_the_window() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=DAILY;INTERVAL=2",
        "1997-09-12T00:00:00Z",
    );
    assert_eq!(got, days("1997-09", &[2, 4, 6, 8, 10]));
}

#[test]
fn every_10_days_5_occurrences() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=DAILY;INTERVAL=10;COUNT=5",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[days("1997-09", &[2, 12, 22]), days("1997-10", &[2, 12])])
    );
}

#[test]
fn every_day_in_january_for_3_years_yearly_and_daily_forms_agree() {
    let all: Vec<u32> = (1..=31).collect();
    let expected = cat(&[
        days("1998-01", &all),
        days("1999-01", &all),
        days("2000-01", &all),
    ]);
    let yearly = local_instances(
        "19980101T090000",
        "RRULE:FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        "2001-01-01T00:00:00Z",
    );
    let daily = local_instances(
        "19980101T090000",
        "RRULE:FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        "2001-01-01T00:00:00Z",
    );
    assert_eq!(yearly, expected);
    assert_eq!(daily, expected);
}

#[test]
fn weekly_for_10_occurrences() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=WEEKLY;COUNT=10",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[2, 9, 16, 23, 30]),
            days("1997-10", &[7, 14, 21, 28]),
            days("1997-11", &[4])
        ])
    );
}

#[test]
fn weekly_until_december_24_1997() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=WEEKLY;UNTIL=19971224T000000Z",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[2, 9, 16, 23, 30]),
            days("1997-10", &[7, 14, 21, 28]),
            days("1997-11", &[4, 11, 18, 25]),
            days("1997-12", &[2, 9, 16, 23]),
        ])
    );
}

#[test]
fn weekly_on_tuesday_and_thursday_for_five_weeks_until_and_count_agree() {
    let expected = cat(&[
        days("1997-09", &[2, 4, 9, 11, 16, 18, 23, 25, 30]),
        days("1997-10", &[2]),
    ]);
    let until = local_instances(
        "19970902T090000",
        "RRULE:FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        "2000-01-01T00:00:00Z",
    );
    let count = local_instances(
        "19970902T090000",
        "RRULE:FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(until, expected);
    assert_eq!(count, expected);
}

#[test]
fn every_other_week_on_monday_wednesday_friday_until_december_24() {
    let got = local_instances(
        "19970901T090000",
        "RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[1, 3, 5, 15, 17, 19, 29]),
            days("1997-10", &[1, 3, 13, 15, 17, 27, 29, 31]),
            days("1997-11", &[10, 12, 14, 24, 26, 28]),
            days("1997-12", &[8, 10, 12, 22]),
        ])
    );
}

#[test]
fn every_other_week_on_tuesday_and_thursday_for_8_occurrences() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[2, 4, 16, 18, 30]),
            days("1997-10", &[2, 14, 16])
        ])
    );
}

#[test]
fn monthly_on_the_first_friday_for_10_occurrences() {
    let got = local_instances(
        "19970905T090000",
        "RRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[5]),
            days("1997-10", &[3]),
            days("1997-11", &[7]),
            days("1997-12", &[5]),
            days("1998-01", &[2]),
            days("1998-02", &[6]),
            days("1998-03", &[6]),
            days("1998-04", &[3]),
            days("1998-05", &[1]),
            days("1998-06", &[5]),
        ])
    );
}

#[test]
fn every_other_month_on_the_first_and_last_sunday_for_10_occurrences() {
    let got = local_instances(
        "19970907T090000",
        "RRULE:FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[7, 28]),
            days("1997-11", &[2, 30]),
            days("1998-01", &[4, 25]),
            days("1998-03", &[1, 29]),
            days("1998-05", &[3, 31]),
        ])
    );
}

#[test]
fn monthly_on_the_second_to_last_monday_for_6_months() {
    let got = local_instances(
        "19970922T090000",
        "RRULE:FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[22]),
            days("1997-10", &[20]),
            days("1997-11", &[17]),
            days("1997-12", &[22]),
            days("1998-01", &[19]),
            days("1998-02", &[16]),
        ])
    );
}

#[test]
fn monthly_on_the_third_to_last_day_forever() {
    let got = local_instances(
        "19970928T090000",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=-3",
        "1998-03-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[28]),
            days("1997-10", &[29]),
            days("1997-11", &[28]),
            days("1997-12", &[29]),
            days("1998-01", &[29]),
            days("1998-02", &[26]),
        ])
    );
}

#[test]
fn monthly_on_the_first_and_last_day_for_10_occurrences() {
    let got = local_instances(
        "19970930T090000",
        "RRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[30]),
            days("1997-10", &[1, 31]),
            days("1997-11", &[1, 30]),
            days("1997-12", &[1, 31]),
            days("1998-01", &[1, 31]),
            days("1998-02", &[1]),
        ])
    );
}

#[test]
fn every_18_months_on_the_10th_to_15th_for_10_occurrences() {
    let got = local_instances(
        "19970910T090000",
        "RRULE:FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[10, 11, 12, 13, 14, 15]),
            days("1999-03", &[10, 11, 12, 13])
        ])
    );
}

#[test]
fn every_tuesday_every_other_month() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        "1998-02-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[2, 9, 16, 23, 30]),
            days("1997-11", &[4, 11, 18, 25]),
            days("1998-01", &[6, 13, 20, 27])
        ])
    );
}

#[test]
fn yearly_in_june_and_july_for_10_occurrences() {
    let got = local_instances(
        "19970610T090000",
        "RRULE:FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        "2003-01-01T00:00:00Z",
    );
    let expected: Vec<String> = (1997..=2001)
        .flat_map(|y| [format!("{y}-06-10 09:00"), format!("{y}-07-10 09:00")])
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn every_third_year_on_the_1st_100th_and_200th_day_for_10_occurrences() {
    let got = local_instances(
        "19970101T090000",
        "RRULE:FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        "2007-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-01", &[1]),
            days("1997-04", &[10]),
            days("1997-07", &[19]),
            days("2000-01", &[1]),
            days("2000-04", &[9]),
            days("2000-07", &[18]),
            days("2003-01", &[1]),
            days("2003-04", &[10]),
            days("2003-07", &[19]),
            days("2006-01", &[1]),
        ])
    );
}

#[test]
fn every_20th_monday_of_the_year() {
    let got = local_instances(
        "19970519T090000",
        "RRULE:FREQ=YEARLY;BYDAY=20MO",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-05", &[19]),
            days("1998-05", &[18]),
            days("1999-05", &[17])
        ])
    );
}

#[test]
fn monday_of_week_number_20() {
    let got = local_instances(
        "19970512T090000",
        "RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-05", &[12]),
            days("1998-05", &[11]),
            days("1999-05", &[17])
        ])
    );
}

#[test]
fn every_thursday_in_march() {
    let got = local_instances(
        "19970313T090000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-03", &[13, 20, 27]),
            days("1998-03", &[5, 12, 19, 26]),
            days("1999-03", &[4, 11, 18, 25])
        ])
    );
}

#[test]
fn every_thursday_in_june_july_and_august() {
    let got = local_instances(
        "19970605T090000",
        "RRULE:FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8",
        "1998-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-06", &[5, 12, 19, 26]),
            days("1997-07", &[3, 10, 17, 24, 31]),
            days("1997-08", &[7, 14, 21, 28])
        ])
    );
}

#[test]
fn every_friday_the_13th_with_the_unsynchronised_dtstart_excluded() {
    let got = local_instances(
        "19970902T090000",
        "EXDATE;TZID=America/New_York:19970902T090000\r\nRRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        "2001-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1998-02", &[13]),
            days("1998-03", &[13]),
            days("1998-11", &[13]),
            days("1999-08", &[13]),
            days("2000-10", &[13])
        ])
    );
}

#[test]
fn the_first_saturday_that_follows_the_first_sunday_of_the_month() {
    let got = local_instances(
        "19970913T090000",
        "RRULE:FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        "1998-07-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[13]),
            days("1997-10", &[11]),
            days("1997-11", &[8]),
            days("1997-12", &[13]),
            days("1998-01", &[10]),
            days("1998-02", &[7]),
            days("1998-03", &[7]),
            days("1998-04", &[11]),
            days("1998-05", &[9]),
            days("1998-06", &[13]),
        ])
    );
}

#[test]
fn us_presidential_election_day() {
    let got = local_instances(
        "19961105T090000",
        "RRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        "2005-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1996-11", &[5]),
            days("2000-11", &[7]),
            days("2004-11", &[2])
        ])
    );
}

#[test]
fn the_third_tuesday_wednesday_or_thursday_of_the_month_for_3_months() {
    let got = local_instances(
        "19970904T090000",
        "RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[4]),
            days("1997-10", &[7]),
            days("1997-11", &[6])
        ])
    );
}

#[test]
fn the_second_to_last_weekday_of_the_month() {
    let got = local_instances(
        "19970929T090000",
        "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        "1998-04-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("1997-09", &[29]),
            days("1997-10", &[30]),
            days("1997-11", &[27]),
            days("1997-12", &[30]),
            days("1998-01", &[29]),
            days("1998-02", &[26]),
            days("1998-03", &[30]),
        ])
    );
}

#[test]
fn every_15_minutes_for_6_occurrences() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=6",
        "2000-01-01T00:00:00Z",
    );
    let expected: Vec<String> = ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15"]
        .iter()
        .map(|h| format!("1997-09-02 {h}"))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn every_hour_and_a_half_for_4_occurrences() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=MINUTELY;INTERVAL=90;COUNT=4",
        "2000-01-01T00:00:00Z",
    );
    let expected: Vec<String> = ["09:00", "10:30", "12:00", "13:30"]
        .iter()
        .map(|h| format!("1997-09-02 {h}"))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn every_20_minutes_from_9_to_16_40_every_day_daily_and_minutely_forms_agree() {
    let daily = local_instances(
        "19970902T090000",
        "RRULE:FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        "1997-09-04T00:00:00Z",
    );
    let minutely = local_instances(
        "19970902T090000",
        "RRULE:FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
        "1997-09-04T00:00:00Z",
    );
    assert_eq!(daily.len(), 48);
    assert_eq!(daily.first().map(String::as_str), Some("1997-09-02 09:00"));
    assert_eq!(daily.last().map(String::as_str), Some("1997-09-03 16:40"));
    assert_eq!(daily, minutely);
}

#[test]
fn week_start_changes_which_days_an_every_other_week_rule_picks() {
    let mo = local_instances(
        "19970805T090000",
        "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        "2000-01-01T00:00:00Z",
    );
    let su = local_instances(
        "19970805T090000",
        "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(mo, days("1997-08", &[5, 10, 19, 24]));
    assert_eq!(su, days("1997-08", &[5, 17, 19, 31]));
}

#[test]
fn invalid_dates_like_february_30_are_skipped() {
    let got = local_instances(
        "20070115T090000",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        "2008-01-01T00:00:00Z",
    );
    assert_eq!(
        got,
        cat(&[
            days("2007-01", &[15, 30]),
            days("2007-02", &[15]),
            days("2007-03", &[15, 30])
        ])
    );
}

#[test]
fn rdate_and_exdate_combine_with_a_rule() {
    let got = local_instances(
        "19970902T090000",
        "RRULE:FREQ=DAILY;COUNT=3\r\nRDATE;TZID=America/New_York:19970910T090000\r\nEXDATE;TZID=America/New_York:19970903T090000",
        "2000-01-01T00:00:00Z",
    );
    assert_eq!(got, days("1997-09", &[2, 4, 10]));
}
