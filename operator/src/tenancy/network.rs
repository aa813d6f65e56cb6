//! Where a tenant may point the operator: the `endpoint` of a bucket or function and the URL of
//! a site's archive. The operator runs inside the cluster, so an unchecked URL lets a tenant
//! make it call cluster-internal services or the instance metadata service (169.254.169.254,
//! fd00:ec2::254) and read parts of the answers back from a status.
//!
//! A URL must be http(s), name a host the admin allows (all by default), and every address it
//! resolves to must be public or inside a network the admin allows (none by default). Hosts are
//! resolved when checked; the site fetcher checks again at each connection and each redirect
//! ([`GuardedResolver`]), so a name that changes its answer cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

/// The admin's rules for outgoing URLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicy {
    /// Host names (or IP literals) URLs may name: exact, `*.example.com` for its subdomains,
    /// or `*` for any.
    #[serde(default = "any_host")]
    pub allowed_hosts: Vec<String>,
    /// Non-public networks URLs may reach anyway (e.g. `10.20.0.0/16` for an in-cluster S3
    /// store). Loopback, private, link-local (metadata), shared and unique-local addresses
    /// are refused unless listed here.
    #[serde(default)]
    pub allowed_private_networks: Vec<IpNet>,
}

fn any_host() -> Vec<String> {
    vec!["*".into()]
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self { allowed_hosts: any_host(), allowed_private_networks: Vec::new() }
    }
}

/// Why a URL may not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkRefusal {
    /// Not an http(s) URL with a host.
    #[error("{url:?} is not an http(s) URL with a host")]
    NotHttp {
        /// The URL as given.
        url: String,
    },
    /// The host is not on the admin's list.
    #[error("host {host} is not among the hosts the cluster admin allows (tenancy policy network.allowedHosts)")]
    HostNotAllowed {
        /// The host.
        host: String,
    },
    /// The host is or resolves to a non-public address.
    #[error(
        "{host} is a non-public address ({address}): the operator does not call private, loopback or link-local \
         addresses unless the cluster admin allows their network (tenancy policy network.allowedPrivateNetworks)"
    )]
    PrivateAddress {
        /// The host.
        host: String,
        /// The address.
        address: IpAddr,
    },
    /// The host name does not resolve.
    #[error("host {host} does not resolve: {message}")]
    Unresolved {
        /// The host.
        host: String,
        /// The resolver's answer.
        message: String,
    },
}

impl NetworkPolicy {
    /// Loopback allowed (local stand-ins), any host: for tests and local runs.
    pub fn loopback_allowed() -> Self {
        let loopback = ["127.0.0.0/8", "::1/128"].iter().map(|n| n.parse().expect("valid networks")).collect();
        Self { allowed_hosts: any_host(), allowed_private_networks: loopback }
    }

    /// Checks what can be checked without the network: scheme, host name, IP literal.
    pub fn check_url(&self, url: &str) -> Result<Url, NetworkRefusal> {
        let parsed = Url::parse(url).map_err(|_| NetworkRefusal::NotHttp { url: url.into() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(NetworkRefusal::NotHttp { url: url.into() });
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => {
                self.check_address(&ip.to_string(), IpAddr::V4(ip))?;
                ip.to_string()
            }
            Some(url::Host::Ipv6(ip)) => {
                self.check_address(&ip.to_string(), IpAddr::V6(ip))?;
                ip.to_string()
            }
            None => return Err(NetworkRefusal::NotHttp { url: url.into() }),
        };
        if !self.host_allowed(&host) {
            return Err(NetworkRefusal::HostNotAllowed { host });
        }
        Ok(parsed)
    }

    /// [`check_url`](Self::check_url), then every address the host resolves to.
    pub async fn check_url_resolved(&self, url: &str) -> Result<Url, NetworkRefusal> {
        let parsed = self.check_url(url)?;
        if let Some(url::Host::Domain(domain)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let addresses = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| NetworkRefusal::Unresolved { host: domain.into(), message: e.to_string() })?;
            for address in addresses {
                self.check_address(domain, address.ip())?;
            }
        }
        Ok(parsed)
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_prefix('*') {
                Some("") => true,
                Some(suffix) if suffix.starts_with('.') => host.ends_with(suffix),
                _ => pattern == host,
            }
        })
    }

    /// Whether the operator may connect to `address` (named `host` in the refusal).
    pub fn check_address(&self, host: &str, address: IpAddr) -> Result<(), NetworkRefusal> {
        let address = canonical(address);
        if is_public(address) || self.allowed_private_networks.iter().any(|net| net.contains(&address)) {
            Ok(())
        } else {
            Err(NetworkRefusal::PrivateAddress { host: host.into(), address })
        }
    }
}

