//! ICS feed sync (being wired to the SSRF-guarded fetcher and the RFC 5545 expander).

use super::SyncError;
use crate::context::WorkerContext;
use calsync_db::connections::Claim;

pub async fn sync(_ctx: &WorkerContext, _claim: &Claim) -> Result<(), SyncError> {
    Err(SyncError::NotConfigured("ics"))
}
