//! Spacing of one connection's sync rounds, within a drive and across drives. Each
//! round's end is remembered for a moment; a round that would start right after the
//! last one of the same connection first waits out the coalescing pause, then the storm
//! pause while that repeats, so the notices that come meanwhile share the next round and
//! a storm of pushes costs a few fetches a second however fast syncs are. Remembering
//! across drives matters: once a sync took less time than the consumer's batches are
//! apart, each batch found the previous drive retired and synced at once (81 fetches for
//! a 20,000-push storm). A change after a quiet second syncs at once.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// How long further notices gather before a follow-up round; longer once a connection
/// has needed several rounds in a row (a storm).
const COALESCE_PAUSE: Duration = Duration::from_millis(50);
const STORM_PAUSE: Duration = Duration::from_millis(250);
/// A round starting this long after the last one ended (by the worker's clock) starts at once.
const QUIET: Duration = Duration::from_secs(1);
/// Remembered ends beyond which the quiet ones are forgotten.
const REMEMBERED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Ended {
    at: DateTime<Utc>,
    streak: u32,
}

#[derive(Default)]
pub(crate) struct Pacing {
    recent: Mutex<HashMap<Uuid, Ended>>,
}

impl Pacing {
    /// How long a round of `id` starting at `now` waits first, and how many rounds in a
    /// row (this one included) started soon after the one before.
    pub fn hold_off(&self, id: Uuid, now: DateTime<Utc>) -> (Duration, u32) {
        let prev = self.recent.lock().ok().and_then(|r| r.get(&id).copied());
        wait_for(prev, now)
    }

    /// Records that a round of `id` (with the streak `hold_off` gave it) ended at `now`.
    pub fn ended(&self, id: Uuid, streak: u32, now: DateTime<Utc>) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        if recent.len() >= REMEMBERED {
            recent.retain(|_, e| since(e.at, now) < QUIET);
        }
        recent.insert(id, Ended { at: now, streak });
    }
}

fn wait_for(prev: Option<Ended>, now: DateTime<Utc>) -> (Duration, u32) {
    match prev {
        Some(e) if since(e.at, now) < QUIET => {
            let streak = e.streak + 1;
            let pause = if streak >= 2 {
                STORM_PAUSE
            } else {
                COALESCE_PAUSE
            };
            (pause.saturating_sub(since(e.at, now)), streak)
        }
        _ => (Duration::ZERO, 0),
    }
}

/// Time from `then` to `now` by the worker's clock (zero if it went back).
fn since(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_or_quiet_drive_starts_at_once() {
        let p = Pacing::default();
        let id = Uuid::new_v4();
        let t0 = Utc::now();
        assert_eq!(p.hold_off(id, t0), (Duration::ZERO, 0), "never synced");
        p.ended(id, 0, t0);
        assert_eq!(
            p.hold_off(id, t0 + chrono::Duration::milliseconds(1_001)),
            (Duration::ZERO, 0),
            "a change after a quiet second"
        );
    }

    #[test]
    fn drives_in_quick_succession_wait_the_coalescing_then_the_storm_pause() {
        let p = Pacing::default();
        let id = Uuid::new_v4();
        let t0 = Utc::now();
        p.ended(id, 0, t0);
        let (wait, streak) = p.hold_off(id, t0 + chrono::Duration::milliseconds(8));
        assert_eq!((wait, streak), (Duration::from_millis(42), 1));
        p.ended(id, streak, t0 + chrono::Duration::milliseconds(60));
        let (wait, streak) = p.hold_off(id, t0 + chrono::Duration::milliseconds(70));
        assert_eq!((wait, streak), (Duration::from_millis(240), 2));
        assert_eq!(
            p.hold_off(Uuid::new_v4(), t0 + chrono::Duration::milliseconds(70)),
            (Duration::ZERO, 0),
            "another connection is not held back"
        );
    }

    #[test]
    fn quiet_ends_are_forgotten_once_many_are_remembered() {
        let p = Pacing::default();
        let t0 = Utc::now();
        for _ in 0..REMEMBERED {
            p.ended(Uuid::new_v4(), 0, t0);
        }
        let later = t0 + chrono::Duration::seconds(2);
        p.ended(Uuid::new_v4(), 0, later);
        assert_eq!(p.recent.lock().map(|r| r.len()).unwrap_or(0), 1);
    }
}
