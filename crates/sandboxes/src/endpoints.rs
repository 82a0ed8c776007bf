//! How fast push receivers answer, per receiving address, and Graph's penalty for slow
//! ones (providers.md): an answer over about 2.9 s is slow; once 100 notifications were
//! measured, more than 10 % slow answers mark the endpoint slow (deliveries delayed) and
//! more than 15 % drop it (notifications discarded for up to 10 minutes). Both sandboxes
//! keep the counters; only Graph enforces the penalty by default, since Google publishes
//! no budget.
//!
//! One POST is one answer, whatever number of notifications it carries: slowness is a
//! property of the answer. Ratios are taken over a sliding window of the last `window`
//! answers, and only once the window is full, so a receiver is never judged on its first
//! few answers. Leaving the dropped state starts the counters afresh.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// When a receiver counts as slow and what it costs it. Thresholds are settings so that
/// tests can use milliseconds and a small window.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowEndpointPolicy {
    /// An answer that takes longer than this, or none before the delivery timeout, is slow.
    pub slow_answer: Duration,
    /// How many of the latest answers the ratios are taken over; nothing is judged before
    /// this many were counted.
    pub window: usize,
    /// More than this share (percent) of slow answers in the window: the endpoint is slow.
    pub slow_percent: u32,
    /// More than this share (percent): the endpoint is dropped.
    pub drop_percent: u32,
    /// How long each delivery to a slow endpoint waits before it is sent. Graph publishes
    /// no figure; the default stays within its "at most about three minutes".
    pub slow_delay: Duration,
    /// How long a dropped endpoint's notifications are discarded.
    pub drop_period: Duration,
    /// False: count and show, never delay or discard.
    pub enforce: bool,
}

impl SlowEndpointPolicy {
    /// Graph's published figures.
    pub fn graph() -> Self {
        Self {
            slow_answer: Duration::from_millis(2900),
            window: 100,
            slow_percent: 10,
            drop_percent: 15,
            slow_delay: Duration::from_secs(60),
            drop_period: Duration::from_secs(10 * 60),
            enforce: true,
        }
    }

    /// The same measurement, no penalty (Google: no published budget).
    pub fn count_only() -> Self {
        Self {
            enforce: false,
            ..Self::graph()
        }
    }

    /// Whether one answer counts as slow.
    pub fn is_slow(&self, elapsed: Duration, timed_out: bool) -> bool {
        timed_out || elapsed > self.slow_answer
    }

    /// The state the window's share of slow answers calls for.
    fn judge(&self, answers: usize, slow: usize) -> EndpointState {
        if !self.enforce || answers < self.window.max(1) {
            return EndpointState::Normal;
        }
        // Integer shares, so that 3 of 20 is exactly 15 % and not "over".
        let share = slow as u128 * 100;
        let of = |percent: u32| u128::from(percent) * answers as u128;
        if share > of(self.drop_percent) {
            EndpointState::Dropped
        } else if share > of(self.slow_percent) {
            EndpointState::Slow
        } else {
            EndpointState::Normal
        }
    }
}

impl Default for SlowEndpointPolicy {
    fn default() -> Self {
        Self::graph()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointState {
    Normal,
    /// Each delivery waits `slow_delay` first.
    Slow,
    /// Notifications are discarded until `dropped_until`.
    Dropped,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Slow => "slow",
            Self::Dropped => "dropped",
        }
    }
}

/// What is known about one receiving address since its counters last started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealth {
    pub url: String,
    pub state: EndpointState,
    /// POSTs made (answered, failed or timed out).
    pub sent: u64,
    /// POSTs answered slower than `slow_answer` or not at all before the timeout.
    pub slow: u64,
    /// POSTs not answered with a 2xx (timeouts included).
    pub failed: u64,
    /// Deliveries held back by `slow_delay`.
    pub delayed: u64,
    /// Notifications thrown away while dropped.
    pub discarded: u64,
    /// Answers in the sliding window, and how many of them were slow.
    pub window_answers: usize,
    pub window_slow: usize,
    pub dropped_until: Option<DateTime<Utc>>,
}

/// What to do with a delivery now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Send,
    /// Send after waiting this long (slow endpoint).
    Delay(Duration),
    /// Do not send (dropped endpoint).
    Discard,
}

/// One answer, as the policy classifies it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    pub elapsed: Duration,
    pub timed_out: bool,
    pub ok: bool,
}

#[derive(Debug, Default)]
struct Tracker {
    state: Option<EndpointState>,
    dropped_until: Option<DateTime<Utc>>,
    sent: u64,
    slow: u64,
    failed: u64,
    delayed: u64,
    discarded: u64,
    /// Slow flags of the latest answers, oldest first.
    recent: VecDeque<bool>,
}

impl Tracker {
    fn state(&self) -> EndpointState {
        self.state.unwrap_or(EndpointState::Normal)
    }
}

/// The counters of every address a sandbox delivered to.
#[derive(Debug, Default)]
pub(crate) struct EndpointBook {
    endpoints: BTreeMap<String, Tracker>,
}

