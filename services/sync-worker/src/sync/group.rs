//! Group commit of the syncs' event writes. Every commit that notifies the availability
//! cache (events do) holds a cluster-wide lock (PostgreSQL's NOTIFY queue lock) through
//! its WAL flush: one sync per commit capped the worker at one sync per flush, a few
//! hundred a second on a quiet disk and far fewer on a busy one. The syncs that are
//! ready to commit at the same moment share one transaction instead, so one lock and
//! one flush carry them all. Nothing waits for company: a write is committed at once
//! when a committer slot is free, and the writes that arrive while every slot commits
//! go together in the next group.
//!
//! A lease keeps each connection's syncs one at a time, so two groups never write the
//! same connection's rows; the writes of a group are applied in connection id order,
//! the order in which the handler's request transactions lock rows too, so that
//! neither waits on the other in a cycle. A group that fails is committed write by
//! write (each alone, as without grouping), so one bad write never fails the others;
//! the writes are idempotent (upserts, removals, the cursor), so one that was in a
//! group whose commit outcome is unknown can be applied again.

use calsync_db::{DbError, DbPool};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::{oneshot, Semaphore};
use uuid::Uuid;

/// Group transactions in flight at once: a group's statements run one after another,
/// a round trip each, so with two the groups' statements (not the flushes) became the
/// queue at 300 syncs/s; while one group waits for its flush the others' statements run.
const COMMITTERS: usize = 6;
/// Writes in one transaction at most (it holds their rows' locks until it commits).
const MAX_GROUP: usize = 64;

/// One sync's writes: applied in a transaction (shared or its own), always together.
pub trait Write: Send + 'static {
    fn connection_id(&self) -> Uuid;
    /// The writes no other transaction waits on (the events).
    fn apply<'a>(
        &'a mut self,
        tx: &'a mut AsyncPgConnection,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a;
    /// The writes to rows that recording a sync request locks too (the connection's and
    /// its calendar's): a group runs them after every write's `apply`, so that those
    /// locks are held through the group's last statements and its commit only, not
    /// through every other sync's event writes (which kept pushes for the group's
    /// connections, and the leases behind them, waiting).
    fn finish<'a>(
        &'a mut self,
        tx: &'a mut AsyncPgConnection,
    ) -> impl Future<Output = Result<(), DbError>> + Send + 'a;
}

struct Job<W> {
    write: W,
    done: oneshot::Sender<Result<(), DbError>>,
}

pub struct GroupCommit<W> {
    queue: Mutex<Vec<Job<W>>>,
    slots: Semaphore,
}

impl<W: Write> Default for GroupCommit<W> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            slots: Semaphore::new(COMMITTERS),
        }
    }
}

impl<W: Write> GroupCommit<W> {
    /// Commits `write`, alone or with others; returns once it is committed (or failed).
    pub async fn commit(&self, pool: &DbPool, write: W) -> Result<(), DbError> {
        let (done, result) = oneshot::channel();
        self.push(Job { write, done });
        {
            // The caller that gets a slot commits whatever is queued then, its own write
            // or, when another committer already took that, the ones behind it.
            let _slot = self.slots.acquire().await.map_err(unavailable)?;
            let jobs = self.take();
            if !jobs.is_empty() {
                commit_group(pool, jobs).await;
            }
        }
        result
            .await
            .unwrap_or_else(|_| Err(unavailable("the group commit was abandoned")))
    }

    fn push(&self, job: Job<W>) {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(job);
    }

    fn take(&self) -> Vec<Job<W>> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = queue.len().min(MAX_GROUP);
        queue.drain(..n).collect()
    }
}

fn unavailable(e: impl std::fmt::Display) -> DbError {
    DbError::Unavailable(e.to_string().into())
}

