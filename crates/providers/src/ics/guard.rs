//! SSRF guard of the ICS fetcher: which addresses a user-supplied feed URL may reach,
//! the operator's allow-list, and a DNS resolver that only ever hands vetted addresses
//! to the connector (so DNS rebinding cannot swap in an internal address after the check).

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address may not be fetched from, or `None` if it is a public unicast address.
pub fn refusal_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "an unspecified address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (192, 168, _) => "a private address",
        (172, 16..=31, _) => "a private address",
        (169, 254, _) => "a link-local address",
        (100, 64..=127, _) => "a shared (CGNAT) address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (192, 0, 0) => "a reserved address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        _ if ip == Ipv4Addr::BROADCAST => "a broadcast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    let seg = ip.segments();
    // Forms that carry an IPv4 address are judged by it: mapped (::ffff:a.b.c.d),
    // compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if seg[..5] == [0, 0, 0, 0, 0] && (seg[5] == 0xffff || seg[5] == 0) {
        return Some(v4_reason(embedded(seg[6], seg[7])).unwrap_or("an IPv4-compatible address"));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_reason(embedded(seg[6], seg[7]));
    }
    if seg[0] == 0x2002 {
        return v4_reason(embedded(seg[1], seg[2]));
    }
    match seg[0] {
        s if s & 0xfe00 == 0xfc00 => Some("a unique local address"),
        s if s & 0xffc0 == 0xfe80 => Some("a link-local address"),
        s if s & 0xffc0 == 0xfec0 => Some("a site-local address"),
        s if s & 0xff00 == 0xff00 => Some("a multicast address"),
        0x2001 if seg[1] == 0x0db8 => Some("a documentation address"),
        _ => None,
    }
}

/// Hosts and networks an operator lets the fetcher reach although they are private
/// (`CALSYNC__ICS__ALLOW_HOSTS`): hostnames, IP addresses or CIDRs.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl AllowList {
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        let mut list = AllowList::default();
        for entry in entries {
            let e = entry.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            if let Ok(net) = e.parse::<IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = e.trim_matches(['[', ']']).parse::<IpAddr>() {
                list.nets.push(IpNet::from(ip));
            } else {
                list.hosts.push(normalize_host(e));
            }
        }
        list
    }

    pub fn permits_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.hosts.contains(&host)
    }

    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A refused destination. Travels through reqwest's error chain from the resolver, and
/// is turned back into `IcsFetchError::Refused` by the fetcher.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused: {addr} is {reason}")]
pub struct Refusal {
    pub host: String,
    pub addr: IpAddr,
    pub reason: &'static str,
}

/// Checks one address of `host`. Allowed: public addresses, allow-listed networks, and
/// anything of an allow-listed hostname.
pub fn vet(host: &str, ip: IpAddr, allow: &AllowList) -> Result<(), Refusal> {
    if allow.permits_host(host) || allow.permits_ip(ip) {
        return Ok(());
    }
    match refusal_reason(ip) {
        None => Ok(()),
        Some(reason) => Err(Refusal {
            host: host.to_string(),
            addr: ip,
            reason,
        }),
    }
}

/// Why a host gave no address that may be fetched from.
#[derive(Debug)]
pub enum Unreachable {
    /// Every address it resolved to is refused; the first refusal.
    Refused(Refusal),
    /// It did not resolve (now): not a verdict on the host, since DNS changes.
    Unresolved(Box<dyn std::error::Error + Send + Sync>),
}

/// Resolves `host` with the system resolver and keeps the vetted addresses: what every
/// fetch connects to, and what `IcsFetcher::precheck` asks before a feed is connected.
pub async fn resolve_vetted(host: &str, allow: &AllowList) -> Result<Vec<SocketAddr>, Unreachable> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| Unreachable::Unresolved(Box::new(e)))?
        .collect();
    let mut first_refusal = None;
    let mut vetted = Vec::new();
    for addr in found {
        match vet(host, addr.ip(), allow) {
            Ok(()) => vetted.push(addr),
            Err(r) => {
                first_refusal.get_or_insert(r);
            }
        }
    }
    match (vetted.is_empty(), first_refusal) {
        (false, _) => Ok(vetted),
        (true, Some(r)) => Err(Unreachable::Refused(r)),
        (true, None) => Err(Unreachable::Unresolved(
            format!("{host} did not resolve to any address").into(),
        )),
    }
}

