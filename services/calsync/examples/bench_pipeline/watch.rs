//! Which coworker changes are committed, so that the bench asks `GET /api/availability`
//! when the answer can have changed instead of polling it for every change all the time
//! (which would load the database the system needs, and measure the bench). The latency
//! is still read from the api: a change counts when availability no longer offers its
//! slot.
//!
//! The watch listens on the channel the system's own triggers notify on commit
//! (`calsync_availability`, the specialist's id) and then looks up only the notified
//! specialists' changes by the `(connection_id, provider_event_id)` key of
//! `external_events`. Every change in flight is also looked up once a second, should a
//! notification be missed; without LISTEN, every 5 ms. Polling every change in flight
//! every 5 ms cost a backlog of a thousand changes most of a PostgreSQL core in the
//! first runs, slowing the very syncs it waited for.

use calsync_db::notify::{Listener, AVAILABILITY_CHANNEL};
use calsync_db::DbPool;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Look-up of every change in flight: with LISTEN (a safety net), and without.
const SWEEP: Duration = Duration::from_secs(1);
const SWEEP_WITHOUT_LISTEN: Duration = Duration::from_millis(5);
/// Keys asked about in one query.
const CHUNK: usize = 1000;

type Key = (Uuid, String);

struct Registration {
    key: Key,
    specialist: Uuid,
    tx: oneshot::Sender<()>,
}

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

struct Waiting {
    specialist: Uuid,
    tx: oneshot::Sender<()>,
}

impl Watch {
    pub fn start(pool: DbPool, database_url: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, database_url, rx));
        Self { tx }
    }

    /// Resolves once the event is stored (or never, if it never is).
    pub fn committed(
        &self,
        specialist: Uuid,
        connection: Uuid,
        event_id: &str,
    ) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Registration {
            key: (connection, event_id.to_owned()),
            specialist,
            tx,
        });
        rx
    }
}

async fn run(pool: DbPool, url: String, mut rx: mpsc::UnboundedReceiver<Registration>) {
    let mut listener =
        match Listener::connect(&url, "calsync-bench-watch", AVAILABILITY_CHANNEL).await {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("[bench] watch: cannot LISTEN ({e}); polling every change");
                None
            }
        };
    let mut waiting: HashMap<Key, Waiting> = HashMap::new();
    let mut sweep = tokio::time::interval(if listener.is_some() {
        SWEEP
    } else {
        SWEEP_WITHOUT_LISTEN
    });
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut notified: HashSet<Uuid> = HashSet::new();
        let mut sweep_now = false;
        tokio::select! {
            r = rx.recv() => match r {
                Some(reg) => {
                    waiting.insert(reg.key, Waiting { specialist: reg.specialist, tx: reg.tx });
                }
                None => return,
            },
            p = async {
                match listener.as_mut() {
                    Some(l) => l.next().await,
                    None => std::future::pending().await,
                }
            } => match p {
                Some(p) => {
                    if let Ok(id) = p.parse() {
                        notified.insert(id);
                    }
                }
                None => {
                    eprintln!("[bench] watch: LISTEN session lost; polling every change");
                    listener = None;
                    sweep = tokio::time::interval(SWEEP_WITHOUT_LISTEN);
                }
            },
            _ = sweep.tick() => sweep_now = true,
        }
        while let Ok(reg) = rx.try_recv() {
            waiting.insert(
                reg.key,
                Waiting {
                    specialist: reg.specialist,
                    tx: reg.tx,
                },
            );
        }
        if let Some(l) = listener.as_mut() {
            while let Some(p) = l.try_next() {
                if let Ok(id) = p.parse() {
                    notified.insert(id);
                }
            }
        }
        // Changes that gave up (their receiver is gone) are forgotten.
        waiting.retain(|_, w| !w.tx.is_closed());
        let keys: Vec<Key> = waiting
            .iter()
            .filter(|(_, w)| sweep_now || notified.contains(&w.specialist))
            .map(|(k, _)| k.clone())
            .collect();
        for chunk in keys.chunks(CHUNK) {
            let Ok(found) = stored(&pool, chunk).await else {
                continue;
            };
            for f in found {
                if let Some(w) = waiting.remove(&(f.connection_id, f.provider_event_id)) {
                    let _ = w.tx.send(());
                }
            }
        }
    }
}

async fn stored(pool: &DbPool, keys: &[Key]) -> anyhow::Result<Vec<Found>> {
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
