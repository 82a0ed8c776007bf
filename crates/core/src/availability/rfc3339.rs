//! An instant as RFC 3339 with the offset its zone has then, written into a stack buffer
//! without `fmt`: a 500-specialist grid answer holds a quarter of a million of them, and
//! chrono's general formatter made up a third of that answer's time.

use chrono::{DateTime, Datelike, Offset, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;

/// `2026-03-30T10:00:00+02:00`
const LEN: usize = 25;

/// The text of one instant; `as_str` borrows it.
#[derive(Debug, Clone)]
pub enum LocalRfc3339 {
    /// Years 0–9999 and whole-minute offsets: every time a slot can have.
    Short([u8; LEN]),
    /// Anything else, as chrono writes it.
    Other(String),
}

impl LocalRfc3339 {
    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and punctuation are ever written into the buffer.
            Self::Short(buf) => std::str::from_utf8(buf).unwrap_or_default(),
            Self::Other(s) => s,
        }
    }
}

/// `t` in `tz`, exactly as `to_rfc3339_opts(SecondsFormat::Secs, false)` writes it.
pub fn local_rfc3339(t: DateTime<Utc>, tz: Tz) -> LocalRfc3339 {
    let zoned = t.with_timezone(&tz);
    let secs = zoned.offset().fix().local_minus_utc();
    let local = zoned.naive_local();
    let year = local.year();
    if !(0..=9999).contains(&year) || secs % 60 != 0 || local.nanosecond() >= 1_000_000_000 {
        return LocalRfc3339::Other(zoned.to_rfc3339_opts(SecondsFormat::Secs, false));
    }
    let mut b = *b"0000-00-00T00:00:00+00:00";
    let year = year.unsigned_abs();
    put2(&mut b, 0, year / 100);
    put2(&mut b, 2, year % 100);
    put2(&mut b, 5, local.month());
    put2(&mut b, 8, local.day());
    put2(&mut b, 11, local.hour());
    put2(&mut b, 14, local.minute());
    put2(&mut b, 17, local.second());
    if secs < 0 {
        b[19] = b'-';
    }
    let minutes = secs.unsigned_abs() / 60;
    put2(&mut b, 20, minutes / 60);
    put2(&mut b, 23, minutes % 60);
    LocalRfc3339::Short(b)
}

/// Writes `v` (below 100) as two digits at `at`.
fn put2(buf: &mut [u8; LEN], at: usize, v: u32) {
    // Both values are below 10, so the casts cannot truncate.
    buf[at] = b'0' + (v / 10 % 10) as u8;
    buf[at + 1] = b'0' + (v % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ZONES: [Tz; 7] = [
        chrono_tz::UTC,
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::America::St_Johns,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Pacific::Chatham,
        chrono_tz::Asia::Kathmandu,
    ];

    fn chrono_text(t: DateTime<Utc>, tz: Tz) -> String {
        t.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    #[test]
    fn summer_winter_and_negative_offsets_are_written_like_chrono() {
        let t = DateTime::from_timestamp(1_774_864_800, 0).unwrap_or_default(); // 2026-03-30 10:00Z
        let berlin = local_rfc3339(t, chrono_tz::Europe::Berlin);
        assert_eq!(berlin.as_str(), "2026-03-30T12:00:00+02:00");
        let st_johns = local_rfc3339(t, chrono_tz::America::St_Johns);
        assert_eq!(st_johns.as_str(), "2026-03-30T07:30:00-02:30");
        assert_eq!(
            local_rfc3339(t, chrono_tz::UTC).as_str(),
            "2026-03-30T10:00:00+00:00"
        );
        assert!(matches!(berlin, LocalRfc3339::Short(_)));
    }

    #[test]
    fn offsets_with_seconds_and_far_years_fall_back_to_chrono() {
        // Berlin kept its local mean time, +00:53:28, until 1893.
        let t = DateTime::from_timestamp(-2_840_140_800, 0).unwrap_or_default();
        let tz = chrono_tz::Europe::Berlin;
        let text = local_rfc3339(t, tz);
        assert!(matches!(text, LocalRfc3339::Other(_)));
        assert_eq!(text.as_str(), chrono_text(t, tz));
    }

    proptest! {
        #[test]
        fn any_instant_from_1900_to_2200_reads_as_chrono_writes_it(
            secs in -2_208_988_800i64..7_258_118_400,
            zone in 0usize..ZONES.len(),
        ) {
            let t = DateTime::from_timestamp(secs, 0).unwrap_or_default();
            let tz = ZONES[zone];
            let ours = local_rfc3339(t, tz);
            prop_assert_eq!(ours.as_str(), chrono_text(t, tz));
        }
    }
}
