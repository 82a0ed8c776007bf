//! Spacing of one connection's syncs across drives. A drive pauses between its own
//! rounds while notices keep coming (`handler::drive`), but once a sync took less time
//! than the consumer's batches are apart, a storm's notices came one batch per drive:
//! each batch found the previous drive retired, started a new one and synced at once
//! (81 fetches for a 20,000-push storm, where slower syncs had cost 21). So the end of
//! each drive is remembered for a moment, and a drive that starts right after the last
//! one of the same connection first waits out the coalescing pause, then the storm
//! pause once that repeats. A change after a quiet second syncs at once, as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a lease holder lets further notices gather before a follow-up round; longer
/// once a connection has needed several rounds in a row (a storm), so a storm of pushes
/// costs a few fetches a second however fast they come. A single change never waits:
/// the pause only follows a round during which another notice came, or a drive that
/// ended a moment ago.
pub const COALESCE_PAUSE: Duration = Duration::from_millis(50);
pub const STORM_PAUSE: Duration = Duration::from_millis(250);
/// A drive starting this long after the last one ended starts at once.
const QUIET: Duration = Duration::from_secs(1);
/// Remembered ends beyond which the quiet ones are forgotten.
const REMEMBERED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Ended {
    at: Instant,
    streak: u32,
}

#[derive(Default)]
pub struct Pacing {
    recent: Mutex<HashMap<Uuid, Ended>>,
}

impl Pacing {
    /// How long a drive of `id` starting at `now` waits first, and how many drives in a
    /// row (this one included) started soon after the one before.
    pub fn hold_off(&self, id: Uuid, now: Instant) -> (Duration, u32) {
        let prev = self.recent.lock().ok().and_then(|r| r.get(&id).copied());
        wait_for(prev, now)
    }

    /// Records that a drive of `id` (with the streak `hold_off` gave it) ended at `now`.
    pub fn ended(&self, id: Uuid, streak: u32, now: Instant) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        if recent.len() >= REMEMBERED {
            recent.retain(|_, e| now.saturating_duration_since(e.at) < QUIET);
        }
        recent.insert(id, Ended { at: now, streak });
    }
}

fn wait_for(prev: Option<Ended>, now: Instant) -> (Duration, u32) {
    match prev {
        Some(e) if now.saturating_duration_since(e.at) < QUIET => {
            let streak = e.streak + 1;
            let pause = if streak >= 2 {
                STORM_PAUSE
            } else {
                COALESCE_PAUSE
            };
            (
                pause.saturating_sub(now.saturating_duration_since(e.at)),
                streak,
            )
        }
        _ => (Duration::ZERO, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_or_quiet_drive_starts_at_once() {
        let p = Pacing::default();
        let id = Uuid::new_v4();
        let t0 = Instant::now();
        assert_eq!(p.hold_off(id, t0), (Duration::ZERO, 0), "never synced");
        p.ended(id, 0, t0);
        assert_eq!(
            p.hold_off(id, t0 + QUIET + Duration::from_millis(1)),
            (Duration::ZERO, 0),
            "a change after a quiet second"
        );
    }

    #[test]
    fn drives_in_quick_succession_wait_the_coalescing_then_the_storm_pause() {
        let p = Pacing::default();
        let id = Uuid::new_v4();
        let t0 = Instant::now();
        p.ended(id, 0, t0);
        let (wait, streak) = p.hold_off(id, t0 + Duration::from_millis(8));
        assert_eq!((wait, streak), (Duration::from_millis(42), 1));
        p.ended(id, streak, t0 + Duration::from_millis(60));
        let (wait, streak) = p.hold_off(id, t0 + Duration::from_millis(70));
        assert_eq!((wait, streak), (Duration::from_millis(240), 2));
        assert_eq!(
            p.hold_off(Uuid::new_v4(), t0 + Duration::from_millis(70)),
            (Duration::ZERO, 0),
            "another connection is not held back"
        );
    }

    #[test]
    fn quiet_ends_are_forgotten_once_many_are_remembered() {
        let p = Pacing::default();
        let t0 = Instant::now();
        for _ in 0..REMEMBERED {
            p.ended(Uuid::new_v4(), 0, t0);
        }
        let later = t0 + QUIET * 2;
        p.ended(Uuid::new_v4(), 0, later);
        assert_eq!(p.recent.lock().map(|r| r.len()).unwrap_or(0), 1);
    }
}
