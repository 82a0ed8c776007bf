//! Which trace a connection's next sync continues. Notices carry the W3C context of
//! the push that caused them; a batch folds many notices into one sync per connection,
//! so the sync continues the trace of the earliest notice still waiting for it (the
//! others' changes land in the same sync). Kept beside the drive machinery instead of
//! threaded through it: tracing must never change what is synced or when.

use calsync_proto::v1::ChangeNotice;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// Connections with a trace waiting; past it the map starts over (a connection whose
/// syncs all ran elsewhere would otherwise keep its entry forever).
const MAX_WAITING: usize = 100_000;

#[derive(Default)]
pub struct Traces(Mutex<HashMap<Uuid, (String, String)>>);

impl Traces {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, (String, String)>> {
        // Single inserts and removes: a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the trace of each notice that carries one, unless one is waiting.
    pub fn offer(&self, notices: &[ChangeNotice]) {
        let mut waiting = self.lock();
        for n in notices.iter().filter(|n| !n.traceparent.is_empty()) {
            let Ok(id) = n.connection_id.parse::<Uuid>() else {
                continue;
            };
            if waiting.len() >= MAX_WAITING && !waiting.contains_key(&id) {
                waiting.clear();
            }
            waiting
                .entry(id)
                .or_insert_with(|| (n.traceparent.clone(), n.tracestate.clone()));
        }
    }

    /// The trace the connection's sync continues, if a notice brought one.
    pub fn take(&self, id: Uuid) -> Option<(String, String)> {
        self.lock().remove(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: Uuid, parent: &str) -> ChangeNotice {
        ChangeNotice {
            connection_id: id.to_string(),
            traceparent: parent.into(),
            ..ChangeNotice::default()
        }
    }

    #[test]
    fn the_earliest_waiting_trace_is_continued_once() {
        let traces = Traces::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        traces.offer(&[notice(a, ""), notice(a, "first"), notice(a, "second")]);
        traces.offer(&[notice(b, "other")]);
        assert_eq!(traces.take(a).map(|t| t.0).as_deref(), Some("first"));
        assert_eq!(traces.take(a), None, "taken by one sync");
        assert_eq!(traces.take(b).map(|t| t.0).as_deref(), Some("other"));
    }
}