async fn commit_group<W: Write>(pool: &DbPool, mut jobs: Vec<Job<W>>) {
    jobs.sort_by_key(|j| j.write.connection_id());
    if jobs.len() > 1 {
        let together = match pool.get().await {
            Ok(mut db) => {
                let writes = &mut jobs;
                db.transaction::<_, DbError, _>(|tx| {
                    async move {
                        for j in writes.iter_mut() {
                            j.write.apply(tx).await?;
                        }
                        for j in writes.iter_mut() {
                            j.write.finish(tx).await?;
                        }
                        Ok(())
                    }
                    .scope_boxed()
                })
                .await
            }
            Err(e) => Err(e.into()),
        };
        match together {
            Ok(()) => {
                for j in jobs {
                    let _ = j.done.send(Ok(()));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(writes = jobs.len(), error.message = %e, "group commit failed; committing its writes one by one");
            }
        }
    }
    for mut j in jobs {
        let alone = match pool.get().await {
            Ok(mut db) => {
                let write = &mut j.write;
                db.transaction::<_, DbError, _>(|tx| {
                    async move {
                        write.apply(tx).await?;
                        write.finish(tx).await
                    }
                    .scope_boxed()
                })
                .await
            }
            Err(e) => Err(e.into()),
        };
        let _ = j.done.send(alone);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use calsync_db::specialists;
    use calsync_testkit::TestDatabase;
    use diesel_async::SimpleAsyncConnection;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// Stores a specialist named by its id, whose zone is the transaction it ran in
    /// (any table would do); `fail` then makes it fail.
    struct Probe {
        id: Uuid,
        fail: bool,
    }

    impl Write for Probe {
        fn connection_id(&self) -> Uuid {
            self.id
        }

        async fn apply(&mut self, tx: &mut AsyncPgConnection) -> Result<(), DbError> {
            let id = self.id;
            tx.batch_execute(&format!(
                "INSERT INTO specialists (id, user_id, display_name, time_zone)
                 VALUES ('{id}', '{id}', 'probe', txid_current()::text)"
            ))
            .await?;
            if self.fail {
                tx.batch_execute("SELECT 1 / 0").await?;
            }
            Ok(())
        }

        /// Names the probe by how many probes its transaction had applied by then.
        async fn finish(&mut self, tx: &mut AsyncPgConnection) -> Result<(), DbError> {
            let id = self.id;
            tx.batch_execute(&format!(
                "UPDATE specialists SET display_name = (SELECT count(*)::text FROM specialists
                   WHERE time_zone = txid_current()::text) WHERE id = '{id}'"
            ))
            .await?;
            Ok(())
        }
    }

    /// Commits `n` writes at once (the `failing`-th fails): each one's id, result and
    /// transaction if stored.
    async fn commit_at_once(
        pool: &DbPool,
        commits: &Arc<GroupCommit<Probe>>,
        n: usize,
        failing: Option<usize>,
    ) -> Vec<(Result<(), DbError>, Option<(String, String)>)> {
        let writes: Vec<Probe> = (0..n)
            .map(|i| Probe {
                id: Uuid::new_v4(),
                fail: Some(i) == failing,
            })
            .collect();
        let ids: Vec<Uuid> = writes.iter().map(|w| w.id).collect();
        let tasks = writes.into_iter().map(|w| {
            let (pool, commits) = (pool.clone(), Arc::clone(commits));
            tokio::spawn(async move { commits.commit(&pool, w).await })
        });
        let results = futures::future::join_all(tasks).await;
        let mut db = pool.get().await.unwrap();
        let mut out = Vec::new();
        for (id, r) in ids.into_iter().zip(results) {
            let stored = match specialists::get(&mut db, id).await {
                Ok(s) => Some((s.time_zone, s.display_name)),
                Err(DbError::NotFound) => None,
                Err(e) => panic!("reading {id}: {e}"),
            };
            out.push((r.expect("commit task"), stored));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_ready_together_share_a_commit_and_a_failing_one_fails_alone() {
        let db = TestDatabase::new().await.expect("test database");
        let pool = db.pool().clone();
        let commits = Arc::new(GroupCommit::<Probe>::default());

        let first = commit_at_once(&pool, &commits, 20, None).await;
        assert!(
            first
                .iter()
                .all(|(r, stored)| r.is_ok() && stored.is_some()),
            "every write commits and is stored"
        );
        let transactions: HashSet<&String> = first
            .iter()
            .filter_map(|(_, t)| t.as_ref().map(|(tx, _)| tx))
            .collect();
        assert!(
            transactions.len() < 20,
            "writes waiting for a committer share its transaction ({} for 20)",
            transactions.len()
        );
        for tx in &transactions {
            let group = first
                .iter()
                .filter(|(_, t)| t.as_ref().is_some_and(|(t, _)| t == *tx))
                .count();
            for (_, stored) in &first {
                if let Some((t, finished_after)) = stored {
                    if t == *tx {
                        assert_eq!(
                            finished_after,
                            &group.to_string(),
                            "a group's bookkeeping rows are written after all its events"
                        );
                    }
                }
            }
        }

        let second = commit_at_once(&pool, &commits, 20, Some(7)).await;
        for (i, (result, stored)) in second.iter().enumerate() {
            if i == 7 {
                assert!(result.is_err(), "the failing write reports its failure");
                assert!(stored.is_none(), "and leaves nothing behind");
            } else {
                assert!(result.is_ok(), "write {i} commits despite the failing one");
                assert!(stored.is_some(), "write {i} is stored");
            }
        }
    }
}
