//! Who may talk to the server: the checks made on every HTTP request and WebSocket upgrade.
//!
//! - `Host` must be a loopback name, a literal IP or a configured name. This defeats DNS
//!   rebinding (CVE-2018-5702): a hostile page whose name re-resolves to 127.0.0.1 still sends
//!   its own name in `Host`.
//! - `Origin`, when present on a WebSocket upgrade, must be the app's own (`tauri://localhost`,
//!   `http(s)://tauri.localhost`), the server's own (`http://<Host>`) or configured. Browsers apply
//!   no CORS to WebSockets, so without this any web page could drive the API.
//! - Clients from a non-loopback address must present the token (`Authorization: Bearer T` or
//!   `?token=T`), compared in constant time.

use std::net::IpAddr;

use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The configured exceptions and the tokens.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub token: Option<Secret>,
    /// A second token that allows only read methods.
    pub read_only_token: Option<Secret>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Remote clients with the full token may call admin methods.
    pub remote_admin: bool,
    /// Local clients must present the token too (a shared machine).
    pub loopback_needs_token: bool,
}

/// What a remote client that passed the checks may do (a loopback client may do everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A remote client with the full token: everything but admin methods, unless
    /// `remote_admin`.
    Remote,
    /// A remote client with the read-only token.
    ReadOnly,
}

/// Which token a remote client presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    Nothing,
    Wrong,
    Full,
    ReadOnly,
}

/// Origins of the desktop app's own webview, on each platform Tauri supports.
const APP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

impl Guard {
    /// Is `host` (a `Host` header value, with or without port) acceptable?
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.is_empty() {
            return false;
        }
        let name = name.to_ascii_lowercase();
        name == "localhost"
            || name.ends_with(".localhost")
            || name.parse::<IpAddr>().is_ok()
            || self
                .allowed_hosts
                .iter()
                .any(|allowed| host_name(allowed).eq_ignore_ascii_case(&name))
    }

    /// Is this `Origin` acceptable for a WebSocket upgrade that came with `Host: host`?
    pub fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        APP_ORIGINS.iter().any(|o| o.eq_ignore_ascii_case(origin))
            || origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
            || self
                .allowed_origins
                .iter()
                .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// Which token `presented` is, compared in constant time against each configured one.
    pub fn check_token(&self, presented: Option<&str>) -> Presented {
        let Some(presented) = presented else {
            return Presented::Nothing;
        };
        let matches = |secret: &Option<Secret>| {
            secret
                .as_ref()
                .is_some_and(|s| bool::from(s.expose().as_bytes().ct_eq(presented.as_bytes())))
        };
        // Both comparisons always run, so timing tells nothing about which one matched.
        let (full, read_only) = (matches(&self.token), matches(&self.read_only_token));
        match (full, read_only) {
            (true, _) => Presented::Full,
            (false, true) => Presented::ReadOnly,
            (false, false) => Presented::Wrong,
        }
    }

    /// Is `ip` one of the proxies whose `X-Forwarded-For` is believed?
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.contains(&canonical(ip))
    }

    /// Who sent a request that reached us from `peer` with these `X-Forwarded-For` header
    /// values (every line of the header, in order). A request from a trusted proxy is
    /// [`ClientAddr::Forwarded`] whatever its header says: the client is the nearest hop that is
    /// not itself a trusted proxy, and none at all when the header is missing or a hop on the
    /// way does not parse. It never takes the proxy's own (often loopback) standing.
    pub fn client_addr<'h>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'h str>,
    ) -> ClientAddr {
        let peer = canonical(peer);
        if !self.trusted_proxies.contains(&peer) {
            return ClientAddr::Direct(peer);
        }
        let mut client = None;
        // The nearest hop is the last one of the last line: walk back from there.
        for hop in forwarded_for.rev().flat_map(|line| line.rsplit(',')) {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            if !self.trusted_proxies.contains(&ip) {
                client = Some(ip);
                break;
            }
        }
        ClientAddr::Forwarded {
            proxy: peer,
            client,
        }
    }
}

/// Where a request came from, as far as the server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddr {
    /// Straight from this address.
    Direct(IpAddr),
    /// Through a trusted proxy, for `client` (`None`: the proxy did not say who, or said it in
    /// a form that does not parse).
    Forwarded {
        proxy: IpAddr,
        client: Option<IpAddr>,
    },
}

impl ClientAddr {
    /// A client on this machine, talking to us directly. A forwarded request never is, even one
    /// that claims a loopback address: the proxy can be reached from anywhere.
    pub fn is_local(self) -> bool {
        matches!(self, ClientAddr::Direct(ip) if is_loopback(ip))
    }

    /// The address that lockout and rate limits count against: the client's, or the proxy's
    /// when the client is unknown.
    pub fn key(self) -> IpAddr {
        match self {
            ClientAddr::Direct(ip)
            | ClientAddr::Forwarded {
                client: Some(ip), ..
            }
            | ClientAddr::Forwarded {
                proxy: ip,
                client: None,
            } => ip,
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAddr::Direct(ip) => write!(f, "{ip}"),
            ClientAddr::Forwarded {
                proxy,
                client: Some(ip),
            } => write!(f, "{ip} (via {proxy})"),
            ClientAddr::Forwarded {
                proxy,
                client: None,
            } => write!(f, "an unknown client (via {proxy})"),
        }
    }
}

/// One `X-Forwarded-For` hop: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]` or `[::1]:5678`.
/// Anything else (`unknown`, an obfuscated RFC 7239 name, garbage) is `None`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':')?.parse::<u16>().is_ok()) {
            return None;
        }
        return inside
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|v6| canonical(v6.into()));
    }
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddrV4>()
        .ok()
        .map(|addr| IpAddr::V4(*addr.ip()))
}

