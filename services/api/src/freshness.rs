//! Whether a specialist's calendars can be vouched for. Availability says so
//! (`calendarsFresh: false` with a reason) when a connection
//! - needs re-authorisation,
//! - has not completed its first sync (a feed that is never fetched must not make its
//!   agent look free from the first minute on),
//! - failed its last sync for a reason that waiting will not fix (a refused address, a
//!   missing feed, a revoked grant), or
//! - has not synced successfully for longer than the configured limit: only transient
//!   failures (throttling, provider outages, network trouble) get this grace.
//!
//! A reason names the provider and the kind of problem, never the stored error text,
//! which may hold a feed URL: availability is public.

use calsync_db::availability::ConnectionHealth;
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    pub fresh: bool,
    /// Why not, one clause per problem connection; `None` when fresh.
    pub reason: Option<String>,
}

/// Judges the enabled connections among `connections`; disabled ones were switched off
/// on purpose and say nothing about the calendar.
pub fn assess<C: Into<ConnectionHealth>>(
    connections: impl IntoIterator<Item = C>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Freshness {
    let mut reasons = Vec::new();
    for c in connections.into_iter().map(Into::into) {
        if !c.sync_enabled {
            continue;
        }
        let calendar = format!("{} calendar", c.provider);
        if c.needs_reauth {
            reasons.push(format!("{calendar} needs re-authorisation"));
        } else if c.last_error_permanent && c.last_error_at.is_some() {
            reasons.push(format!(
                "{calendar} failed to sync for a reason that waiting will not fix"
            ));
        } else {
            match c.last_sync_at {
                None => reasons.push(format!("{calendar} has not completed its first sync")),
                Some(at) if now - at > stale_after => reasons.push(format!(
                    "{calendar} not synced for {} minutes",
                    (now - at).num_minutes()
                )),
                Some(_) => {}
            }
        }
    }
    if reasons.is_empty() {
        Freshness {
            fresh: true,
            reason: None,
        }
    } else {
        Freshness {
            fresh: false,
            reason: Some(reasons.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calsync_core::Provider;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn conn(provider: Provider, last_sync: Option<i64>, created_mins_ago: i64) -> ConnectionHealth {
        let t = now();
        ConnectionHealth {
            specialist_id: Uuid::new_v4(),
            provider,
            sync_enabled: true,
            needs_reauth: false,
            last_sync_at: last_sync.map(|m| t - Duration::minutes(m)),
            last_error_at: None,
            last_error_permanent: false,
            created_at: t - Duration::minutes(created_mins_ago),
        }
    }

    fn failed(mut c: ConnectionHealth, permanent: bool) -> ConnectionHealth {
        c.last_error_at = Some(now() - Duration::minutes(1));
        c.last_error_permanent = permanent;
        c
    }

    #[test]
    fn recently_synced_connections_are_fresh() {
        let c = [
            conn(Provider::Google, Some(5), 600),
            conn(Provider::Ics, Some(29), 600),
        ];
        assert!(assess(c, now(), Duration::minutes(30)).fresh);
    }

    #[test]
    fn a_stale_connection_names_its_provider_and_age() {
        let c = [conn(Provider::Microsoft, Some(45), 600)];
        let f = assess(c, now(), Duration::minutes(30));
        assert!(!f.fresh);
        assert_eq!(
            f.reason.as_deref(),
            Some("microsoft calendar not synced for 45 minutes")
        );
    }

    #[test]
    fn a_connection_needing_reauthorisation_is_not_fresh_even_if_just_synced() {
        let mut c = conn(Provider::Google, Some(1), 600);
        c.needs_reauth = true;
        let f = assess([&c], now(), Duration::minutes(30));
        assert_eq!(
            f.reason.as_deref(),
            Some("google calendar needs re-authorisation")
        );
    }

    #[test]
    fn a_connection_that_never_synced_is_not_fresh_from_its_first_minute() {
        let f = assess([conn(Provider::Ics, None, 0)], now(), Duration::minutes(30));
        assert!(!f.fresh);
        assert_eq!(
            f.reason.as_deref(),
            Some("ics calendar has not completed its first sync")
        );
        let mut disabled = conn(Provider::Ics, None, 31);
        disabled.sync_enabled = false;
        assert!(assess([&disabled], now(), Duration::minutes(30)).fresh);
    }

    #[test]
    fn a_permanent_failure_is_not_fresh_at_once_and_a_transient_one_gets_the_grace() {
        let permanent = failed(conn(Provider::Ics, Some(2), 600), true);
        let f = assess([permanent], now(), Duration::minutes(30));
        assert!(!f.fresh);
        assert_eq!(
            f.reason.as_deref(),
            Some("ics calendar failed to sync for a reason that waiting will not fix")
        );
        let transient = failed(conn(Provider::Google, Some(2), 600), false);
        assert!(assess([transient], now(), Duration::minutes(30)).fresh);
        let long_transient = failed(conn(Provider::Google, Some(40), 600), false);
        assert!(!assess([long_transient], now(), Duration::minutes(30)).fresh);
    }

    #[test]
    fn a_first_sync_that_failed_transiently_is_still_not_fresh() {
        let c = failed(conn(Provider::Ics, None, 1), false);
        assert!(!assess([c], now(), Duration::minutes(30)).fresh);
    }
}
