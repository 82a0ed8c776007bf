//! Group commit across connections. The broker's cost is per message, not per byte: at a
//! few thousand confirmed persistent messages a second it takes a core of this machine,
//! so pushes spread over many connections were held by the broker, not by the handler.
//! Here every notice handed in joins a queue; up to `flights` messages are in flight at
//! once, and each flight takes everything queued when it starts (up to `max_group`) into
//! one message. A lone push with a flight free goes out at once, alone; under load the
//! groups grow by themselves, as a database's group commit does.
//!
//! The guarantee stays the one `coalesce` gives: a notice is answered only after the
//! broker confirmed a message that holds it, and it was put in that message after its
//! push arrived.

use crate::coalesce::Sink;
use calsync_mq::{MqError, Publisher};
use calsync_proto::v1::ChangeNotice;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, Semaphore};

/// Where groups go: the confirming publisher (tests use a fake).
pub trait GroupSink: Send + Sync + 'static {
    /// Returns once the broker confirmed one message holding every notice.
    fn publish_group(
        &self,
        notices: Vec<ChangeNotice>,
    ) -> impl Future<Output = Result<(), MqError>> + Send;
}

impl GroupSink for Publisher {
    async fn publish_group(&self, notices: Vec<ChangeNotice>) -> Result<(), MqError> {
        self.publish_notices(notices).await
    }
}

type Answer = Result<(), String>;
type Queue = Vec<(ChangeNotice, oneshot::Sender<Answer>)>;

pub struct Grouper<S> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    sink: S,
    queue: Mutex<Queue>,
    flights: Arc<Semaphore>,
    max_group: usize,
}

impl<S> Shared<S> {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Every critical section is one push or one drain: a poisoned lock is usable.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S: GroupSink> Grouper<S> {
    pub fn new(sink: S, flights: usize, max_group: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                sink,
                queue: Mutex::default(),
                flights: Arc::new(Semaphore::new(flights.max(1))),
                max_group: max_group.max(1),
            }),
        }
    }
}

/// Starts a flight if one is free and something waits. Called after every push and
/// after every flight ends, so nothing is left queued with no flight to take it: a push
/// either finds a free flight or was queued before the last running flight looked.
fn launch<S: GroupSink>(shared: &Arc<Shared<S>>) {
    let Ok(permit) = Arc::clone(&shared.flights).try_acquire_owned() else {
        return;
    };
    let group: Queue = {
        let mut q = shared.queue();
        let n = q.len().min(shared.max_group);
        q.drain(..n).collect()
    };
    if group.is_empty() {
        return;
    }
    let shared = Arc::clone(shared);
    // A task of its own: a request dropped halfway (the provider hung up) must not
    // strand the pushes grouped with it.
    tokio::spawn(async move {
        let (notices, waiters): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let answer = shared
            .sink
            .publish_group(notices)
            .await
            .map_err(|e| e.to_string());
        for w in waiters {
            let _ = w.send(answer.clone());
        }
        drop(permit);
        launch(&shared);
    });
}

impl<S: GroupSink> Sink for Grouper<S> {
    async fn publish(&self, notice: ChangeNotice) -> Result<(), MqError> {
        let (tx, rx) = oneshot::channel();
        self.shared.queue().push((notice, tx));
        launch(&self.shared);
        match rx.await {
            Ok(answer) => answer.map_err(MqError::NotConfirmed),
            Err(_) => Err(MqError::NotConfirmed("the group was abandoned".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// Each group as its connection ids.
    type Gate = crate::gate::Gate<Vec<String>>;

    impl GroupSink for Arc<Gate> {
        async fn publish_group(&self, notices: Vec<ChangeNotice>) -> Result<(), MqError> {
            self.pass(notices.into_iter().map(|n| n.connection_id).collect())
                .await
        }
    }

    fn notice(connection: &str) -> ChangeNotice {
        ChangeNotice {
            connection_id: connection.into(),
            ..ChangeNotice::default()
        }
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn pushes_behind_busy_flights_share_the_next_message_and_all_are_answered() {
        let gate = Arc::new(Gate::default());
        let grouper = Arc::new(Grouper::new(Arc::clone(&gate), 2, 100));
        let send = |id: &'static str| {
            let g = Arc::clone(&grouper);
            tokio::spawn(async move { g.publish(notice(id)).await })
        };
        // Two go out at once, alone: no push waits while a flight is free.
        let a = send("a");
        let b = send("b");
        until("both flights", || gate.seen().len() == 2).await;
        let waiting: Vec<_> = ["c", "d", "e"].into_iter().map(send).collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.seen().len(), 2, "nothing more until a flight lands");
        gate.open.add_permits(1);
        until("the group", || gate.seen().len() == 3).await;
        let mut grouped = gate.seen()[2].clone();
        grouped.sort();
        assert_eq!(grouped, ["c", "d", "e"], "one message for the three");
        gate.open.add_permits(2);
        for t in [a, b].into_iter().chain(waiting) {
            t.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[tokio::test]
    async fn a_refused_message_answers_each_of_its_pushes_with_the_error() {
        let gate = Arc::new(Gate::default());
        let grouper = Arc::new(Grouper::new(Arc::clone(&gate), 1, 100));
        let g = Arc::clone(&grouper);
        let first = tokio::spawn(async move { g.publish(notice("a")).await });
        until("the first flight", || gate.seen().len() == 1).await;
        let rest: Vec<_> = ["b", "c"]
            .into_iter()
            .map(|id| {
                let g = Arc::clone(&grouper);
                tokio::spawn(async move { g.publish(notice(id)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        gate.open.add_permits(1);
        first
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        until("the group", || gate.seen().len() == 2).await;
        gate.fail.store(true, Ordering::SeqCst);
        gate.open.add_permits(1);
        for t in rest {
            assert!(
                t.await.unwrap_or_else(|e| panic!("{e}")).is_err(),
                "a nack reaches every push in it"
            );
        }
    }

    #[tokio::test]
    async fn groups_are_capped() {
        let gate = Arc::new(Gate::default());
        let grouper = Arc::new(Grouper::new(Arc::clone(&gate), 1, 3));
        let g = Arc::clone(&grouper);
        let first = tokio::spawn(async move { g.publish(notice("x")).await });
        until("the first flight", || gate.seen().len() == 1).await;
        let rest: Vec<_> = (0..7)
            .map(|i| {
                let g = Arc::clone(&grouper);
                tokio::spawn(async move { g.publish(notice(&i.to_string())).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        gate.open.add_permits(100);
        first
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        for t in rest {
            t.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let sizes: Vec<usize> = gate.seen().iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 3, 3, 1]);
    }
}
