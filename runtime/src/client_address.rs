//! Whose request is this: the client's address behind proxies we trust.
//!
//! A login limit per address is only as good as the address. Behind the
//! ingress and the BFF, the peer of identity is always the BFF; the BFF's
//! is the ingress. Each hop that is a trusted proxy appends the address it
//! saw to `X-Forwarded-For`; a hop that is not trusted is the client,
//! whatever it wrote in that header.

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// The header (HTTP) and metadata key (gRPC) carrying the chain.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

#[derive(Debug, thiserror::Error)]
#[error("trusted proxies: {entry:?} is neither an address nor a network (e.g. 10.0.0.0/8)")]
pub struct TrustedProxiesError {
    entry: String,
}

/// The networks whose `X-Forwarded-For` is believed (empty: nobody's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    /// Comma-separated addresses or networks: `127.0.0.1, 10.0.0.0/8`.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| TrustedProxiesError {
                        entry: entry.to_string(),
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client: the peer, unless the peer is trusted; then the nearest
    /// address in `forwarded_for` (read right to left) that is not a
    /// trusted proxy. An entry that does not parse ends the walk there:
    /// what lies left of it was written by someone we cannot vouch for.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let chain: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for entry in chain.into_iter().rev() {
            match entry.trim().parse::<IpAddr>() {
                Ok(address) => {
                    client = canonical(address);
                    if !self.trusts(client) {
                        return client;
                    }
                }
                Err(_) => return client,
            }
        }
        client
    }
}

/// `::ffff:10.1.2.3` is 10.1.2.3: a dual-stack listener reports IPv4
/// peers that way.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let client = proxies.client_address(ip("203.0.113.9"), ["198.51.100.1"]);
        assert_eq!(client, ip("203.0.113.9"));
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_address(ip("10.0.0.5"), ["198.51.100.1"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let proxies: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
        // The client forged the leftmost entry; the ingress (10.1.1.1)
        // appended what it saw, and the BFF (10.2.2.2) what it saw.
        let client = proxies.client_address(ip("10.2.2.2"), ["6.6.6.6, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(client, ip("203.0.113.9"));
        // No header: the trusted peer itself.
        assert_eq!(proxies.client_address(ip("127.0.0.1"), []), ip("127.0.0.1"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            proxies.client_address(ip("10.2.2.2"), ["203.0.113.9, nonsense, 10.1.1.1"]),
            ip("10.1.1.1")
        );
        // IPv4-mapped IPv6 peers count as IPv4.
        assert_eq!(
            proxies.client_address(ip("::ffff:127.0.0.1"), ["203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_text() {
        let error = "10.0.0.0/8, not-an-address"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(error.to_string().contains("not-an-address"), "{error}");
        assert_eq!(
            "".parse::<TrustedProxies>().unwrap(),
            TrustedProxies::default()
        );
    }
}
