//! DNS-rebinding protection shared by every listener warden runs (the front door, the admin
//! plane, the dashboard, the metrics listener): which `Host` and `Origin` header values a
//! request may carry. A pure function over header values; the listeners turn a refusal into
//! their own 403.

use std::net::{IpAddr, SocketAddr};

/// Who a listener answers to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRules {
    /// The listener's address: its IP is an allowed `Host` unless it is unspecified
    /// (`0.0.0.0`, `::`). Loopback names (`localhost`, `127.0.0.1`, `[::1]`) are always allowed.
    pub listen: Option<SocketAddr>,
    /// More `Host` values (`name` or `name:port`), compared without case.
    pub allowed_hosts: Vec<String>,
    /// More origins (`scheme://host[:port]`), compared without case and trailing `/`.
    pub allowed_origins: Vec<String>,
    /// The host (`name[:port]`) of the URL clients are told to use, allowed as a `Host`.
    pub public_host: Option<String>,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Host`, several, one that is not text, or one that names someone else.
    Host,
    /// An `Origin` that is neither this listener nor an allowed origin (or several).
    Origin,
}

impl Refusal {
    /// The fixed message a 403 carries.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Host => "forbidden: Host header not allowed",
            Refusal::Origin => "forbidden: Origin not allowed",
        }
    }
}

impl HostRules {
    /// Loopback names and `listen`'s address, nothing more.
    pub fn local(listen: SocketAddr) -> HostRules {
        HostRules {
            listen: Some(listen),
            ..HostRules::default()
        }
    }

    /// Checks the request's `Host` values (every copy it carried; HTTP/2's `:authority` when it
    /// has none) and `Origin` values. Exactly one `Host` is needed; at most one `Origin`.
    pub fn check(&self, hosts: &[&[u8]], origins: &[&[u8]]) -> Result<(), Refusal> {
        let [host] = hosts else {
            return Err(Refusal::Host);
        };
        let host = std::str::from_utf8(host).map_err(|_| Refusal::Host)?.trim();
        if !self.host_allowed(host) {
            return Err(Refusal::Host);
        }
        match origins {
            [] => Ok(()),
            [origin] => {
                let origin = std::str::from_utf8(origin).map_err(|_| Refusal::Origin)?;
                if self.origin_allowed(origin.trim(), host) {
                    Ok(())
                } else {
                    Err(Refusal::Origin)
                }
            }
            _ => Err(Refusal::Origin),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let Some(name) = parse_host(host) else {
            return false;
        };
        is_loopback_name(name)
            || self.listen.is_some_and(|l| {
                !l.ip().is_unspecified()
                    && name
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip == l.ip() || canonical(ip) == canonical(l.ip()))
            })
            || self
                .allowed_hosts
                .iter()
                .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
            || self
                .public_host
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(host))
    }

    /// `Origin` is the same host as `Host`, an allowed origin, or loopback talking to loopback.
    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let o_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        let same = !o_host.is_empty() && o_host.eq_ignore_ascii_case(host);
        let allowed = self
            .allowed_origins
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
        let local = parse_host(o_host).is_some_and(is_loopback_name)
            && parse_host(host).is_some_and(is_loopback_name);
        same || allowed || local
    }
}

/// The name of a well-formed `name`, `name:port`, `[v6]` or `[v6]:port`; `None` for anything
/// else (userinfo, a path, a bare IPv6 address, a port that is not digits, an empty name).
pub fn parse_host(host: &str) -> Option<&str> {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<std::net::Ipv6Addr>().ok()?;
            match after {
                "" => (v6, None),
                _ => (v6, Some(after.strip_prefix(':')?)),
            }
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = !name.is_empty()
        && (host.starts_with('[')
            || name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
    (port_ok && name_ok).then_some(name)
}

/// `localhost` or a loopback IP address.
pub fn is_loopback_name(h: &str) -> bool {
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> HostRules {
        HostRules {
            listen: Some("10.0.0.5:9477".parse().unwrap_or_else(|_| unreachable!())),
            allowed_hosts: vec!["warden.internal".into()],
            allowed_origins: vec!["https://console.example/".into()],
            public_host: Some("gw.example:443".into()),
        }
    }

    fn check(host: &[&str], origin: &[&str]) -> Result<(), Refusal> {
        let h: Vec<&[u8]> = host.iter().map(|s| s.as_bytes()).collect();
        let o: Vec<&[u8]> = origin.iter().map(|s| s.as_bytes()).collect();
        rules().check(&h, &o)
    }

    #[test]
    fn loopback_the_listen_address_and_allowed_hosts_pass() {
        for ok in [
            "localhost",
            "LOCALHOST:9477",
            "127.0.0.1:9477",
            "127.1.2.3",
            "[::1]:9477",
            "[::1]",
            "10.0.0.5:9477",
            "10.0.0.5",
            "[::ffff:10.0.0.5]:9477",
            "warden.internal",
            "Warden.Internal:8080",
            "gw.example:443",
        ] {
            assert_eq!(check(&[ok], &[]), Ok(()), "{ok}");
        }
    }

    #[test]
    fn other_names_and_odd_hosts_are_refused() {
        for bad in [
            "evil.example",
            "evil.example:9477",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "evil@localhost",
            "localhost/",
            "",
            "10.0.0.6",
            "gw.example",
            "localhost.",
            "localhost:",
            "localhost:80x",
            "localhost:80:80",
            "::1",
            "[::1]x",
            "[::1]:",
            "[evil]:80",
        ] {
            assert_eq!(check(&[bad], &[]), Err(Refusal::Host), "{bad:?}");
        }
        assert_eq!(check(&[], &[]), Err(Refusal::Host), "no Host");
        assert_eq!(
            check(&["localhost", "evil.example"], &[]),
            Err(Refusal::Host),
            "two Hosts"
        );
        assert_eq!(rules().check(&[b"local\xffhost"], &[]), Err(Refusal::Host));
        let unspecified = HostRules::local("0.0.0.0:80".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(unspecified.check(&[b"0.0.0.0"], &[]), Err(Refusal::Host));
        assert_eq!(unspecified.check(&[b"10.0.0.5"], &[]), Err(Refusal::Host));
    }

    #[test]
    fn origins_must_be_this_listener_allowed_or_loopback_to_loopback() {
        assert_eq!(
            check(&["localhost:9477"], &["http://localhost:3000"]),
            Ok(())
        );
        assert_eq!(check(&["10.0.0.5:9477"], &["http://10.0.0.5:9477"]), Ok(()));
        assert_eq!(
            check(&["10.0.0.5:9477"], &["https://console.example"]),
            Ok(())
        );
        for bad in [
            "http://evil.example",
            "null",
            "",
            "http://10.0.0.5:9478",
            "https://console.example.evil",
        ] {
            assert_eq!(
                check(&["10.0.0.5:9477"], &[bad]),
                Err(Refusal::Origin),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&["localhost"], &["http://evil.example"]),
            Err(Refusal::Origin)
        );
        assert_eq!(
            check(&["localhost"], &["http://localhost", "http://evil.example"]),
            Err(Refusal::Origin),
            "two Origins"
        );
    }
}
