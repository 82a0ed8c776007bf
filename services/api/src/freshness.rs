//! Whether a specialist's calendars can be vouched for: a connection that needs
//! re-authorisation, or has not synced successfully for longer than the configured limit,
//! makes availability say so (`calendarsFresh: false` with a reason), so that a broken
//! connection never makes an agent look free without anyone noticing.

use calsync_db::connections::Connection;
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    pub fresh: bool,
    /// Why not, one clause per problem connection; `None` when fresh.
    pub reason: Option<String>,
}

/// Judges the enabled connections among `connections`; disabled ones were switched off
/// on purpose and say nothing about the calendar.
pub fn assess<'a>(
    connections: impl IntoIterator<Item = &'a Connection>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Freshness {
    let mut reasons = Vec::new();
    for c in connections.into_iter().filter(|c| c.sync_enabled) {
        let calendar = format!("{} calendar", c.provider);
        if c.needs_reauth {
            reasons.push(format!("{calendar} needs re-authorisation"));
            continue;
        }
        match c.last_sync_at {
            Some(at) if now - at > stale_after => reasons.push(format!(
                "{calendar} not synced for {} minutes",
                (now - at).num_minutes()
            )),
            None if now - c.created_at > stale_after => reasons.push(format!(
                "{calendar} has not completed a sync since it was connected {} minutes ago",
                (now - c.created_at).num_minutes()
            )),
            _ => {}
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

    fn conn(provider: Provider, last_sync: Option<i64>, created_mins_ago: i64) -> Connection {
        let t = now();
        Connection {
            id: Uuid::new_v4(),
            specialist_id: Uuid::new_v4(),
            provider,
            external_calendar_id: "primary".into(),
            account_email: None,
            access_token_enc: None,
            refresh_token_enc: None,
            token_expires_at: None,
            sync_enabled: true,
            needs_reauth: false,
            sync_cursor: None,
            sync_window_start: None,
            ics_etag: None,
            ics_last_modified: None,
            webhook_channel_id: None,
            webhook_resource_id: None,
            webhook_subscription_id: None,
            webhook_expires_at: None,
            webhook_last_error: None,
            webhook_renew_after: t,
            webhook_renew_requested: false,
            webhook_last_message: 0,
            last_sync_at: last_sync.map(|m| t - Duration::minutes(m)),
            last_sync_attempt_at: None,
            last_error: None,
            last_error_at: None,
            consecutive_failures: 0,
            next_poll_at: t,
            sync_pending: false,
            full_resync_requested: false,
            sync_requested_at: None,
            sync_count: 0,
            lease_owner: None,
            lease_expires_at: None,
            created_at: t - Duration::minutes(created_mins_ago),
            updated_at: t,
        }
    }

    #[test]
    fn recently_synced_connections_are_fresh() {
        let c = [
            conn(Provider::Google, Some(5), 600),
            conn(Provider::Ics, None, 2),
        ];
        assert!(assess(&c, now(), Duration::minutes(30)).fresh);
    }

    #[test]
    fn a_stale_connection_names_its_provider_and_age() {
        let c = [conn(Provider::Microsoft, Some(45), 600)];
        let f = assess(&c, now(), Duration::minutes(30));
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
    fn a_connection_that_never_synced_is_stale_once_older_than_the_limit() {
        let f = assess(
            &[conn(Provider::Ics, None, 31)],
            now(),
            Duration::minutes(30),
        );
        assert!(!f.fresh);
        let mut disabled = conn(Provider::Ics, None, 31);
        disabled.sync_enabled = false;
        assert!(assess([&disabled], now(), Duration::minutes(30)).fresh);
    }
}
