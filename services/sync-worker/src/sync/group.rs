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

/// Group transactions in flight at once: while one waits for its flush, the next one's
/// statements run.
const COMMITTERS: usize = 2;
/// Writes in one transaction at most (it holds their rows' locks until it commits).
const MAX_GROUP: usize = 64;

/// One sync's writes: applied in a transaction (shared or its own), always together.
pub trait Write: Send + 'static {
    fn connection_id(&self) -> Uuid;
    fn apply<'a>(
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
                db.transaction::<_, DbError, _>(|tx| write.apply(tx).scope_boxed())
                    .await
            }
            Err(e) => Err(e.into()),
        };
        let _ = j.done.send(alone);
    }
}
