//! Real peers and a real tracker for the tests, all bound to 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use librqbit::{AddTorrent, AddTorrentOptions, ListenerOptions, Session, SessionOptions};

use super::torrent::TestTorrent;

/// A port that was free a moment ago, for programs that cannot bind port 0 and report it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Is a third-party program installed? Tests that need one fail with a clear message if not:
/// `.ci/run` installs them, and a silent skip would hide a broken setup.
pub fn require(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{program} is not installed: run `bash scripts/setup.sh` (it installs the test peers)"
    );
}

/// A second librqbit session seeding a torrent whose content it holds.
pub struct LibrqbitSeeder {
    pub session: Arc<Session>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl LibrqbitSeeder {
    pub async fn start(torrent: &TestTorrent) -> LibrqbitSeeder {
        Self::start_limited(torrent, None).await
    }

    /// A seeder that uploads at most `upload_bps` bytes a second, so that a test can watch a
    /// download while it runs.
    pub async fn start_limited(torrent: &TestTorrent, upload_bps: Option<u32>) -> LibrqbitSeeder {
        Self::start_on(torrent, upload_bps, free_port()).await
    }

    /// A seeder listening on a chosen port (to play a peer that comes up late).
    pub async fn start_on(
        torrent: &TestTorrent,
        upload_bps: Option<u32>,
        port: u16,
    ) -> LibrqbitSeeder {
        let dir = tempfile::tempdir().unwrap();
        torrent.write_content(dir.path());
        // librqbit puts a torrent's files straight into `output_folder`.
        let output_folder = if torrent.single {
            dir.path().to_owned()
        } else {
            dir.path().join(&torrent.name)
        };
        let session = Session::new_with_opts(
            dir.path().to_owned(),
            SessionOptions {
                dht: None,
                // librqbit announces no port for a loopback listener unless told.
                listen: Some(ListenerOptions {
                    listen_addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    announce_port: Some(port),
                    ..Default::default()
                }),
                disable_local_service_discovery: true,
                ..Default::default()
            },
        )
        .await
        .expect("seeder session");
        let handle = session
            .add_torrent(
                AddTorrent::from_bytes(torrent.bytes.clone()),
                Some(AddTorrentOptions {
                    ratelimits: librqbit::limits::LimitsConfig {
                        upload_bps: upload_bps.and_then(std::num::NonZeroU32::new),
                        download_bps: None,
                    },
                    overwrite: true,
                    output_folder: Some(output_folder.to_str().unwrap().to_owned()),
                    ..Default::default()
                }),
            )
            .await
            .expect("seeder adds torrent")
            .into_handle()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), handle.wait_until_initialized())
            .await
            .expect("seeder initializes in time")
            .expect("seeder initializes");
        assert!(
            handle.stats().finished,
            "the seeder must hold the whole content"
        );
        LibrqbitSeeder {
            session,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }
}