/// Resolves with the system resolver and keeps only vetted addresses.
pub(crate) struct GuardedResolver {
    pub allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = Arc::clone(&self.allow);
        let host = name.as_str().to_string();
        Box::pin(async move {
            match resolve_vetted(&host, &allow).await {
                Ok(vetted) => {
                    let addrs: Addrs = Box::new(vetted.into_iter());
                    Ok(addrs)
                }
                Err(Unreachable::Refused(r)) => Err(Box::new(r) as _),
                Err(Unreachable::Unresolved(e)) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        refusal_reason(s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn internal_ipv4_addresses_are_refused_with_their_kind() {
        assert_eq!(reason("127.0.0.1"), Some("a loopback address"));
        assert_eq!(reason("0.0.0.0"), Some("an unspecified address"));
        assert_eq!(reason("10.0.0.5"), Some("a private address"));
        assert_eq!(reason("172.31.255.1"), Some("a private address"));
        assert_eq!(reason("192.168.1.1"), Some("a private address"));
        assert_eq!(reason("169.254.169.254"), Some("a link-local address"));
        assert_eq!(reason("100.64.0.1"), Some("a shared (CGNAT) address"));
        assert_eq!(reason("224.0.0.1"), Some("a multicast address"));
        assert_eq!(reason("255.255.255.255"), Some("a broadcast address"));
        assert_eq!(reason("192.0.2.10"), Some("a documentation address"));
        assert_eq!(reason("203.0.113.7"), Some("a documentation address"));
    }

    #[test]
    fn public_addresses_pass() {
        assert_eq!(reason("8.8.8.8"), None);
        assert_eq!(reason("172.32.0.1"), None);
        assert_eq!(reason("100.128.0.1"), None);
        assert_eq!(reason("2606:4700::1111"), None);
    }

    #[test]
    fn ipv6_internal_and_ipv4_embedding_forms_are_refused() {
        assert_eq!(reason("::1"), Some("a loopback address"));
        assert_eq!(reason("::"), Some("an unspecified address"));
        assert_eq!(reason("::ffff:127.0.0.1"), Some("a loopback address"));
        assert_eq!(
            reason("::ffff:169.254.169.254"),
            Some("a link-local address")
        );
        assert_eq!(reason("::10.0.0.1"), Some("a private address"));
        assert_eq!(reason("::8.8.8.8"), Some("an IPv4-compatible address"));
        assert_eq!(reason("64:ff9b::10.0.0.1"), Some("a private address"));
        assert_eq!(reason("2002:7f00:1::"), Some("a loopback address"));
        assert_eq!(reason("fd00::1"), Some("a unique local address"));
        assert_eq!(reason("fe80::1"), Some("a link-local address"));
        assert_eq!(reason("ff02::1"), Some("a multicast address"));
        assert_eq!(reason("2001:db8::1"), Some("a documentation address"));
    }

    #[test]
    fn the_allow_list_accepts_hosts_addresses_and_cidrs() {
        let allow = AllowList::new(&["Calendar.Internal.", "127.0.0.1", "10.1.0.0/16", "[::1]"]);
        assert!(vet(
            "calendar.internal",
            "10.9.9.9"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            &allow
        )
        .is_ok());
        assert!(allow.permits_ip(
            "127.0.0.1"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(allow.permits_ip(
            "10.1.200.3"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(allow.permits_ip("::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        let refused = vet(
            "evil.example",
            "10.2.0.5"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            &allow,
        );
        assert_eq!(
            refused.map_err(|r| r.to_string()),
            Err("refused: 10.2.0.5 is a private address".to_string())
        );
    }
}