impl EndpointBook {
    /// Ends drop periods that are over: the endpoint is normal again, with fresh counters.
    fn expire(&mut self, now: DateTime<Utc>) {
        for (url, t) in &mut self.endpoints {
            if t.dropped_until.is_some_and(|until| until <= now) {
                *t = Tracker::default();
                tracing::warn!(endpoint.url = %url, "sandbox endpoint's drop period is over; back to normal with fresh counters");
            }
        }
    }

    /// Whether a delivery of `notifications` to `url` goes out now, later or not at all.
    pub fn admit(
        &mut self,
        url: &str,
        notifications: usize,
        policy: &SlowEndpointPolicy,
        now: DateTime<Utc>,
    ) -> Admit {
        if !policy.enforce {
            return Admit::Send;
        }
        self.expire(now);
        let Some(t) = self.endpoints.get_mut(url) else {
            return Admit::Send;
        };
        match t.state() {
            EndpointState::Normal => Admit::Send,
            EndpointState::Slow => {
                t.delayed += 1;
                Admit::Delay(policy.slow_delay)
            }
            EndpointState::Dropped => {
                t.discarded += notifications as u64;
                Admit::Discard
            }
        }
    }

    /// Counts one answer and moves the endpoint to the state its window calls for.
    pub fn record(
        &mut self,
        url: &str,
        answer: Answer,
        policy: &SlowEndpointPolicy,
        now: DateTime<Utc>,
    ) {
        self.expire(now);
        let t = self.endpoints.entry(url.to_owned()).or_default();
        let slow = policy.is_slow(answer.elapsed, answer.timed_out);
        t.sent += 1;
        t.slow += u64::from(slow);
        t.failed += u64::from(!answer.ok);
        t.recent.push_back(slow);
        while t.recent.len() > policy.window.max(1) {
            t.recent.pop_front();
        }
        let before = t.state();
        // A late answer to a delivery sent before the drop does not shorten the drop.
        if before == EndpointState::Dropped {
            return;
        }
        let window_slow = t.recent.iter().filter(|s| **s).count();
        let after = policy.judge(t.recent.len(), window_slow);
        if after == before {
            return;
        }
        t.state = Some(after);
        if after == EndpointState::Dropped {
            let period =
                chrono::Duration::from_std(policy.drop_period).unwrap_or(chrono::Duration::MAX);
            t.dropped_until = Some(
                now.checked_add_signed(period)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            );
        }
        tracing::warn!(
            endpoint.url = %url,
            from = before.as_str(),
            to = after.as_str(),
            window.answers = t.recent.len(),
            window.slow = window_slow,
            "sandbox endpoint changed state after slow answers"
        );
    }

    /// Every address delivered to, with its counters and state now.
    pub fn snapshot(&mut self, now: DateTime<Utc>) -> Vec<EndpointHealth> {
        self.expire(now);
        self.endpoints
            .iter()
            .map(|(url, t)| EndpointHealth {
                url: url.clone(),
                state: t.state(),
                sent: t.sent,
                slow: t.slow,
                failed: t.failed,
                delayed: t.delayed,
                discarded: t.discarded,
                window_answers: t.recent.len(),
                window_slow: t.recent.iter().filter(|s| **s).count(),
                dropped_until: t.dropped_until,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SlowEndpointPolicy {
        SlowEndpointPolicy {
            slow_answer: Duration::from_millis(50),
            window: 20,
            drop_period: Duration::from_secs(60),
            ..SlowEndpointPolicy::graph()
        }
    }

    #[test]
    fn the_share_of_slow_answers_is_judged_only_once_the_window_is_full_and_only_when_over() {
        let p = policy();
        assert_eq!(p.judge(19, 19), EndpointState::Normal);
        assert_eq!(
            p.judge(20, 2),
            EndpointState::Normal,
            "10 % is not over 10 %"
        );
        assert_eq!(p.judge(20, 3), EndpointState::Slow, "15 % is not over 15 %");
        assert_eq!(p.judge(20, 4), EndpointState::Dropped);
        let lenient = SlowEndpointPolicy::count_only();
        assert_eq!(lenient.judge(100, 100), EndpointState::Normal);
    }

    #[test]
    fn a_dropped_endpoint_discards_until_its_period_ends_then_starts_afresh() {
        let p = policy();
        let mut book = EndpointBook::default();
        let t0 = Utc::now();
        let slow = Answer {
            elapsed: Duration::from_millis(80),
            timed_out: false,
            ok: true,
        };
        for _ in 0..20 {
            book.record("http://r/hook", slow, &p, t0);
        }
        assert_eq!(book.admit("http://r/hook", 3, &p, t0), Admit::Discard);
        let seen = book.snapshot(t0);
        assert_eq!(seen[0].state, EndpointState::Dropped);
        assert_eq!(seen[0].discarded, 3);
        let later = t0 + chrono::Duration::seconds(61);
        assert_eq!(book.admit("http://r/hook", 1, &p, later), Admit::Send);
        let seen = book.snapshot(later);
        assert_eq!(seen[0].state, EndpointState::Normal);
        assert_eq!((seen[0].sent, seen[0].discarded), (0, 0));
    }
}
