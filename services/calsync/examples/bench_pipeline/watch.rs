//! Which coworker changes are committed: one query every few milliseconds for every
//! change in flight (by the `(connection_id, provider_event_id)` key of
//! `external_events`), so that the bench asks `GET /api/availability` when the answer can
//! have changed instead of polling it for every change all the time. Polling the api
//! hundreds of times a second per change would load the database the system needs (and
//! measure the bench). The latency is still read from the api: a change counts when
//! availability no longer offers its slot.

use calsync_db::DbPool;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

const TICK: Duration = Duration::from_millis(5);
/// Keys asked about in one query.
const CHUNK: usize = 1000;

type Registration = ((Uuid, String), oneshot::Sender<()>);

#[derive(Clone)]
pub struct Watch {
    tx: mpsc::UnboundedSender<Registration>,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = SqlUuid)]
    connection_id: Uuid,
    #[diesel(sql_type = Text)]
    provider_event_id: String,
}

impl Watch {
    pub fn start(pool: DbPool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    /// Resolves once the event is stored (or never, if it never is).
    pub fn committed(&self, connection: Uuid, event_id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(((connection, event_id.to_owned()), tx));
        rx
    }
}

async fn run(pool: DbPool, mut rx: mpsc::UnboundedReceiver<Registration>) {
    let mut waiting: HashMap<(Uuid, String), oneshot::Sender<()>> = HashMap::new();
    loop {
        if waiting.is_empty() {
            match rx.recv().await {
                Some((k, tx)) => {
                    waiting.insert(k, tx);
                }
                None => return,
            }
        }
        while let Ok((k, tx)) = rx.try_recv() {
            waiting.insert(k, tx);
        }
        // Changes that gave up (their receiver is gone) are forgotten.
        waiting.retain(|_, tx| !tx.is_closed());
        let keys: Vec<(Uuid, String)> = waiting.keys().cloned().collect();
        for chunk in keys.chunks(CHUNK) {
            let Ok(found) = stored(&pool, chunk).await else {
                continue;
            };
            for f in found {
                if let Some(tx) = waiting.remove(&(f.connection_id, f.provider_event_id)) {
                    let _ = tx.send(());
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn stored(pool: &DbPool, keys: &[(Uuid, String)]) -> anyhow::Result<Vec<Found>> {
    let (connections, ids): (Vec<Uuid>, Vec<String>) = keys.iter().cloned().unzip();
    let mut db = pool.get().await?;
    Ok(diesel::sql_query(
        "SELECT e.connection_id, e.provider_event_id
         FROM unnest($1::uuid[], $2::text[]) AS k(c, p)
         JOIN external_events e ON e.connection_id = k.c AND e.provider_event_id = k.p",
    )
    .bind::<Array<SqlUuid>, _>(connections)
    .bind::<Array<Text>, _>(ids)
    .load::<Found>(&mut db)
    .await?)
}