/// An IPv4 address carried in IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `address` is reachable on the public internet (not loopback, private, link-local,
/// shared, unique-local, multicast, documentation or unspecified).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    let reserved = a >= 240; // 240.0.0.0/4 and broadcast
    let this_network = a == 0;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || shared
        || reserved
        || this_network
        || benchmarking)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00; // fc00::/7, where AWS's fd00:ec2::254 lives
    let link_local = (first & 0xffc0) == 0xfe80; // fe80::/10
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation)
}

/// A DNS resolver for reqwest that drops the answers the policy refuses, so that a connection
/// (the first, or after a redirect) never reaches a refused address whatever the name said
/// when it was checked.
pub struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<NetworkPolicy>) -> Self {
        Self { policy }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| policy.check_address(&host, a.ip()).is_ok()).collect();
            if allowed.is_empty() {
                // The refusal itself, so that the caller can tell it from a network failure.
                return Err(match found.first().and_then(|a| policy.check_address(&host, a.ip()).err()) {
                    Some(refusal) => Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>,
                    None => format!("{host} has no address").into(),
                });
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A redirect policy for reqwest: at most `max` redirects, each to a URL [`check_url`](NetworkPolicy::check_url) accepts
/// (names are checked again by the [`GuardedResolver`] when connecting).
pub fn redirect_policy(policy: Arc<NetworkPolicy>, max: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= max {
            return attempt.error(format!("more than {max} redirects"));
        }
        match policy.check_url(attempt.url().as_str()) {
            Ok(_) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &NetworkPolicy, url: &str) -> NetworkRefusal {
        policy.check_url(url).expect_err(url)
    }

    #[test]
    fn metadata_private_and_loopback_addresses_are_refused_by_default() {
        let policy = NetworkPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://127.0.0.1:8333",
            "http://[::1]/",
            "http://10.0.0.5/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://100.100.100.200/",
            "http://0.0.0.0/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fe80::1]/",
        ] {
            assert!(matches!(refused(&policy, url), NetworkRefusal::PrivateAddress { .. }), "{url}");
        }
        assert!(policy.check_url("https://s3.eu-west-1.amazonaws.com").is_ok());
        assert!(policy.check_url("http://203.0.113.7/").is_err(), "documentation range");
        assert!(policy.check_url("http://8.8.8.8/").is_ok());
    }

    #[test]
    fn only_http_urls_with_hosts() {
        let policy = NetworkPolicy::default();
        for url in ["file:///etc/passwd", "gopher://x/", "not a url", "http://"] {
            assert!(matches!(refused(&policy, url), NetworkRefusal::NotHttp { .. }), "{url}");
        }
    }

    #[test]
    fn the_admin_allows_hosts_and_networks() {
        let policy = NetworkPolicy {
            allowed_hosts: vec!["*.example.com".into(), "storage.internal".into(), "10.20.0.7".into()],
            allowed_private_networks: vec!["10.20.0.0/16".parse().unwrap()],
        };
        assert!(policy.check_url("https://cdn.example.com/site.zip").is_ok());
        assert!(policy.check_url("https://Storage.Internal/x").is_ok());
        assert!(policy.check_url("http://10.20.0.7:9000").is_ok());
        assert!(matches!(refused(&policy, "https://example.org/"), NetworkRefusal::HostNotAllowed { .. }));
        assert!(matches!(refused(&policy, "https://evil-example.com/"), NetworkRefusal::HostNotAllowed { .. }));
        assert!(matches!(refused(&policy, "http://10.21.0.1/"), NetworkRefusal::PrivateAddress { .. }));
    }

    #[tokio::test]
    async fn names_are_judged_by_the_addresses_they_resolve_to() {
        let refusal = NetworkPolicy::default().check_url_resolved("http://localhost:8080/").await.unwrap_err();
        assert!(matches!(refusal, NetworkRefusal::PrivateAddress { .. }), "{refusal}");
        assert!(NetworkPolicy::loopback_allowed().check_url_resolved("http://localhost:8080/").await.is_ok());
    }
}
