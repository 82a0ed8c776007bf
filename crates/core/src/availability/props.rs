//! Property tests: the sweep against a naive scan of every grid position, on windows around
//! clock changes in zones with hour, half-hour and midnight transitions.

use super::*;
use proptest::prelude::*;

const ZONES: [Tz; 6] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::America::Santiago,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
];

/// Midnights (UTC) of days with clock changes in the zones above.
const CHANGE_DAYS: [i64; 6] = [
    1_772_928_000, // 2026-03-08 New York
    1_774_742_400, // 2026-03-29 Berlin
    1_775_347_200, // 2026-04-05 Santiago, Lord Howe
    1_788_652_800, // 2026-09-06 Santiago
    1_792_886_400, // 2026-10-25 Berlin
    1_793_491_200, // 2026-11-01 New York
];

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn quarter_hour(q: u32) -> NaiveTime {
    // 96 quarter hours is the midnight that ends the day, written 00:00.
    NaiveTime::from_num_seconds_from_midnight_opt((q % 96) * 900, 0).unwrap_or_default()
}

fn working_hours() -> impl Strategy<Value = WorkingHours> {
    (1u8..=7, 0u32..96)
        .prop_flat_map(|(weekday, start)| (Just(weekday), Just(start), start + 1..=96))
        .prop_map(|(weekday, start, end)| WorkingHours {
            weekday,
            start: quarter_hour(start),
            end: quarter_hour(end),
        })
}

#[derive(Debug, Clone)]
struct Input {
    tz: Tz,
    hours: Vec<WorkingHours>,
    busy: Vec<TimeRange>,
    window: TimeRange,
    now: DateTime<Utc>,
    policy: SlotPolicy,
}

/// Offsets in whole minutes, plus an odd second now and then so alignment is not assumed.
fn offset(minutes: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    (minutes, prop_oneof![4 => Just(0i64), 1 => 1i64..60]).prop_map(|(m, s)| m * 60 + s)
}

fn input() -> impl Strategy<Value = Input> {
    let zone = prop::sample::select(ZONES.to_vec());
    let day = prop::sample::select(CHANGE_DAYS.to_vec());
    let window = (day, offset(-3 * 1440..2 * 1440), offset(1..4 * 1440));
    let busy = prop::collection::vec((offset(-1440..5 * 1440), offset(0..360)), 0..20);
    let policy = (1i64..=240, 1i64..=120, 0i64..=60, 0i64..=60, 0i64..=600);
    let hours = prop::collection::vec(working_hours(), 0..10);
    (
        zone,
        hours,
        window,
        busy,
        offset(-2 * 1440..3 * 1440),
        policy,
    )
        .prop_map(|(tz, hours, (day, offset, length), busy, now, policy)| {
            let from = day + offset;
            let (duration, step, before, after, notice) = policy;
            Input {
                tz,
                hours,
                busy: busy
                    .into_iter()
                    .map(|(start, len)| TimeRange {
                        start: at(from + start),
                        end: at(from + start + len),
                    })
                    .collect(),
                window: TimeRange {
                    start: at(from),
                    end: at(from + length),
                },
                now: at(from + now),
                policy: SlotPolicy {
                    duration: Duration::minutes(duration),
                    step: Duration::minutes(step),
                    buffer_before: Duration::minutes(before),
                    buffer_after: Duration::minutes(after),
                    min_notice: Duration::minutes(notice),
                },
            }
        })
}

fn query(i: &Input) -> AvailabilityQuery<'_> {
    AvailabilityQuery {
        tz: i.tz,
        hours: &i.hours,
        busy: &i.busy,
        window: i.window,
        now: i.now,
        policy: i.policy,
    }
}

fn buffered(i: &Input, slot: &TimeRange) -> bool {
    i.busy.iter().filter(|b| !b.is_empty()).any(|b| {
        let widened = TimeRange {
            start: b.start - i.policy.buffer_before,
            end: b.end + i.policy.buffer_after,
        };
        widened.overlaps(slot)
    })
}

/// Every grid position of every block, tested one by one against every busy interval.
fn naive(i: &Input, blocks: &[TimeRange]) -> Vec<TimeRange> {
    let step = i.policy.step.min(i.policy.duration);
    let mut out = Vec::new();
    for block in blocks {
        let mut start = block.start;
        while start + i.policy.duration <= block.end {
            let slot = TimeRange {
                start,
                end: start + i.policy.duration,
            };
            let bookable = i.window.contains(&slot) && slot.start >= i.now + i.policy.min_notice;
            if bookable && !buffered(i, &slot) {
                out.push(slot);
            }
            start += step;
        }
    }
    out.sort();
    out.dedup();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_sweep_finds_exactly_the_free_grid_positions_a_naive_scan_finds(i in input()) {
        let slots = compute_slots(&query(&i));
        prop_assert!(slots.is_ok(), "{slots:?}");
        let slots = slots.unwrap_or_default();
        let blocks = local::Week::new(&i.hours).map(|w| w.blocks(i.tz, i.window)).unwrap_or_default();
        prop_assert_eq!(&slots, &naive(&i, &blocks));
    }

    #[test]
    fn every_slot_is_bookable_on_the_grid_and_sorted(i in input()) {
        let slots = compute_slots(&query(&i)).unwrap_or_default();
        let blocks = local::Week::new(&i.hours).map(|w| w.blocks(i.tz, i.window)).unwrap_or_default();
        let working = working_intervals(i.tz, &i.hours, i.window).unwrap_or_default();
        let step = i.policy.step.min(i.policy.duration);
        for slot in &slots {
            prop_assert_eq!(slot.duration(), i.policy.duration);
            prop_assert!(i.window.contains(slot));
            prop_assert!(slot.start >= i.now + i.policy.min_notice);
            prop_assert!(!buffered(&i, slot), "{slot:?} overlaps busy time");
            prop_assert!(working.iter().any(|w| w.contains(slot)), "{slot:?} outside working hours");
            let on_grid = blocks.iter().any(|b| {
                b.contains(slot) && ((slot.start - b.start).num_seconds() % step.num_seconds()) == 0
            });
            prop_assert!(on_grid, "{slot:?} is off the grid");
        }
        prop_assert!(slots.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn blocks_hold_only_instants_whose_wall_clock_is_inside_a_rule_of_that_weekday(i in input()) {
        let blocks = local::Week::new(&i.hours).map(|w| w.blocks(i.tz, i.window)).unwrap_or_default();
        for block in blocks {
            // The first and last minute of a block read inside some rule; a repeated hour
            // may add instants whose wall clock reads outside, so only the ends are checked.
            for instant in [block.start, block.end - Duration::seconds(1)] {
                let local = instant.with_timezone(&i.tz);
                let weekday = local.format("%u").to_string();
                let inside = i.hours.iter().any(|h| {
                    weekday == h.weekday.to_string()
                        && h.start <= local.time()
                        && (h.ends_at_midnight() || local.time() < h.end)
                });
                prop_assert!(inside, "{instant} reads {local} outside every rule");
            }
        }
    }
}
