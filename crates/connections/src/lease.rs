//! The connection's lease: who may sync it, refresh its tokens or change its webhook
//! right now. Short-lived and renewed by a heartbeat while its holder works, so that a
//! holder that dies (`kill -9`, a lost node) frees its connections within seconds
//! instead of leaving them stale for a long lease's life.

use crate::{ConnectionError, Connections};
use calsync_db::connections::{self, Claim};
use calsync_db::DbError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A held lease. Release it with `release`; dropping it stops the heartbeat and lets
/// the lease run out by itself.
#[derive(Debug)]
pub struct Lease {
    id: Uuid,
    owner: String,
    lost: Arc<AtomicBool>,
    heartbeat: JoinHandle<()>,
}

impl Connections {
    /// Claims the connection for a sync (clearing its pending flags) when its lease is
    /// free or lapsed.
    pub async fn claim_sync(self: &Arc<Self>, id: Uuid) -> Result<Option<(Lease, Claim)>, DbError> {
        let mut db = self.pool.get().await?;
        let claim =
            connections::try_claim(&mut db, id, &self.owner, self.clock.now(), self.lease_ttl)
                .await?;
        Ok(claim.map(|c| (Lease::hold(self, id), c)))
    }

    /// Takes the lease for work other than a sync (opening a webhook from the api).
    pub async fn take_lease(self: &Arc<Self>, id: Uuid) -> Result<Option<Lease>, DbError> {
        let mut db = self.pool.get().await?;
        let taken =
            connections::try_lease(&mut db, id, &self.owner, self.clock.now(), self.lease_ttl)
                .await?;
        Ok(taken.then(|| Lease::hold(self, id)))
    }
}

impl Lease {
    fn hold(conns: &Arc<Connections>, id: Uuid) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(beat(Arc::clone(conns), id, Arc::clone(&lost)));
        Self {
            id,
            owner: conns.owner.clone(),
            lost,
            heartbeat,
        }
    }

    pub fn connection_id(&self) -> Uuid {
        self.id
    }

    /// Fails once the heartbeat found the lease taken over; writers check before
    /// committing what they fetched.
    pub fn ensure_held(&self) -> Result<(), ConnectionError> {
        if self.lost.load(Ordering::Acquire) {
            Err(ConnectionError::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Gives the lease back. True when another sync was asked for meanwhile: the caller
    /// claims again (or has it claimed), so no notice is lost between fetch and release.
    pub async fn release(self, conns: &Connections) -> Result<bool, DbError> {
        self.heartbeat.abort();
        let mut db = conns.pool.get().await?;
        connections::release(&mut db, self.id, &self.owner).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Renews the lease every third of its life. A failed renewal (database blip) is
/// retried at the next beat; a lease found taken over is marked lost and the beat stops.
async fn beat(conns: Arc<Connections>, id: Uuid, lost: Arc<AtomicBool>) {
    let every = (conns.lease_ttl / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(5))
        .max(std::time::Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let renewed = match conns.pool.get().await {
            Ok(mut db) => {
                connections::extend_lease(
                    &mut db,
                    id,
                    &conns.owner,
                    conns.clock.now(),
                    conns.lease_ttl,
                )
                .await
            }
            Err(e) => Err(e.into()),
        };
        match renewed {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(connection.id = %id, "lease taken over by another holder");
                lost.store(true, Ordering::Release);
                return;
            }
            Err(e) => {
                tracing::warn!(connection.id = %id, error.message = %e, "lease renewal failed")
            }
        }
    }
}
