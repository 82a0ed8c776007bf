//! Group commit of notices, per connection. A push is answered 2xx only after the
//! broker confirmed a notice that was published *after the push arrived*: the worker
//! consumes that notice, and so fetches, only after the push's change exists. That is
//! the whole guarantee a provider needs, and one notice can give it to many pushes.
//!
//! So: when a push comes for a connection that has no notice waiting for its confirm,
//! its notice is published at once (no added latency). Pushes that come while one is
//! in flight are folded into a single pending notice (highest message number, earliest
//! receive time), published as soon as the one in flight is confirmed; each of them is
//! answered when that notice is confirmed (or fails, and then each answers 503). A
//! storm of N pushes on one connection costs the broker a few notices per confirm
//! round trip instead of N; pushes for different connections never wait for each other.
//!
//! Only identical notices fold: the key is the connection, channel, resource state,
//! reason and full-resync flag, so the worker's replay guard (channel + message number)
//! and lifecycle handling see exactly what they would have seen one by one.

use calsync_mq::MqError;
use calsync_proto::v1::ChangeNotice;
use prometheus::IntCounterVec;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Where notices go: the cross-connection group commit in front of the broker
/// (`group::Grouper`; tests use a fake).
pub trait Sink: Send + Sync + 'static {
    /// Returns once the broker confirmed the notice.
    fn publish(&self, notice: ChangeNotice) -> impl Future<Output = Result<(), MqError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    connection: String,
    provider: i32,
    channel: String,
    state: String,
    reason: i32,
    full: bool,
}

impl Key {
    fn of(n: &ChangeNotice) -> Self {
        Self {
            connection: n.connection_id.clone(),
            provider: n.provider,
            channel: n.channel_id.clone(),
            state: n.resource_state.clone(),
            reason: n.reason,
            full: n.full_resync,
        }
    }
}

type Answer = Result<(), String>;

/// The notice folded from the pushes waiting behind the one in flight.
struct Group {
    notice: ChangeNotice,
    waiters: Vec<oneshot::Sender<Answer>>,
}

/// A key is in the map while a notice for it is in flight.
type Slots = Arc<Mutex<HashMap<Key, Option<Group>>>>;

pub struct Coalescer<S> {
    sink: Arc<S>,
    slots: Slots,
    /// Notices actually published, by provider.
    published: IntCounterVec,
}

fn lock(slots: &Slots) -> MutexGuard<'_, HashMap<Key, Option<Group>>> {
    // A panic while holding this lock cannot leave the map inconsistent (every
    // critical section is a single insert, take or remove), so a poisoned lock is usable.
    slots
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S: Sink> Coalescer<S> {
    pub fn new(sink: S, published: IntCounterVec) -> Self {
        Self {
            sink: Arc::new(sink),
            slots: Arc::default(),
            published,
        }
    }

    /// Returns once a notice covering `notice` (published after it was handed in) is
    /// confirmed by the broker.
    pub async fn publish(&self, notice: ChangeNotice) -> Result<(), MqError> {
        let key = Key::of(&notice);
        let waiting = {
            let mut slots = lock(&self.slots);
            match slots.get_mut(&key) {
                None => {
                    slots.insert(key.clone(), None);
                    Err(notice)
                }
                Some(pending) => {
                    let (tx, rx) = oneshot::channel();
                    match pending {
                        Some(g) => {
                            fold(&mut g.notice, &notice);
                            g.waiters.push(tx);
                        }
                        None => {
                            *pending = Some(Group {
                                notice,
                                waiters: vec![tx],
                            })
                        }
                    }
                    Ok(rx)
                }
            }
        };
        match waiting {
            Ok(rx) => match rx.await {
                Ok(answer) => answer.map_err(MqError::NotConfirmed),
                Err(_) => Err(MqError::NotConfirmed(
                    "the folded notice was abandoned".into(),
                )),
            },
            Err(notice) => {
                // Published in a task of its own: a request dropped halfway (the
                // provider hung up) must not strand the pushes queued behind it.
                let (sink, slots, published) = (
                    Arc::clone(&self.sink),
                    Arc::clone(&self.slots),
                    self.published.clone(),
                );
                let task = tokio::spawn(async move {
                    let label = provider_label(notice.provider);
                    let result = sink.publish(notice).await;
                    if result.is_ok() {
                        published.with_label_values(&[label]).inc();
                    }
                    hand_over(sink, slots, key, published);
                    result
                });
                match task.await {
                    Ok(r) => r,
                    Err(e) => Err(MqError::NotConfirmed(format!("publish task failed: {e}"))),
                }
            }
        }
    }
}

/// After a publish for `key`: frees the key, or publishes the group that gathered.
fn hand_over<S: Sink>(sink: Arc<S>, slots: Slots, key: Key, published: IntCounterVec) {
    {
        let mut map = lock(&slots);
        if matches!(map.get(&key), Some(None) | None) {
            map.remove(&key);
            return;
        }
    }
    tokio::spawn(async move {
        loop {
            let group = {
                let mut map = lock(&slots);
                match map.get_mut(&key).and_then(Option::take) {
                    Some(g) => g,
                    None => {
                        map.remove(&key);
                        return;
                    }
                }
            };
            let label = provider_label(group.notice.provider);
            let answer = sink.publish(group.notice).await.map_err(|e| e.to_string());
            if answer.is_ok() {
                published.with_label_values(&[label]).inc();
            }
            for w in group.waiters {
                let _ = w.send(answer.clone());
            }
        }
    });
}

