//! Egress: the one rule for where gatehouse fetches bytes from. Every
//! upstream request and every redirect hop is admitted here
//! ([`Egress::admit`]), and every host name is resolved through
//! [`EgressResolver`], which applies the same address rule to what DNS says.
//!
//! An adapter may reach:
//! - its configured origins (`upstreams.NAME.url` and `origins`), whatever
//!   their addresses (the operator chose them; tests use loopback fakes);
//! - origins it learned from locations it declared in metadata fields (an
//!   artifact plan's URL), never from free text; at most
//!   [`MAX_LEARNED_ORIGINS`] per adapter, the least recently used forgotten
//!   first, so a flood of origins cannot shut out the ones in use. A learned
//!   origin must resolve to a public address, or one in `egress.allow`, and
//!   never to gatehouse's own listener.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use ipnet::IpNet;
use url::{Host, Url};

/// The most origins one adapter keeps learned from metadata locations.
pub const MAX_LEARNED_ORIGINS: usize = 256;

/// The most redirects one upstream request follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why the egress rule refused a URL; each message names the URL and the rule.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{0}: refused by gatehouse's egress rule: only http and https URLs are fetched")]
    Scheme(String),
    #[error("{0}: refused by gatehouse's egress rule: URLs with credentials are never fetched")]
    Credentials(String),
    #[error(
        "{url}: refused by gatehouse's egress rule: {origin} is neither a configured upstream (upstreams.NAME.url or origins) nor a location upstream metadata declared"
    )]
    Origin { url: String, origin: String },
    #[error(
        "{url}: refused by gatehouse's egress rule: {address} is a {class} address, which only a configured upstream may be (or list the range in egress.allow)"
    )]
    Address {
        url: String,
        address: IpAddr,
        class: &'static str,
    },
    #[error("{url}: refused by gatehouse's egress rule: {address} is gatehouse's own listener")]
    OwnListener { url: String, address: SocketAddr },
    #[error("{0}: refused by gatehouse's egress rule: the host name does not resolve")]
    Unresolved(String),
}

/// Whether `ip` is one of this machine's own addresses: the kernel routes
/// to those from themselves. A connected UDP socket sends nothing; binding
/// would not do, as `ip_nonlocal_bind` lets any address be bound.
fn is_this_machine(ip: IpAddr) -> bool {
    let any = match ip {
        IpAddr::V4(_) => IpAddr::from([0u8; 4]),
        IpAddr::V6(_) => IpAddr::from([0u16; 8]),
    };
    std::net::UdpSocket::bind(SocketAddr::new(any, 0))
        .and_then(|socket| {
            socket.connect(SocketAddr::new(ip, 9))?;
            socket.local_addr()
        })
        .is_ok_and(|local| local.ip() == ip)
}