/// Kills a child process when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `command` and guards the child at once: nothing between the spawn and the guard
    /// can panic and leave it running.
    pub fn spawn(command: &mut Command, what: &str) -> ChildGuard {
        ChildGuard(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("{what} does not start: {e}")),
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's opentracker on 127.0.0.1 (built whitelist-only: it tracks the listed hashes only).
pub struct Tracker {
    pub announce: String,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Tracker {
    pub fn start(info_hashes: &[&str]) -> Tracker {
        Tracker::start_on(free_port(), info_hashes)
    }

    /// On a chosen port: a test that restarts its tracker (forgetting every peer) keeps the
    /// announce URL its torrents name.
    pub fn start_on(port: u16, info_hashes: &[&str]) -> Tracker {
        require("opentracker");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("whitelist.txt"),
            info_hashes.join("\n") + "\n",
        )
        .unwrap();
        let child = ChildGuard::spawn(
            Command::new("opentracker")
                .current_dir(dir.path())
                .args([
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-P",
                    &port.to_string(),
                ])
                .arg("-d")
                .arg(dir.path())
                .args(["-w", "whitelist.txt"])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "opentracker",
        );
        wait_for_port(port);
        Tracker {
            announce: format!("http://127.0.0.1:{port}/announce"),
            _child: child,
            _dir: dir,
        }
    }
}

/// aria2c, seeding or downloading one torrent, with DHT, LPD and PEX off.
pub struct Aria2 {
    pub port: u16,
    pub dir: PathBuf,
    child: ChildGuard,
}

impl Aria2 {
    /// Seeds `torrent` from content written into `dir`, listening on a fresh port.
    pub fn seed(torrent: &TestTorrent, dir: &Path) -> Aria2 {
        torrent.write_content(dir);
        Self::run(
            torrent,
            dir,
            &["--seed-ratio=1000000", "--check-integrity=true"],
        )
    }

    /// Downloads `torrent` into `dir` (finding peers through the torrent's tracker).
    pub fn download(torrent: &TestTorrent, dir: &Path) -> Aria2 {
        Self::run(torrent, dir, &["--seed-time=0"])
    }

    fn run(torrent: &TestTorrent, dir: &Path, extra: &[&str]) -> Aria2 {
        require("aria2c");
        std::fs::create_dir_all(dir).unwrap();
        let torrent_file = dir.join(format!("{}.torrent", torrent.info_hash));
        torrent.save(&torrent_file);
        let port = free_port();
        let child = ChildGuard::spawn(
            Command::new("aria2c")
                .arg(format!("--dir={}", dir.display()))
                .args([
                    "--enable-dht=false",
                    "--enable-dht6=false",
                    "--bt-enable-lpd=false",
                    "--enable-peer-exchange=false",
                    "--disable-ipv6=true",
                    "--bt-save-metadata=false",
                    "--follow-torrent=mem",
                    "--console-log-level=warn",
                    "--summary-interval=0",
                    "--file-allocation=none",
                    "--bt-tracker-connect-timeout=5",
                    "--bt-tracker-interval=2",
                    &format!("--listen-port={port}"),
                ])
                .args(extra)
                .arg(&torrent_file)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "aria2c",
        );
        Aria2 {
            port,
            dir: dir.to_owned(),
            child,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for aria2c to exit (a download with --seed-time=0 exits when complete).
    pub async fn wait_exit(&mut self, patience: Duration) -> bool {
        super::poll_until(
            "aria2c exits",
            patience,
            Duration::from_millis(200),
            async || match self.child.0.try_wait() {
                Ok(Some(status)) => Ok(status.success()),
                _ => Err("still running"),
            },
        )
        .await
    }
}

/// Waits until something listens on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    super::poll_until_blocking(
        &format!("a listener on port {port}"),
        Duration::from_secs(5),
        Duration::from_millis(50),
        || std::net::TcpStream::connect(("127.0.0.1", port)).map(drop),
    )
}

/// transmission-daemon with DHT, LPD, PEX and port mapping off, driven by transmission-remote.
pub struct Transmission {
    pub peer_port: u16,
    rpc: String,
    pub download_dir: PathBuf,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Transmission {
    pub fn start() -> Transmission {
        require("transmission-daemon");
        require("transmission-remote");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let download_dir = dir.path().join("downloads");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::create_dir_all(&download_dir).unwrap();
        let (peer_port, rpc_port) = (free_port(), free_port());
        let settings = serde_json::json!({
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "port-forwarding-enabled": false,
            "utp-enabled": false,
            "peer-port": peer_port,
            "peer-port-random-on-start": false,
            "bind-address-ipv4": "127.0.0.1",
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-whitelist": "127.0.0.1",
            "rpc-authentication-required": false,
            "download-dir": download_dir,
            "incomplete-dir-enabled": false,
            "start-added-torrents": true,
            "ratio-limit-enabled": false,
            "message-level": 1
        });
        std::fs::write(config.join("settings.json"), settings.to_string()).unwrap();
        let child = ChildGuard::spawn(
            Command::new("transmission-daemon")
                .arg("-f")
                .arg("-g")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "transmission-daemon",
        );
        wait_for_port(rpc_port);
        Transmission {
            peer_port,
            rpc: format!("127.0.0.1:{rpc_port}"),
            download_dir,
            _child: child,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.peer_port))
    }

    /// Runs transmission-remote against this daemon; returns its stdout.
    pub fn remote(&self, args: &[&str]) -> String {
        let output = Command::new("transmission-remote")
            .arg(&self.rpc)
            .args(args)
            .output()
            .expect("transmission-remote runs");
        assert!(
            output.status.success(),
            "transmission-remote {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Adds a .torrent file (its data, if already in the download dir, is verified first).
    pub fn add(&self, torrent: &TestTorrent) {
        let file = self
            .download_dir
            .join(format!("{}.torrent", torrent.info_hash));
        torrent.save(&file);
        self.remote(&["-a", file.to_str().unwrap()]);
    }

    /// Waits until Transmission has announced the torrent to its tracker.
    pub async fn wait_announced(&self, info_hash: &str) {
        super::poll_until(
            &format!("Transmission announcing {info_hash}"),
            Duration::from_secs(20),
            Duration::from_millis(200),
            async || {
                let trackers = self.remote(&["-t", info_hash, "-it"]);
                if trackers.contains("Got a list of") {
                    Ok(())
                } else {
                    Err(trackers)
                }
            },
        )
        .await
    }

    /// Waits until the torrent is 100% done in Transmission.
    pub async fn wait_done(&self, info_hash: &str, patience: Duration) {
        super::poll_until(
            &format!("Transmission at 100% of {info_hash}"),
            patience,
            Duration::from_millis(300),
            async || {
                let info = self.remote(&["-t", info_hash, "-i"]);
                if info.contains("Percent Done: 100%") {
                    return Ok(());
                }
                let trackers = self.remote(&["-t", info_hash, "-it"]);
                let peers = self.remote(&["-t", info_hash, "-ip"]);
                Err(format!("{info}\n{trackers}\n{peers}"))
            },
        )
        .await
    }
}