fn fold(into: &mut ChangeNotice, n: &ChangeNotice) {
    into.message_number = into.message_number.max(n.message_number);
    if n.received_at_ms > 0 && (into.received_at_ms == 0 || n.received_at_ms < into.received_at_ms)
    {
        into.received_at_ms = n.received_at_ms;
    }
}

/// The wire provider as a metric label.
fn provider_label(provider: i32) -> &'static str {
    use calsync_proto::v1::Provider as Wire;
    match Wire::try_from(provider) {
        Ok(Wire::Google) => "google",
        Ok(Wire::Microsoft) => "microsoft",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calsync_proto::v1::{NoticeReason, Provider as Wire};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    type Gate = crate::gate::Gate<ChangeNotice>;

    impl Sink for Arc<Gate> {
        async fn publish(&self, notice: ChangeNotice) -> Result<(), MqError> {
            self.pass(notice).await
        }
    }

    fn notice(connection: &str, number: u64, received: i64) -> ChangeNotice {
        ChangeNotice {
            connection_id: connection.into(),
            provider: Wire::Google as i32,
            reason: NoticeReason::Webhook as i32,
            channel_id: "ch".into(),
            message_number: number,
            resource_state: "exists".into(),
            received_at_ms: received,
            full_resync: false,
            ..ChangeNotice::default()
        }
    }

    fn coalescer(gate: &Arc<Gate>) -> Arc<Coalescer<Arc<Gate>>> {
        let registry = prometheus::Registry::new();
        let published = calsync_runtime::metrics::counter_vec(
            &registry,
            "published",
            "published",
            &["provider"],
        );
        Arc::new(Coalescer::new(Arc::clone(gate), published))
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_lone_push_is_published_at_once_and_frees_its_connection() -> anyhow::Result<()> {
        let gate = Arc::new(Gate::default());
        let c = coalescer(&gate);
        gate.open.add_permits(1);
        c.publish(notice("a", 2, 10)).await?;
        assert_eq!(gate.seen().len(), 1);
        settle().await;
        assert!(lock(&c.slots).is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn pushes_behind_one_in_flight_fold_into_one_notice_published_after_them(
    ) -> anyhow::Result<()> {
        let gate = Arc::new(Gate::default());
        let c = coalescer(&gate);
        let first = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.publish(notice("a", 2, 100)).await }
        });
        settle().await;
        let mut behind = Vec::new();
        for (n, at) in [(5, 105), (3, 99), (4, 103)] {
            let c = Arc::clone(&c);
            behind.push(tokio::spawn(
                async move { c.publish(notice("a", n, at)).await },
            ));
        }
        settle().await;
        // Only the first is at the broker; the others wait, answered by nothing yet.
        assert_eq!(gate.seen().len(), 1);
        assert!(behind.iter().all(|h| !h.is_finished()));
        gate.open.add_permits(1);
        first.await??;
        settle().await;
        let seen = gate.seen();
        assert_eq!(seen.len(), 2, "the three waiting pushes became one notice");
        assert_eq!(seen[1].message_number, 5);
        assert_eq!(seen[1].received_at_ms, 99);
        assert!(
            behind.iter().all(|h| !h.is_finished()),
            "not before its confirm"
        );
        gate.open.add_permits(1);
        for h in behind {
            h.await??;
        }
        settle().await;
        assert!(lock(&c.slots).is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_folded_notice_fails_every_push_it_carried() -> anyhow::Result<()> {
        let gate = Arc::new(Gate::default());
        let c = coalescer(&gate);
        let first = tokio::spawn({
            let c = Arc::clone(&c);
            async move { c.publish(notice("a", 2, 1)).await }
        });
        settle().await;
        let behind: Vec<_> = (3..6)
            .map(|n| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.publish(notice("a", n, 1)).await })
            })
            .collect();
        settle().await;
        gate.open.add_permits(1);
        first.await??;
        settle().await;
        gate.fail.store(true, Ordering::SeqCst);
        gate.open.add_permits(1);
        for h in behind {
            assert!(
                h.await?.is_err(),
                "a push whose notice was not confirmed is a 503"
            );
        }
        Ok(())
    }

    #[tokio::test]
    async fn other_connections_and_channels_never_wait_or_fold() -> anyhow::Result<()> {
        let gate = Arc::new(Gate::default());
        let c = coalescer(&gate);
        let mut other_channel = notice("a", 9, 1);
        other_channel.channel_id = "ch2".into();
        let tasks: Vec<_> = [notice("a", 2, 1), notice("b", 2, 1), other_channel]
            .into_iter()
            .map(|n| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.publish(n).await })
            })
            .collect();
        settle().await;
        assert_eq!(gate.seen().len(), 3, "all three went to the broker at once");
        gate.open.add_permits(3);
        for t in tasks {
            t.await??;
        }
        Ok(())
    }
}