/// The kind of a non-public address, or `None` for a public one.
pub fn restricted(address: IpAddr) -> Option<&'static str> {
    match address.to_canonical() {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            if ip.is_loopback() {
                Some("loopback")
            } else if ip.is_private() {
                Some("private")
            } else if ip.is_link_local() {
                Some("link-local")
            } else if ip.is_multicast() || ip.is_broadcast() {
                Some("multicast")
            } else if a == 0 {
                Some("unspecified")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (carrier-grade NAT)")
            } else {
                None
            }
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            if ip.is_loopback() {
                Some("loopback")
            } else if ip.is_unspecified() {
                Some("unspecified")
            } else if ip.is_multicast() {
                Some("multicast")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

/// The rule's shared part: address ranges the operator allows, the host names
/// of configured origins, and gatehouse's own listeners.
#[derive(Debug, Default)]
pub struct Egress {
    allow: Vec<IpNet>,
    configured_hosts: RwLock<HashSet<String>>,
    listeners: RwLock<Vec<SocketAddr>>,
}

impl Egress {
    /// `allow`: ranges learned origins may resolve to besides public addresses.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Egress {
            allow,
            ..Egress::default()
        }
    }

    /// Notes a configured origin: its host name resolves unfiltered.
    pub fn configure(&self, origin: &Url) {
        if let Some(host) = origin.host_str() {
            write(&self.configured_hosts).insert(host.to_ascii_lowercase());
        }
    }

    /// Notes where gatehouse itself listens: never a destination.
    pub fn listening_on(&self, address: SocketAddr) {
        write(&self.listeners).push(address);
    }

    /// Admits `url` for an adapter with `origins`, or says which rule refuses it.
    pub async fn admit(&self, origins: &Origins, url: &Url) -> Result<(), Refused> {
        let verdict = self.rule(origins, url).await;
        if let Err(refused) = &verdict {
            tracing::warn!(%refused, "egress refused");
        }
        verdict
    }

    async fn rule(&self, origins: &Origins, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.to_string()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials(url.to_string()));
        }
        let origin = origin(url);
        if origins.configured.contains(&origin) {
            return Ok(());
        }
        if !origins.recall(&origin) {
            return Err(Refused::Origin {
                url: url.to_string(),
                origin,
            });
        }
        let port = url.port_or_known_default().unwrap_or(0);
        let name = match url.host() {
            Some(Host::Ipv4(ip)) => return self.check(url, SocketAddr::new(ip.into(), port)),
            Some(Host::Ipv6(ip)) => return self.check(url, SocketAddr::new(ip.into(), port)),
            Some(Host::Domain(name)) => name.to_ascii_lowercase(),
            None => return Err(Refused::Unresolved(url.to_string())),
        };
        // Other names are checked by the resolver as they are connected to;
        // these two cases need the port or the origin, which it does not see.
        let own_port = read(&self.listeners).iter().any(|l| l.port() == port);
        if own_port || read(&self.configured_hosts).contains(&name) {
            let addresses = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|_| Refused::Unresolved(url.to_string()))?;
            for address in addresses {
                self.check(url, address)?;
            }
        }
        Ok(())
    }

    /// The address rule for a learned origin's `address`. A listener on the
    /// unspecified address answers on every address of this machine, public
    /// ones included, so each of them is the own listener on its port.
    fn check(&self, url: &Url, address: SocketAddr) -> Result<(), Refused> {
        let ip = address.ip().to_canonical();
        let own = read(&self.listeners).iter().any(|listener| {
            listener.port() == address.port()
                && (listener.ip() == ip
                    || (listener.ip().is_unspecified()
                        && (restricted(ip).is_some() || is_this_machine(ip))))
        });
        if own {
            return Err(Refused::OwnListener {
                url: url.to_string(),
                address,
            });
        }
        match self.class(ip) {
            None => Ok(()),
            Some(class) => Err(Refused::Address {
                url: url.to_string(),
                address: ip,
                class,
            }),
        }
    }

    /// Why `ip` is refused to a learned origin, if it is.
    fn class(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = ip.to_canonical();
        if self.allow.iter().any(|range| range.contains(&ip)) {
            return None;
        }
        restricted(ip)
    }
}

/// `scheme://host:port` of a URL.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The origins one adapter may reach: configured ones, and those learned
/// from declared metadata locations (bounded, least recently used evicted).
#[derive(Debug)]
pub struct Origins {
    configured: HashSet<String>,
    learned: Mutex<Learned>,
}

#[derive(Debug, Default)]
struct Learned {
    clock: u64,
    /// Origin → when it was last learned or used.
    used: HashMap<String, u64>,
}

impl Origins {
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a Url>) -> Self {
        Origins {
            configured: configured.into_iter().map(origin).collect(),
            learned: Mutex::default(),
        }
    }

    /// Learns the origin of a location the adapter took from a metadata field
    /// (an artifact plan's URL).
    pub fn learn(&self, location: &Url) {
        let origin = origin(location);
        if self.configured.contains(&origin) {
            return;
        }
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        learned.clock += 1;
        let now = learned.clock;
        if !learned.used.contains_key(&origin) && learned.used.len() >= MAX_LEARNED_ORIGINS {
            let oldest = learned
                .used
                .iter()
                .min_by_key(|(_, used)| **used)
                .map(|(origin, _)| origin.clone());
            if let Some(oldest) = oldest {
                learned.used.remove(&oldest);
            }
        }
        learned.used.insert(origin, now);
    }

    /// Whether `origin` is learned; a use keeps it from eviction.
    fn recall(&self, origin: &str) -> bool {
        let mut learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        learned.clock += 1;
        let now = learned.clock;
        match learned.used.get_mut(origin) {
            Some(used) => {
                *used = now;
                true
            }
            None => false,
        }
    }
}

/// Resolves host names for the upstream client, dropping addresses the rule
/// refuses (names of configured origins resolve unfiltered). Connections
/// then go only where the rule allows, whatever DNS answers later.
pub struct EgressResolver(pub Arc<Egress>);

