//! Where a webhook may go. Namespaces are tenants and the operator runs inside the cluster: a
//! webhook URL is a tenant making the operator POST wherever it likes. Link-local addresses
//! (the instance metadata service at 169.254.169.254 and fd00:ec2::254) are always refused;
//! loopback, private, shared and unique-local addresses too unless the cluster admin allows
//! private networks (`--webhook-allow-private-networks`, Helm `webhooks.allowPrivateNetworks`).
//!
//! Names are judged by every address they resolve to, before sending, and again when
//! connecting ([`GuardedResolver`]), so a name that changes its answer between the two cannot
//! reach a refused address. Redirects are never followed.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

use crate::tenancy::network::is_public;

/// AWS's IPv6 instance metadata address, inside the unique-local range private networks open.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Why a webhook URL may not be called.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not an http(s) URL with a host.
    #[error("{0:?} is not an http(s) URL with a host")]
    NotHttp(String),
    /// A link-local or metadata address: never called.
    #[error(
        "{host} is a link-local address ({address}), where the instance metadata service lives: webhooks never go there"
    )]
    LinkLocal {
        /// The host.
        host: String,
        /// The address.
        address: IpAddr,
    },
    /// A non-public address while private networks are not allowed.
    #[error(
        "{host} is a non-public address ({address}): webhooks go to public addresses only unless the cluster admin \
         allows private networks (--webhook-allow-private-networks, Helm value webhooks.allowPrivateNetworks)"
    )]
    Private {
        /// The host.
        host: String,
        /// The address.
        address: IpAddr,
    },
}

/// The admin's rule for webhook addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressGuard {
    /// Loopback, private, shared and unique-local addresses may be called.
    pub allow_private_networks: bool,
}

impl AddressGuard {
    /// Whether a webhook may connect to `address` (named `host` in the refusal).
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        let link_local = match address {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80 || v6 == AWS_METADATA_V6,
        };
        if link_local {
            return Err(Refusal::LinkLocal { host: host.into(), address });
        }
        // Never a destination, whatever the admin allows: nobody listens at these.
        let nowhere = address.is_unspecified() || address.is_multicast();
        if is_public(address) || (self.allow_private_networks && !nowhere) {
            Ok(())
        } else {
            Err(Refusal::Private { host: host.into(), address })
        }
    }

    /// The URL, if it is http(s) with a host and its host is not a refused IP literal (names
    /// are checked by [`check_resolved`](Self::check_resolved)).
    pub fn check_url(&self, url: &str) -> Result<Url, Refusal> {
        let parsed = Url::parse(url).map_err(|_| Refusal::NotHttp(url.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refusal::NotHttp(url.into()));
        }
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.check(&ip.to_string(), IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check(&ip.to_string(), IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(Refusal::NotHttp(url.into())),
        }
        Ok(parsed)
    }

    /// Every address `host` resolved to must be allowed: one refused address refuses the name.
    pub fn check_resolved(&self, host: &str, addresses: &[SocketAddr]) -> Result<(), Refusal> {
        addresses.iter().try_for_each(|a| self.check(host, a.ip()))
    }
}

/// A DNS resolver for reqwest that keeps only the answers the guard allows, so that the
/// connection itself never reaches a refused address whatever the name said before.
pub struct GuardedResolver {
    guard: AddressGuard,
}

impl GuardedResolver {
    /// A resolver enforcing `guard`.
    pub fn new(guard: AddressGuard) -> Arc<Self> {
        Arc::new(Self { guard })
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Err(refusal) = guard.check_resolved(&host, &found) {
                return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>);
            }
            if found.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> AddressGuard {
        AddressGuard { allow_private_networks: false }
    }

    fn open() -> AddressGuard {
        AddressGuard { allow_private_networks: true }
    }

    #[test]
    fn metadata_addresses_are_refused_even_with_private_networks_allowed() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fe80::1]/",
            "http://169.254.0.1:8080/hook",
        ] {
            for guard in [strict(), open()] {
                assert!(matches!(guard.check_url(url), Err(Refusal::LinkLocal { .. })), "{url} {guard:?}");
            }
        }
    }

    #[test]
    fn private_and_loopback_addresses_need_the_admins_flag() {
        for url in
            ["http://127.0.0.1:8080/", "http://[::1]/", "http://10.0.0.5/", "http://192.168.1.1/", "http://[fd12::1]/"]
        {
            assert!(matches!(strict().check_url(url), Err(Refusal::Private { .. })), "{url}");
            assert!(open().check_url(url).is_ok(), "{url}");
        }
        assert!(matches!(open().check_url("http://0.0.0.0/"), Err(Refusal::Private { .. })));
        assert!(strict().check_url("https://8.8.8.8/hook").is_ok());
        assert!(strict().check_url("https://hooks.example.com/x").is_ok(), "names are checked once resolved");
    }

    #[test]
    fn only_http_urls_with_a_host() {
        for url in ["file:///etc/passwd", "ftp://example.com/", "not a url", "http://"] {
            assert!(matches!(strict().check_url(url), Err(Refusal::NotHttp(_))), "{url}");
        }
    }

    #[test]
    fn a_name_with_one_refused_address_is_refused() {
        let public: SocketAddr = "8.8.8.8:443".parse().unwrap();
        let metadata: SocketAddr = "169.254.169.254:443".parse().unwrap();
        assert!(open().check_resolved("mixed.example", &[public]).is_ok());
        assert!(matches!(open().check_resolved("mixed.example", &[public, metadata]), Err(Refusal::LinkLocal { .. })));
    }
}
