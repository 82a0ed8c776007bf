//! Asking the sync-worker for a sync: record it on the connection first (so the
//! scheduler finds it even if the broker is down), then publish a `ChangeNotice`.

use crate::state::AppState;
use calsync_core::Provider;
use calsync_db::connections::{self, SyncRequest};
use calsync_db::{AsyncPgConnection, DbError};
use calsync_proto::v1::{ChangeNotice, NoticeReason, Provider as WireProvider};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Recorded and published.
    Published,
    /// Recorded, but the broker did not confirm: the worker's scheduler picks up a
    /// pending request that no notice announced within a minute, so nothing is lost.
    RecordedOnly,
    /// The connection is paused (re-authorisation, disabled) or gone.
    Inactive,
}

fn wire_provider(p: Provider) -> WireProvider {
    match p {
        Provider::Google => WireProvider::Google,
        Provider::Microsoft => WireProvider::Microsoft,
        Provider::Ics => WireProvider::Ics,
    }
}

pub async fn request_sync(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    connection_id: Uuid,
    provider: Provider,
    reason: NoticeReason,
    full: bool,
    now: DateTime<Utc>,
) -> Result<Enqueued, DbError> {
    match connections::request_sync(conn, connection_id, now, full, None).await? {
        SyncRequest::Pending | SyncRequest::Duplicate => {}
        SyncRequest::Inactive => return Ok(Enqueued::Inactive),
    }
    let notice = ChangeNotice {
        connection_id: connection_id.to_string(),
        provider: wire_provider(provider) as i32,
        reason: reason as i32,
        channel_id: String::new(),
        message_number: 0,
        resource_state: String::new(),
        received_at_ms: now.timestamp_millis(),
        full_resync: full,
    };
    match state.publisher.publish_notice(&notice).await {
        Ok(()) => Ok(Enqueued::Published),
        Err(e) => {
            tracing::warn!(connection.id = %connection_id, error.message = %e,
                "sync notice not confirmed by the broker; the scheduler will pick it up");
            Ok(Enqueued::RecordedOnly)
        }
    }
}
