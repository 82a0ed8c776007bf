//! Asking for syncs: a request is recorded on the connection first (so the scheduler
//! finds it even when the broker is down), then announced with a `ChangeNotice`. Also
//! the operator's fleet-wide "sync everything" and "renew webhooks", which the api's
//! endpoints and the CLI share.

use crate::{webhook, Connections};
use calsync_core::Provider;
use calsync_db::calendars;
use calsync_db::connections::{self, SyncRequest};
use calsync_db::{AsyncPgConnection, DbError};
use calsync_mq::MqError;
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider as WireProvider};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Recorded and published.
    Published,
    /// Recorded, but the broker did not confirm: the worker's scheduler picks up a
    /// pending request that no notice announced, so nothing is lost.
    RecordedOnly,
    /// The connection is paused (re-authorisation, disabled) or gone.
    Inactive,
}

pub fn to_wire(p: Provider) -> WireProvider {
    match p {
        Provider::Google => WireProvider::Google,
        Provider::Microsoft => WireProvider::Microsoft,
        Provider::Ics => WireProvider::Ics,
    }
}

/// The provider a notice names, if it names one.
pub fn from_wire(p: i32) -> Option<Provider> {
    match WireProvider::try_from(p) {
        Ok(WireProvider::Google) => Some(Provider::Google),
        Ok(WireProvider::Microsoft) => Some(Provider::Microsoft),
        Ok(WireProvider::Ics) => Some(Provider::Ics),
        _ => None,
    }
}

/// Fleet-wide outcome of an operator request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetReport {
    /// Syncs recorded (published or left to the scheduler).
    pub enqueued: u64,
    /// Of those, the ones the broker did not confirm.
    pub not_published: u64,
    /// Webhooks marked for renewal at their next sync.
    pub webhooks_to_renew: u64,
}

impl Connections {
    /// Publishes one notice; the request must already be recorded on the connection.
    pub async fn publish_notice(
        &self,
        id: Uuid,
        provider: Option<Provider>,
        reason: NoticeReason,
        full: bool,
        now: DateTime<Utc>,
    ) -> Result<(), MqError> {
        let notice = ChangeNotice {
            connection_id: id.to_string(),
            provider: provider.map_or(WireProvider::Unspecified, to_wire) as i32,
            reason: reason as i32,
            received_at_ms: now.timestamp_millis(),
            full_resync: full,
            ..ChangeNotice::default()
        };
        self.publisher.publish_notice(&notice).await
    }

    /// Records a sync request on the connection, then publishes its notice.
    pub async fn request_sync(
        &self,
        db: &mut AsyncPgConnection,
        id: Uuid,
        provider: Provider,
        reason: NoticeReason,
        full: bool,
    ) -> Result<Enqueued, DbError> {
        let now = self.clock.now();
        match connections::request_sync(db, id, now, full, None).await? {
            SyncRequest::Pending | SyncRequest::Duplicate => {}
            SyncRequest::Inactive => return Ok(Enqueued::Inactive),
        }
        match self
            .publish_notice(id, Some(provider), reason, full, now)
            .await
        {
            Ok(()) => Ok(Enqueued::Published),
            Err(e) => {
                tracing::warn!(connection.id = %id, error.message = %e,
                    "sync notice not confirmed by the broker; the scheduler will pick it up");
                Ok(Enqueued::RecordedOnly)
            }
        }
    }

    /// Asks for a sync of every active connection (of one specialist, with `filter`),
    /// and marks for renewal the webhooks that are missing or expire within a day; the
    /// sync renews them. The api's `/api/integrations/sync` and `calsync sync`.
    pub async fn sync_all(&self, filter: Option<Uuid>) -> Result<FleetReport, DbError> {
        self.fleet(filter, true, false).await
    }

    /// Marks for renewal, and asks a sync of, the webhooks that are missing or expire
    /// within a day (every webhook, with `force`). `calsync renew`.
    pub async fn renew_webhooks(
        &self,
        filter: Option<Uuid>,
        force: bool,
    ) -> Result<FleetReport, DbError> {
        self.fleet(filter, false, force).await
    }

    async fn fleet(
        &self,
        filter: Option<Uuid>,
        sync_everything: bool,
        force_renewal: bool,
    ) -> Result<FleetReport, DbError> {
        let mut db = self.pool.get().await?;
        let now = self.clock.now();
        let mut report = FleetReport::default();
        let list = connections::list(&mut db, filter).await?;
        let ids: Vec<Uuid> = list.iter().map(|c| c.id).collect();
        let cals = calendars::for_connections(&mut db, &ids).await?;
        for c in list {
            if !c.sync_enabled || c.needs_reauth {
                continue;
            }
            let renew = c.provider.has_webhooks()
                && (force_renewal || webhook::connection_state(&c, &cals, now).needs_renewal());
            if renew {
                calendars::request_webhook_renewal(&mut db, c.id, None, false).await?;
                report.webhooks_to_renew += 1;
            }
            if !(renew || sync_everything) {
                continue;
            }
            match self
                .request_sync(&mut db, c.id, c.provider, NoticeReason::Manual, false)
                .await?
            {
                Enqueued::Published => report.enqueued += 1,
                Enqueued::RecordedOnly => {
                    report.enqueued += 1;
                    report.not_published += 1;
                }
                Enqueued::Inactive => {}
            }
        }
        Ok(report)
    }
}