impl reqwest::dns::Resolve for EgressResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        let name = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if read(&egress.configured_hosts).contains(&name) {
                return Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs);
            }
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| egress.class(a.ip()).is_none())
                .collect();
            if !allowed.is_empty() {
                return Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs);
            }
            let refused = match found.first() {
                Some(first) => Refused::Address {
                    url: name.clone(),
                    address: first.ip().to_canonical(),
                    class: egress.class(first.ip()).unwrap_or("refused"),
                },
                None => Refused::Unresolved(name.clone()),
            };
            tracing::warn!(%refused, "egress refused");
            Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>)
        })
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// The refusal behind a client error, when the resolver refused an address.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[tokio::test]
    async fn configured_origins_pass_and_others_need_a_declared_location() {
        let egress = Egress::new(Vec::new());
        let origins = Origins::new([&url("http://127.0.0.1:9/registry")]);
        assert!(
            egress
                .admit(&origins, &url("http://127.0.0.1:9/x"))
                .await
                .is_ok()
        );
        for refused in [
            "http://127.0.0.1:10/x",
            "file:///etc/passwd",
            "http://user@127.0.0.1:9/x",
            "https://files.example.test/p/x.whl",
        ] {
            assert!(
                egress.admit(&origins, &url(refused)).await.is_err(),
                "{refused}"
            );
        }
        // A declared public location is learned; a loopback one stays refused.
        origins.learn(&url("https://203.0.113.7/p/x.whl"));
        assert!(
            egress
                .admit(&origins, &url("https://203.0.113.7/p/y.whl"))
                .await
                .is_ok()
        );
        origins.learn(&url("http://127.0.0.1:10/x.tgz"));
        let refused = egress
            .admit(&origins, &url("http://127.0.0.1:10/x.tgz"))
            .await
            .expect_err("loopback");
        assert!(refused.to_string().contains("loopback"), "{refused}");
    }

    #[tokio::test]
    async fn allowed_ranges_admit_learned_origins_but_never_the_own_listener() {
        let egress = Egress::new(vec!["127.0.0.0/8".parse().expect("cidr")]);
        egress.listening_on("127.0.0.1:8080".parse().expect("addr"));
        let origins = Origins::new([&url("http://127.0.0.1:9/")]);
        for location in ["http://127.0.0.1:10/x", "http://127.0.0.1:8080/api"] {
            origins.learn(&url(location));
        }
        assert!(
            egress
                .admit(&origins, &url("http://127.0.0.1:10/x"))
                .await
                .is_ok()
        );
        let own = egress
            .admit(&origins, &url("http://127.0.0.1:8080/api"))
            .await
            .expect_err("own listener");
        assert!(matches!(own, Refused::OwnListener { .. }), "{own}");
    }

    #[tokio::test]
    async fn a_listener_on_every_address_is_refused_on_each_of_them() {
        let egress = Egress::new(vec!["127.0.0.0/8".parse().expect("cidr")]);
        egress.listening_on("0.0.0.0:8080".parse().expect("addr"));
        let origins = Origins::new([&url("http://127.0.0.1:9/")]);
        origins.learn(&url("http://127.0.0.2:8080/api"));
        let own = egress
            .admit(&origins, &url("http://127.0.0.2:8080/api"))
            .await
            .expect_err("own listener");
        assert!(matches!(own, Refused::OwnListener { .. }), "{own}");
        assert!(is_this_machine("127.0.0.1".parse().expect("ip")));
        // TEST-NET-1 is never assigned to a machine.
        assert!(!is_this_machine("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn learned_origins_are_bounded_and_the_least_recently_used_go_first() {
        let origins = Origins::new([&url("http://registry.test/")]);
        origins.learn(&url("https://cdn.test/a.tgz"));
        for n in 0..300 {
            origins.learn(&url(&format!("https://h{n}.test/x")));
            // The origin in use stays.
            assert!(origins.recall("https://cdn.test"));
        }
        let learned = origins.learned.lock().expect("lock").used.len();
        assert_eq!(learned, MAX_LEARNED_ORIGINS);
        assert!(origins.recall("https://h299.test"));
        assert!(!origins.recall("https://h0.test"));
        assert!(origins.configured.contains("http://registry.test"));
    }

    #[test]
    fn restricted_addresses() {
        for (address, class) in [
            ("127.0.0.2", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("0.0.0.0", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("fd00::1", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("203.0.113.7", None),
            ("2001:db8::1", None),
        ] {
            let ip: IpAddr = address.parse().expect("ip");
            assert_eq!(restricted(ip), class, "{address}");
        }
    }
}