/// An IPv4-mapped IPv6 address as plain IPv4, so that settings compare as written.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        ip => ip,
    }
}

/// The name part of a `Host` value: strips the port and IPv6 brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// Loopback, including IPv4-mapped IPv6 (`::ffff:127.0.0.1`) from dual-stack sockets.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The token a request presents: `Authorization: Bearer T`, else `?token=T`.
pub fn presented_token(authorization: Option<&str>, query: Option<&str>) -> Option<String> {
    if let Some(value) = authorization {
        if let Some(token) = value
            .trim()
            .strip_prefix("Bearer ")
            .or_else(|| value.trim().strip_prefix("bearer "))
        {
            return Some(token.trim().to_owned());
        }
    }
    let query = query?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard {
            token: Some(crate::config::Secret::new("s3cret")),
            allowed_hosts: vec!["nas.example".into()],
            allowed_origins: vec!["https://ui.example".into()],
            ..Guard::default()
        }
    }

    #[test]
    fn hosts() {
        let g = guard();
        for ok in [
            "localhost",
            "localhost:7345",
            "LOCALHOST:1",
            "tauri.localhost",
            "127.0.0.1:80",
            "[::1]:7345",
            "::1",
            "10.1.2.3:9",
            "nas.example:7345",
        ] {
            assert!(g.host_allowed(ok), "{ok} should be allowed");
        }
        for bad in [
            "evil.example",
            "evil.example:7345",
            "localhost.evil.example",
            "",
            ":80",
        ] {
            assert!(!g.host_allowed(bad), "{bad} should be refused");
        }
    }

    #[test]
    fn origins() {
        let g = guard();
        assert!(g.origin_allowed("tauri://localhost", "127.0.0.1:7345"));
        assert!(g.origin_allowed("http://tauri.localhost", "127.0.0.1:7345"));
        assert!(g.origin_allowed("http://127.0.0.1:7345", "127.0.0.1:7345"));
        assert!(g.origin_allowed("https://ui.example/", "127.0.0.1:7345"));
        assert!(!g.origin_allowed("http://evil.example", "127.0.0.1:7345"));
        assert!(!g.origin_allowed("http://127.0.0.1:9999", "127.0.0.1:7345"));
        assert!(!g.origin_allowed("null", "127.0.0.1:7345"));
    }

    #[test]
    fn tokens() {
        let mut g = guard();
        g.read_only_token = Some(Secret::new("look"));
        assert_eq!(g.check_token(None), Presented::Nothing);
        assert_eq!(g.check_token(Some("wrong")), Presented::Wrong);
        assert_eq!(g.check_token(Some("s3cre")), Presented::Wrong);
        assert_eq!(g.check_token(Some("s3cret")), Presented::Full);
        assert_eq!(g.check_token(Some("look")), Presented::ReadOnly);
        assert_eq!(Guard::default().check_token(Some("")), Presented::Wrong);
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut g = guard();
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let xff = ["198.51.100.1, 203.0.113.9"];
        let addr =
            |g: &Guard, peer: IpAddr, lines: &[&str]| g.client_addr(peer, lines.iter().copied());
        assert_eq!(
            addr(&g, proxy, &xff),
            ClientAddr::Direct(proxy),
            "no proxy configured"
        );
        g.trusted_proxies = vec![proxy];
        let via = |client| ClientAddr::Forwarded { proxy, client };
        assert_eq!(
            addr(&g, proxy, &xff),
            via(Some(client)),
            "the hop the proxy saw"
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(addr(&g, mapped, &xff), via(Some(client)));
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            addr(&g, other, &xff),
            ClientAddr::Direct(other),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            presented_token(Some("Bearer abc"), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            presented_token(None, Some("a=1&token=x%20y")).as_deref(),
            Some("x y")
        );
        assert_eq!(presented_token(Some("Basic zzz"), None), None);
    }

    /// Issue 21: through a trusted proxy, nothing the client writes, and nothing the proxy
    /// leaves out, gives the proxy's loopback standing.
    #[test]
    fn a_forwarded_request_is_never_local() {
        let mut g = guard();
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        g.trusted_proxies = vec![proxy];
        let addr = |lines: &[&str]| g.client_addr(proxy, lines.iter().copied());
        let loopback_v6: IpAddr = "::1".parse().unwrap();
        for (lines, client) in [
            (&["::1"][..], Some(loopback_v6)),
            (&["127.0.0.1"][..], None),
            (&[][..], None),
            (&["garbage"][..], None),
            (&["203.0.113.9, garbage"][..], None),
            (&["unknown"][..], None),
        ] {
            let got = addr(lines);
            assert!(!got.is_local(), "{lines:?} gave {got:?}");
            assert_eq!(got, ClientAddr::Forwarded { proxy, client }, "{lines:?}");
        }
        // Hops with ports and brackets parse; the last line holds the nearest hop.
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        for (lines, want) in [
            (&["203.0.113.9:4711"][..], client),
            (&["[2001:db8::7]"][..], v6),
            (&["[2001:db8::7]:443"][..], v6),
            (&["::1", "203.0.113.9"][..], client),
            (&["203.0.113.9", "127.0.0.1"][..], client),
        ] {
            assert_eq!(addr(lines).key(), want, "{lines:?}");
            assert!(!addr(lines).is_local());
        }
        assert_eq!(
            addr(&[]).key(),
            proxy,
            "an unknown client counts against its proxy"
        );
        assert!(ClientAddr::Direct(proxy).is_local());
        assert_eq!(parse_hop("[::1]x"), None);
        assert_eq!(parse_hop("1.2.3.4:99999"), None);
    }
}
