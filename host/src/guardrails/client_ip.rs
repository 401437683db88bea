//! The client's IP: the socket peer, unless the peer is a trusted proxy, in which case the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Untrusted peers
//! cannot spoof their address with the header.

use std::net::IpAddr;

/// An IP network (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, or the IPv6 forms.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (
                addr.parse::<IpAddr>().ok()?,
                Some(prefix.parse::<u8>().ok()?),
            ),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn mask(net: u128, ip: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    if shift >= 128 {
        true
    } else {
        (net >> shift) == (ip >> shift)
    }
}

/// Parses `TRUSTED_PROXIES` (comma-separated); an invalid entry is an error naming it.
pub fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| IpNet::parse(s).ok_or_else(|| format!("{s:?} is not an IP address or CIDR")))
        .collect()
}

/// The client IP for a request from `peer` with an optional `X-Forwarded-For` header.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    return ip;
                }
            }
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn networks() {
        let net = IpNet::parse("10.0.0.0/8");
        assert!(net.is_some_and(|n| n.contains(ip("10.2.3.4"))));
        assert!(net.is_some_and(|n| !n.contains(ip("11.0.0.1"))));
        assert!(IpNet::parse("::1").is_some_and(|n| n.contains(ip("::1"))));
        assert!(IpNet::parse("127.0.0.1").is_some_and(|n| n.contains(ip("::ffff:127.0.0.1"))));
        assert!(IpNet::parse("0.0.0.0/0").is_some_and(|n| n.contains(ip("8.8.8.8"))));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(parse_trusted_proxies("10.0.0.0/8, bogus").is_err());
    }

    #[test]
    fn forwarded_for_is_only_believed_from_trusted_proxies() {
        let trusted = parse_trusted_proxies("10.0.0.0/8").unwrap_or_default();
        let header = Some("6.6.6.6, 1.2.3.4, 10.0.0.7");
        assert_eq!(client_ip(ip("10.0.0.9"), header, &trusted), ip("1.2.3.4"));
        assert_eq!(
            client_ip(ip("5.5.5.5"), header, &trusted),
            ip("5.5.5.5"),
            "untrusted peer"
        );
        assert_eq!(client_ip(ip("10.0.0.9"), None, &trusted), ip("10.0.0.9"));
        assert_eq!(
            client_ip(ip("10.0.0.9"), Some("garbage"), &trusted),
            ip("10.0.0.9")
        );
    }
}
