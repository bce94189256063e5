//! Which proxies' `X-Forwarded-For` the server believes (`--trusted-proxies`), and so who a
//! client is. Per-address limits (logins, registrations) key on this address. Behind a proxy
//! the socket address is the proxy's, so without the setting every client would share one
//! bucket; with it but believing any header, a client could pick a fresh address per request.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parse `CIDR,…` entries; a bare address means just that address.
    pub(crate) fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let mut nets = Vec::new();
        for raw in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let net = match raw.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => raw.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    anyhow::anyhow!("--trusted-proxies: {raw:?} is not a CIDR or an address")
                })?,
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the socket peer, or, when the peer is a trusted proxy, the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its
    /// left were written by the client and prove nothing).
    pub(crate) fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        // Right to left: each hop was written by the party to its right.
        let hops = forwarded_for
            .iter()
            .rev()
            .flat_map(|h| h.rsplit(','))
            .map(str::trim);
        let mut client = peer;
        for hop in hops {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // A garbled hop: stop at the last address a trusted party vouched for.
                break;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.1".into()]).unwrap();
        // Not a proxy: the header is the client's own words.
        assert_eq!(t.client(ip("203.0.113.9"), &["1.2.3.4"]), ip("203.0.113.9"));
        // A proxy: the address it saw.
        assert_eq!(
            t.client(ip("10.1.2.3"), &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A chain: the right-most untrusted hop, not what the client wrote on the left.
        assert_eq!(
            t.client(ip("10.1.2.3"), &["6.6.6.6, 198.51.100.7, 10.9.9.9"]),
            ip("198.51.100.7")
        );
        // Several header lines read as one list.
        assert_eq!(
            t.client(ip("192.168.1.1"), &["6.6.6.6", "198.51.100.8"]),
            ip("198.51.100.8")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(t.client(ip("10.1.2.3"), &[]), ip("10.1.2.3"));
        assert_eq!(t.client(ip("10.1.2.3"), &["not-an-ip"]), ip("10.1.2.3"));
        // IPv4-mapped IPv6 peers match IPv4 ranges.
        assert_eq!(
            t.client(ip("::ffff:10.0.0.5"), &["198.51.100.9"]),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn nothing_is_trusted_by_default_and_bad_entries_are_refused() {
        let t = TrustedProxies::default();
        assert_eq!(t.client(ip("127.0.0.1"), &["1.2.3.4"]), ip("127.0.0.1"));
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }
}
