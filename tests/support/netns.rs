//! Another host for the tests: a network namespace made by the test, joined to this one by a
//! veth pair, so that a server inside it sees the test's clients at a non-loopback address.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::Client;

/// Distinguishes the namespaces of several tests in one process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with one veth link to this one; removed on drop.
pub struct RemoteHost {
    pub netns: String,
    link: String,
    /// The link's end inside the namespace.
    peer: String,
    id: u32,
    pub server_ip: String,
    /// This side's address on the link: not loopback, yet a listener here is in the test's
    /// own namespace.
    pub local_ip: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip runs");
    assert!(
        status.success(),
        "ip {args:?} failed (this test needs root and iproute2)"
    );
}

impl RemoteHost {
    /// A new host, or `None` (having said the test is skipped) when not run as root.
    pub fn create() -> Option<RemoteHost> {
        if !super::root_or_skip("network namespaces") {
            return None;
        }
        super::peers::require("ip");
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = std::process::id() % 10_000 * 10 + n;
        let netns = format!("mgt{id}");
        let link = format!("mgv{id}");
        let peer = format!("mgw{id}");
        let subnet = format!("10.{}.{}", 200 + n % 50, std::process::id() % 250 + 1);
        let host = RemoteHost {
            netns: netns.clone(),
            link: link.clone(),
            peer: peer.clone(),
            id,
            server_ip: format!("{subnet}.1"),
            local_ip: format!("{subnet}.2"),
        };
        ip(&["netns", "add", &netns]);
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &netns]);
        ip(&["addr", "add", &format!("{subnet}.2/24"), "dev", &link]);
        ip(&["link", "set", &link, "up"]);
        let exec = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &netns, "ip"];
            full.extend_from_slice(args);
            ip(&full);
        };
        exec(&["addr", "add", &format!("{subnet}.1/24"), "dev", &peer]);
        exec(&["link", "set", &peer, "up"]);
        exec(&["link", "set", "lo", "up"]);
        Some(host)
    }

    /// Gives both ends of the link IPv6 addresses too: `fd6d:{tag}::1` in the namespace
    /// (returned, for a server to listen on) and `fd6d:{tag}::2` on this side. Also makes this
    /// side the home of the whole `fd6e:{tag}::/64`: a `local` route delivers it here, and the
    /// namespace routes it back over the link, so a test can connect from as many addresses of
    /// one /64 as it likes (binding with `IPV6_FREEBIND`, as IPv6 binds only to configured
    /// addresses otherwise).
    pub fn add_ipv6(&self) -> (std::net::Ipv6Addr, ClientPrefix) {
        // The id in two groups: it may not fit in one.
        let tag = format!("{:x}:{:x}", self.id >> 16, self.id & 0xffff);
        let server: std::net::Ipv6Addr = format!("fd6d:{tag}::1").parse().unwrap();
        let client = format!("fd6d:{tag}::2");
        let prefix = format!("fd6e:{tag}::/64");
        // nodad: usable at once, not after duplicate address detection.
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{client}/64"),
            "dev",
            &self.link,
            "nodad",
        ]);
        ip(&["-6", "route", "add", "local", &prefix, "dev", "lo"]);
        let exec = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &self.netns, "ip"];
            full.extend_from_slice(args);
            ip(&full);
        };
        exec(&[
            "-6",
            "addr",
            "add",
            &format!("{server}/64"),
            "dev",
            &self.peer,
            "nodad",
        ]);
        exec(&["-6", "route", "add", &prefix, "via", &client]);
        (
            server,
            ClientPrefix {
                prefix: format!("fd6e:{tag}::").parse().unwrap(),
                route: prefix,
            },
        )
    }
}

/// A /64 of source addresses on this side of a [`RemoteHost`]'s link (see
/// [`RemoteHost::add_ipv6`]); its route is removed on drop.
pub struct ClientPrefix {
    pub prefix: std::net::Ipv6Addr,
    route: String,
}

impl ClientPrefix {
    /// The `n`th address of the /64 (`n` in the host bits).
    pub fn address(&self, n: u64) -> std::net::Ipv6Addr {
        (u128::from(self.prefix) | u128::from(n)).into()
    }
}

impl Drop for ClientPrefix {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["-6", "route", "del", "local", &self.route, "dev", "lo"])
            .status();
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// A client that presents `authorization` (an `Authorization` header value), if any.
pub async fn connect_with(url: &str, authorization: Option<&str>) -> Client {
    let mut request = url.into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("Authorization", HeaderValue::from_str(value).unwrap());
    }
    let (socket, _) = connect_async(request).await.expect("connects");
    Client {
        socket,
        events: Default::default(),
        next_id: 0,
    }
}

/// A WebSocket handshake with extra headers: the client, or the HTTP status that refused it.
pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Client, u16> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match connect_async(request).await {
        Ok((socket, _)) => Ok(Client {
            socket,
            events: Default::default(),
            next_id: 0,
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// The real `magnetar serve` binary inside `host`'s namespace, listening on its address, with
/// `settings` (a settings.json text) in a fresh data folder.
pub struct RemoteServer {
    // Dropped first (fields drop in order): the server stops before its host goes away.
    _child: super::peers::ChildGuard,
    pub url: String,
    pub data_dir: std::path::PathBuf,
    pub host: RemoteHost,
    /// The server's log (its standard error), read all the time by a thread so that a full
    /// pipe never blocks the server; the last 256 KiB are kept for a failing test to print.
    log: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl RemoteServer {
    /// The server on `host`'s IPv4 address, or `None` (the test is skipped) when not root.
    pub fn start(settings: &str, extra_args: &[&str]) -> Option<RemoteServer> {
        let host = RemoteHost::create()?;
        let listen = format!("{}:0", host.server_ip);
        Some(RemoteServer::start_on(host, &listen, settings, extra_args))
    }

    /// The server on `host`, listening on `listen`.
    pub fn start_on(
        host: RemoteHost,
        listen: &str,
        settings: &str,
        extra_args: &[&str],
    ) -> RemoteServer {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(data_dir.join("settings.json"), settings).unwrap();
        let mut child = super::peers::ChildGuard::spawn(
            Command::new("ip")
                .args(["netns", "exec", &host.netns])
                .arg(env!("CARGO_BIN_EXE_magnetar"))
                .args(["serve", "--listen", listen])
                .args(["--peer-port", "0", "--no-dht", "--no-upnp", "--no-lsd"])
                .args(extra_args)
                .arg("--data-dir")
                .arg(&data_dir)
                .arg("--download-dir")
                .arg(dir.path().join("downloads"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped()),
            "magnetar serve in a namespace",
        );
        let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stderr = child.0.stderr.take().unwrap();
        let kept = log.clone();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                let mut kept = kept.lock().unwrap();
                kept.extend_from_slice(&buf[..n]);
                let excess = kept.len().saturating_sub(256 * 1024);
                kept.drain(..excess);
            }
        });
        let (line, _) = super::read_line_within(stdout);
        let url = super::url_in_ready_line(&line);
        RemoteServer {
            _child: child,
            url,
            data_dir,
            host,
            log,
            reader: Some(reader),
            _dir: dir,
        }
    }

    /// The end of what the server has logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// Stops the server and returns its whole log (up to the last 256 KiB).
    pub fn stop(mut self) -> String {
        let _ = self._child.0.kill();
        let _ = self._child.0.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }

    /// The server's process id (`ip netns exec` execs the server, so it is the child's own).
    pub fn pid(&self) -> u32 {
        self._child.0.id()
    }
}
