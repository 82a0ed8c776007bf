//! Push notifications: picks the live channels of a changed calendar, numbers the
//! messages under the state lock, and delivers each in a spawned task with Google's
//! `X-Goog-*` headers, retrying 500/502/503/504 (and connection failures) with
//! exponential back-off. Every attempt is recorded, and counted per channel address
//! (slow or failed answers; see `crate::endpoints`).

use super::state::{Delivery, GoogleState, Inner};
use crate::endpoints::{Admit, Answer};
use chrono::{DateTime, Utc};
use std::time::Instant;

#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub channel_id: String,
    pub token: Option<String>,
    pub expiration: DateTime<Utc>,
    pub resource_id: String,
    pub resource_uri: String,
    pub address: String,
    pub state: &'static str,
    pub number: u64,
}

impl Inner {
    /// Notices for every live channel on `calendar`, numbered now so that numbers grow
    /// in the order changes happened even if deliveries overlap.
    pub fn notices_for_change(&mut self, calendar: &str) -> Vec<Notice> {
        let now = self.now();
        self.channels
            .iter_mut()
            .filter(|(c, _)| c.calendar_id == calendar && !c.stopped && c.expiration > now)
            .map(|(c, next)| {
                *next += 1;
                c.messages_sent = *next;
                Notice {
                    channel_id: c.id.clone(),
                    token: c.token.clone(),
                    expiration: c.expiration,
                    resource_id: c.resource_id.clone(),
                    resource_uri: c.resource_uri.clone(),
                    address: c.address.clone(),
                    state: "exists",
                    number: *next,
                }
            })
            .collect()
    }
}

impl GoogleState {
    pub(crate) fn spawn_deliveries(&self, notices: Vec<Notice>) {
        for n in notices {
            let st = self.clone();
            self.rt.spawn(async move { st.deliver(n).await });
        }
    }

    /// Notifies the channels of `calendar` that something changed.
    pub(crate) fn notify_change(&self, calendar: &str) {
        let mut inner = self.lock();
        let mut notices = inner.notices_for_change(calendar);
        // Lost notifications keep their message numbers: the receiver sees a gap.
        notices.retain(|_| {
            let lose = inner.drop_pushes > 0;
            if lose {
                inner.drop_pushes -= 1;
                inner.dropped_pushes += 1;
            }
            !lose
        });
        drop(inner);
        self.spawn_deliveries(notices);
    }

    async fn deliver(&self, n: Notice) {
        let (attempts, backoff, timeout, policy) = {
            let inner = self.lock();
            let s = &inner.settings;
            let policy = s.endpoint_policy.clone();
            (
                s.push_attempts.max(1),
                s.push_backoff,
                s.push_timeout,
                policy,
            )
        };
        let expiration = n.expiration.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        for attempt in 1..=attempts {
            let admit = {
                let mut inner = self.lock();
                let now = inner.now();
                inner.endpoints.admit(&n.address, 1, &policy, now)
            };
            match admit {
                Admit::Send => {}
                Admit::Delay(wait) => tokio::time::sleep(wait).await,
                Admit::Discard => return,
            }
            let live = {
                let inner = self.lock();
                let now = inner.now();
                inner
                    .channels
                    .iter()
                    .any(|(c, _)| c.id == n.channel_id && !c.stopped && c.expiration > now)
            };
            if !live {
                return;
            }
            let mut req = self
                .http
                .post(&n.address)
                .timeout(timeout)
                .header("X-Goog-Channel-ID", &n.channel_id)
                .header("X-Goog-Channel-Expiration", &expiration)
                .header("X-Goog-Resource-ID", &n.resource_id)
                .header("X-Goog-Resource-URI", &n.resource_uri)
                .header("X-Goog-Resource-State", n.state)
                .header("X-Goog-Message-Number", n.number.to_string())
                .header("Content-Length", "0");
            if let Some(t) = &n.token {
                req = req.header("X-Goog-Channel-Token", t);
            }
            let started = Instant::now();
            let result = req.send().await;
            let elapsed = started.elapsed();
            let (status, error, timed_out) = match &result {
                Ok(r) => (Some(r.status().as_u16()), None, false),
                Err(e) => (None, Some(e.to_string()), e.is_timeout()),
            };
            {
                let mut inner = self.lock();
                let at = inner.now();
                let answer = Answer {
                    elapsed,
                    timed_out,
                    ok: status.is_some_and(|s| (200..300).contains(&s)),
                };
                inner.endpoints.record(&n.address, answer, &policy, at);
                inner.deliveries.push(Delivery {
                    channel_id: n.channel_id.clone(),
                    message_number: n.number,
                    resource_state: n.state.to_owned(),
                    address: n.address.clone(),
                    attempt,
                    status,
                    error,
                    at,
                });
            }
            let retry = match status {
                Some(s) => matches!(s, 500 | 502 | 503 | 504),
                None => true,
            };
            if !retry {
                if let Some(s) = status.filter(|s| !matches!(s, 200 | 201 | 202 | 204 | 102)) {
                    tracing::warn!(channel.id = %n.channel_id, status = s, "google sandbox push refused");
                }
                return;
            }
            if attempt < attempts {
                let factor = 2u32.saturating_pow(attempt - 1);
                tokio::time::sleep(backoff.saturating_mul(factor)).await;
            }
        }
    }
}
