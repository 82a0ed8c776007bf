//! Rate limit of the public endpoints per client address: a GCRA (the leaky bucket as a
//! single "theoretical arrival time" per address) allowing `per_minute` requests a minute
//! and `burst` at once, answering 429 with `Retry-After`. The client address is the
//! peer's, or, when the peer is a configured trusted proxy, the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy (left of it anyone can write).

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Independent locks, so that two workers rarely wait for each other.
const SHARDS: usize = 16;
/// Past this many addresses, a shard forgets those whose allowance is full again.
const SWEEP_AT: usize = 4096;

pub struct RateLimiter {
    /// Time one request uses up.
    interval: Duration,
    /// How far ahead of now an address may run: `interval * (burst - 1)`.
    tolerance: Duration,
    trusted: Vec<IpNet>,
    epoch: Instant,
    /// Per address: the time (after `epoch`) its allowance is full again.
    shards: Vec<Mutex<HashMap<IpAddr, Duration>>>,
}

impl RateLimiter {
    /// `None` when `per_minute` is 0 (no limit). Entries of `trusted_proxies` that are
    /// neither an address nor a CIDR are refused.
    pub fn new(
        per_minute: u32,
        burst: u32,
        trusted_proxies: &[String],
    ) -> Result<Option<Self>, String> {
        let trusted = trusted_proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("api.trusted_proxies: {s:?} is not an address or CIDR"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if per_minute == 0 {
            return Ok(None);
        }
        let interval = Duration::from_secs(60) / per_minute;
        Ok(Some(Self {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            trusted,
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }))
    }

    /// Counts one request of `client` at `now`; `Err` is how long until it would pass.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let now = now.saturating_duration_since(self.epoch);
        let shard = &self.shards[shard_of(client)];
        let mut map = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= SWEEP_AT {
            map.retain(|_, full_again| *full_again > now);
        }
        let tat = map.get(&client).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        map.insert(client, tat + self.interval);
        Ok(())
    }

    /// The client address of a request from `peer` carrying `forwarded_for`.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for hop in forwarded_for.unwrap_or_default().rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.is_trusted(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(client)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }
}

fn shard_of(ip: IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(v6) => v6.octets()[15],
    };
    usize::from(last) % SHARDS
}

/// Middleware of the public endpoints.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limiter = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.limiter.clone());
    if let Some(limiter) = limiter {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = limiter.client(req.peer_addr().map(|a| a.ip()), forwarded);
        if let Some(client) = client {
            if let Err(wait) = limiter.check(client, Instant::now()) {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let err = ApiError::RateLimited {
                    retry_after_secs: secs.max(1),
                };
                // Answered here rather than as an `Err`, so that CORS still decorates it.
                return Ok(req.error_response(err).map_into_right_body());
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn limiter(per_minute: u32, burst: u32, trusted: &[&str]) -> RateLimiter {
        let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
        match RateLimiter::new(per_minute, burst, &trusted) {
            Ok(Some(l)) => l,
            other => panic!("limiter: {:?}", other.err()),
        }
    }

    #[test]
    fn a_burst_passes_then_one_request_per_interval_per_address() {
        let l = limiter(60, 3, &[]);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip("203.0.113.1"), t0).is_ok());
        }
        let wait = l.check(ip("203.0.113.1"), t0).err();
        assert!(
            wait.is_some_and(|w| w > Duration::from_millis(900) && w <= Duration::from_secs(1)),
            "{wait:?}"
        );
        assert!(l.check(ip("203.0.113.2"), t0).is_ok(), "another address");
        assert!(l
            .check(ip("203.0.113.1"), t0 + Duration::from_secs(1))
            .is_ok());
        assert!(l
            .check(ip("203.0.113.1"), t0 + Duration::from_secs(1))
            .is_err());
    }

    #[test]
    fn zero_per_minute_means_no_limiter_and_bad_proxies_are_refused() {
        assert!(matches!(RateLimiter::new(0, 10, &[]), Ok(None)));
        assert!(RateLimiter::new(10, 10, &["not-an-ip".to_owned()]).is_err());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let l = limiter(60, 1, &["10.0.0.0/8"]);
        let spoofed = Some("1.2.3.4");
        assert_eq!(
            l.client(Some(ip("198.51.100.7")), spoofed),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            l.client(
                Some(ip("10.0.0.2")),
                Some("1.2.3.4, 198.51.100.9, 10.0.0.3")
            ),
            Some(ip("198.51.100.9"))
        );
        assert_eq!(l.client(Some(ip("10.0.0.2")), None), Some(ip("10.0.0.2")));
    }
}
