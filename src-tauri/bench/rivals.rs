//! The daemons a user would drive instead of Magnetar, under the API table's load:
//! transmission-daemon (its RPC), qbittorrent-nox (its Web API) and aria2c (its JSON-RPC), each
//! on a fresh folder on loopback with DHT, LPD, PEX and port mapping off, each found on PATH (or,
//! except in a quick run, installed with apt when running as root), skipped with "not
//! installed" otherwise.
//!
//! Every one gets the same N generated torrents added paused. Their adds go over HTTP/1.1
//! keep-alive with 16 requests in flight (none of them pipelines on one connection); Magnetar's
//! are pipelined on one WebSocket. Only aria2 pushes anything: its WebSocket notifications are
//! timed like Magnetar's `task.created` (for a download that starts: aria2 says nothing for a
//! paused add).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::procs::{self, Guard};
use crate::report::percentile;
use crate::Scale;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transmission,
    Qbittorrent,
    Aria2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Transmission, Kind::Qbittorrent, Kind::Aria2];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Transmission => "Transmission",
            Kind::Qbittorrent => "qBittorrent",
            Kind::Aria2 => "aria2",
        }
    }

    fn program(self) -> &'static str {
        match self {
            Kind::Transmission => "transmission-daemon",
            Kind::Qbittorrent => "qbittorrent-nox",
            Kind::Aria2 => "aria2c",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Kind::Transmission => "transmission-daemon",
            Kind::Qbittorrent => "qbittorrent-nox",
            Kind::Aria2 => "aria2",
        }
    }
}

/// What one daemon did under the load (the same measures as Magnetar's table).
pub struct Figures {
    pub adds_per_second: f64,
    /// Adds per second counting the work left after the last answer.
    pub adds_until_quiet: f64,
    pub list_p50_ms: f64,
    pub list_p99_ms: f64,
    pub list_rate: [f64; 2],
    /// p50 and p99 of the push to the last client, for a daemon that pushes.
    pub fan_out_ms: Option<(f64, f64)>,
    pub idle_cpu: f64,
    pub idle_rss: u64,
    /// Descriptors open with every torrent added (paused).
    pub descriptors: usize,
    /// With half of the torrents started (live, no peer to find), queueing off: CPU, RSS and
    /// descriptors, for a daemon measured so (`stalled` in [`measure`]).
    pub stalled: Option<(f64, u64, usize)>,
    /// SIGTERM to exit, with every torrent added.
    pub stop_ms: f64,
    pub startup_ms: f64,
}

/// Runs the load against `kind`; `Ok(None)` when the daemon is not installed. With `stalled`
/// (Transmission only), half of the torrents are then started and the idle cost measured again,
/// and the restart is of that library.
pub async fn measure(
    kind: Kind,
    root: &Path,
    scale: Scale,
    torrents: &[Vec<u8>],
    stalled: bool,
) -> anyhow::Result<Option<Figures>> {
    if !installed(kind, scale.install) {
        eprintln!(
            "{} is not installed{}; skipping it",
            kind.name(),
            if scale.install {
                " and could not be installed"
            } else {
                " (a quick run installs nothing)"
            }
        );
        return Ok(None);
    }
    let daemon = Daemon::start(kind, root, false)?;
    let http = client();
    daemon.ready(&http, 0).await?;

    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = (0..16).map(|_| async {
        let http = client();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(torrent) = torrents.get(i) else {
                return anyhow::Ok(());
            };
            daemon.add(&http, torrent).await?;
        }
    });
    for result in futures_util::future::join_all(workers).await {
        result?;
    }
    let n = torrents.len();
    // Some daemons answer before the torrent is listed: the adds end when all are.
    daemon.ready(&http, n).await?;
    let answered_in = started.elapsed();
    let adds_per_second = n as f64 / answered_in.as_secs_f64();
    let busy = procs::settle(daemon.pid(), Duration::from_secs(120)).await;
    let adds_until_quiet = n as f64 / (answered_in + busy).as_secs_f64();

    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let listed = daemon.list(&http).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(listed == n, "{} lists {listed} of {n}", kind.name());
    }
    let mut list_rate = [0.0; 2];
    for (slot, connections) in [1usize, 50].into_iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(3);
        let workers = (0..connections).map(|_| async {
            let http = client();
            let mut done = 0u64;
            while Instant::now() < deadline {
                daemon.list(&http).await?;
                done += 1;
            }
            anyhow::Ok(done)
        });
        let mut total = 0;
        for done in futures_util::future::join_all(workers).await {
            total += done?;
        }
        list_rate[slot] = total as f64 / 3.0;
    }

    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = procs::cpu_seconds(daemon.pid());
    tokio::time::sleep(Duration::from_secs(scale.idle_seconds)).await;
    let idle_cpu = (procs::cpu_seconds(daemon.pid()) - before) / scale.idle_seconds as f64 * 100.0;
    let (idle_rss, _) = procs::memory(daemon.pid());

    let fan_out_ms = match kind {
        Kind::Aria2 => Some(aria2_fan_out(&daemon, &http, scale).await?),
        _ => None,
    };
    let listed = daemon.list(&http).await?;
    let descriptors = procs::descriptors(daemon.pid());
    let stalled = match kind {
        Kind::Transmission if stalled => {
            daemon.start_half(&http).await?;
            // As Magnetar's: the same wait, then the idle window.
            tokio::time::sleep(procs::stalled_wait(torrents.len(), !scale.install)).await;
            let before = procs::cpu_seconds(daemon.pid());
            tokio::time::sleep(Duration::from_secs(scale.idle_seconds)).await;
            let cpu =
                (procs::cpu_seconds(daemon.pid()) - before) / scale.idle_seconds as f64 * 100.0;
            let rss = procs::memory(daemon.pid()).0;
            Some((cpu, rss, procs::descriptors(daemon.pid())))
        }
        _ => None,
    };

    let stopping = Instant::now();
    daemon.stop();
    let stop_ms = stopping.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let daemon = Daemon::start(kind, root, true)?;
    daemon.ready(&http, listed).await?;
    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    daemon.stop();

    Ok(Some(Figures {
        adds_per_second,
        adds_until_quiet,
        list_p50_ms: percentile(&latencies, 50.0),
        list_p99_ms: percentile(&latencies, 99.0),
        list_rate,
        fan_out_ms,
        idle_cpu,
        idle_rss,
        descriptors,
        stalled,
        stop_ms,
        startup_ms,
    }))
}

/// On PATH, or installed now with apt when `install` and we are root.
fn installed(kind: Kind, install: bool) -> bool {
    if procs::find(kind.program(), &[]).is_some() {
        return true;
    }
    if !install {
        return false;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        eprintln!("installing {} with apt", kind.package());
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", kind.package()])
            .stdout(Stdio::null())
            .status();
    }
    procs::find(kind.program(), &[]).is_some()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// A running daemon and how to reach it.
struct Daemon {
    kind: Kind,
    guard: Option<Guard>,
    port: u16,
    /// Transmission's CSRF token, learned from its first 409.
    session_id: std::sync::Mutex<String>,
}

impl Daemon {
    /// Starts `kind` on `root` (its state kept there across a restart).
    fn start(kind: Kind, root: &Path, restart: bool) -> anyhow::Result<Daemon> {
        let (config, downloads) = (root.join("config"), root.join("downloads"));
        std::fs::create_dir_all(&config)?;
        std::fs::create_dir_all(&downloads)?;
        let port_file = root.join("rpc-port");
        let port = match std::fs::read_to_string(&port_file) {
            Ok(port) if restart => port.trim().parse()?,
            _ => procs::free_port(),
        };
        std::fs::write(&port_file, port.to_string())?;
        let peer_port = procs::free_port();
        let mut command = match kind {
            Kind::Transmission => transmission(&config, &downloads, port, peer_port)?,
            Kind::Qbittorrent => qbittorrent(&config, &downloads, port, peer_port)?,
            Kind::Aria2 => aria2(&config, &downloads, port, peer_port, restart)?,
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", kind.program()))?;
        let guard = Guard(child);
        procs::wait_for_port(port)?;
        Ok(Daemon {
            kind,
            guard: Some(guard),
            port,
            session_id: std::sync::Mutex::new(String::new()),
        })
    }

    fn pid(&self) -> u32 {
        self.guard.as_ref().map_or(0, Guard::pid)
    }

    /// Stops the daemon gracefully (SIGTERM, so that it saves its state), waiting for it.
    fn stop(mut self) {
        if let Some(mut guard) = self.guard.take() {
            let _ = Command::new("kill").arg(guard.pid().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = guard.0.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits until the API answers and lists at least `tasks` torrents.
    async fn ready(&self, http: &reqwest::Client, tasks: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self.list(http).await {
                Ok(listed) if listed >= tasks => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(listed) => anyhow::bail!("{} lists {listed} of {tasks}", self.kind.name()),
                Err(e) => return Err(e),
            }
        }
    }

    async fn add(&self, http: &reqwest::Client, torrent: &[u8]) -> anyhow::Result<()> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(torrent);
        match self.kind {
            Kind::Transmission => {
                let answer = self
                    .transmission_rpc(
                        http,
                        json!({"method": "torrent-add",
                               "arguments": {"metainfo": encoded, "paused": true}}),
                    )
                    .await?;
                anyhow::ensure!(answer["result"] == "success", "torrent-add: {answer}");
            }
            Kind::Qbittorrent => {
                const BOUNDARY: &str = "magnetarbenchboundary";
                let mut body = Vec::new();
                body.extend_from_slice(
                    format!(
                        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"paused\"\r\n\r\ntrue\r\n\
                         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"torrents\"; \
                         filename=\"t.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(torrent);
                body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
                let answer = http
                    .post(self.url("/api/v2/torrents/add"))
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(body)
                    .send()
                    .await?;
                let status = answer.status();
                let text = answer.text().await?;
                anyhow::ensure!(status.is_success() && text.contains("Ok"), "add: {text}");
            }
            Kind::Aria2 => {
                let answer = self
                    .aria2_rpc(
                        http,
                        "aria2.addTorrent",
                        json!([encoded, [], {"pause": "true"}]),
                    )
                    .await?;
                anyhow::ensure!(answer.get("result").is_some(), "addTorrent: {answer}");
            }
        }
        Ok(())
    }

    /// One list call with the fields of Magnetar's task summary; returns how many it listed.
    async fn list(&self, http: &reqwest::Client) -> anyhow::Result<usize> {
        let count = match self.kind {
            Kind::Transmission => {
                let fields = [
                    "hashString",
                    "name",
                    "status",
                    "totalSize",
                    "downloadedEver",
                    "rateDownload",
                    "uploadedEver",
                    "rateUpload",
                    "peersConnected",
                    "peersSendingToUs",
                    "addedDate",
                    "errorString",
                ];
                let answer = self
                    .transmission_rpc(
                        http,
                        json!({"method": "torrent-get", "arguments": {"fields": fields}}),
                    )
                    .await?;
                answer["arguments"]["torrents"]
                    .as_array()
                    .context("no torrents")?
                    .len()
            }
            Kind::Qbittorrent => {
                let answer: Value = serde_json::from_slice(
                    &http
                        .get(self.url("/api/v2/torrents/info"))
                        .send()
                        .await?
                        .bytes()
                        .await?,
                )?;
                answer.as_array().context("not a list")?.len()
            }
            Kind::Aria2 => {
                let keys = json!([
                    "gid",
                    "infoHash",
                    "status",
                    "totalLength",
                    "completedLength",
                    "downloadSpeed",
                    "uploadLength",
                    "uploadSpeed",
                    "connections",
                    "numSeeders",
                    "errorMessage",
                    "bittorrent"
                ]);
                let answer = self
                    .aria2_rpc(
                        http,
                        "system.multicall",
                        json!([[
                            {"methodName": "aria2.tellActive", "params": [keys]},
                            {"methodName": "aria2.tellWaiting", "params": [0, 100_000, keys]},
                            {"methodName": "aria2.tellStopped", "params": [0, 100_000, keys]}
                        ]]),
                    )
                    .await?;
                answer["result"]
                    .as_array()
                    .context("no result")?
                    .iter()
                    .map(|part| part[0].as_array().map_or(0, Vec::len))
                    .sum()
            }
        };
        Ok(count)
    }

    /// Transmission: turns its queues off (Magnetar has none, so every started torrent is
    /// live) and starts every other torrent, as the scale bench resumes half of Magnetar's.
    async fn start_half(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        let answer = self
            .transmission_rpc(
                http,
                json!({"method": "session-set", "arguments": {
                    "download-queue-enabled": false, "seed-queue-enabled": false,
                    "queue-stalled-enabled": false}}),
            )
            .await?;
        anyhow::ensure!(answer["result"] == "success", "session-set: {answer}");
        let answer = self
            .transmission_rpc(
                http,
                json!({"method": "torrent-get", "arguments": {"fields": ["id"]}}),
            )
            .await?;
        let mut ids: Vec<u64> = answer["arguments"]["torrents"]
            .as_array()
            .context("no torrents")?
            .iter()
            .filter_map(|t| t["id"].as_u64())
            .collect();
        ids.sort_unstable();
        let half: Vec<u64> = ids.into_iter().step_by(2).collect();
        let answer = self
            .transmission_rpc(
                http,
                json!({"method": "torrent-start-now", "arguments": {"ids": half}}),
            )
            .await?;
        anyhow::ensure!(answer["result"] == "success", "torrent-start-now: {answer}");
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A Transmission RPC call, with its session-id handshake.
    async fn transmission_rpc(
        &self,
        http: &reqwest::Client,
        request: Value,
    ) -> anyhow::Result<Value> {
        for _ in 0..3 {
            let id = self.session_id.lock().expect("session id").clone();
            let answer = http
                .post(self.url("/transmission/rpc"))
                .header("X-Transmission-Session-Id", id)
                .body(request.to_string())
                .send()
                .await?;
            if answer.status() == reqwest::StatusCode::CONFLICT {
                if let Some(id) = answer.headers().get("X-Transmission-Session-Id") {
                    *self.session_id.lock().expect("session id") = id.to_str()?.to_owned();
                }
                continue;
            }
            return Ok(serde_json::from_slice(&answer.bytes().await?)?);
        }
        anyhow::bail!("Transmission keeps refusing the session id")
    }

    async fn aria2_rpc(
        &self,
        http: &reqwest::Client,
        method: &str,
        params: Value,
    ) -> anyhow::Result<Value> {
        let request = json!({"jsonrpc": "2.0", "id": "b", "method": method, "params": params});
        let answer = http
            .post(self.url("/jsonrpc"))
            .body(request.to_string())
            .send()
            .await?;
        Ok(serde_json::from_slice(&answer.bytes().await?)?)
    }
}

fn transmission(
    config: &Path,
    downloads: &Path,
    port: u16,
    peer_port: u16,
) -> anyhow::Result<Command> {
    let settings = json!({
        "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
        "port-forwarding-enabled": false, "utp-enabled": false,
        "peer-port": peer_port, "peer-port-random-on-start": false,
        "bind-address-ipv4": "127.0.0.1", "rpc-bind-address": "127.0.0.1", "rpc-port": port,
        "rpc-whitelist": "127.0.0.1", "rpc-authentication-required": false,
        "rpc-host-whitelist-enabled": false,
        "download-dir": downloads, "incomplete-dir-enabled": false, "message-level": 1
    });
    std::fs::write(config.join("settings.json"), settings.to_string())?;
    let mut command = Command::new("transmission-daemon");
    command.arg("-f").arg("-g").arg(config);
    Ok(command)
}

fn qbittorrent(
    config: &Path,
    downloads: &Path,
    port: u16,
    peer_port: u16,
) -> anyhow::Result<Command> {
    let folder = config.join("qBittorrent").join("config");
    std::fs::create_dir_all(&folder)?;
    let conf = format!(
        "[LegalNotice]\nAccepted=true\n\n\
         [BitTorrent]\nSession\\DHTEnabled=false\nSession\\LSDEnabled=false\n\
         Session\\PeXEnabled=false\nSession\\Port={peer_port}\n\
         Session\\DefaultSavePath={downloads}\nSession\\Interface=lo\n\
         Session\\InterfaceName=lo\n\n\
         [Preferences]\nConnection\\UPnP=false\nGeneral\\Locale=en\n\
         WebUI\\Address=127.0.0.1\nWebUI\\Port={port}\nWebUI\\LocalHostAuth=false\n\
         WebUI\\CSRFProtection=false\nWebUI\\HostHeaderValidation=false\n",
        downloads = downloads.display()
    );
    std::fs::write(folder.join("qBittorrent.conf"), conf)?;
    let mut command = Command::new("qbittorrent-nox");
    command
        .arg(format!("--profile={}", config.display()))
        .arg(format!("--webui-port={port}"));
    Ok(command)
}

fn aria2(
    config: &Path,
    downloads: &Path,
    port: u16,
    peer_port: u16,
    restart: bool,
) -> anyhow::Result<Command> {
    let session: PathBuf = config.join("aria2.session");
    let mut command = Command::new("aria2c");
    command
        .args(["--enable-rpc", "--rpc-listen-all=false", "--quiet"])
        .arg(format!("--rpc-listen-port={port}"))
        .arg(format!("--dir={}", downloads.display()))
        .arg(format!("--listen-port={peer_port}"))
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
        ])
        .args(["--enable-peer-exchange=false", "--disable-ipv6=true"])
        .args(["--max-download-result=100000", "--save-session-interval=0"])
        .arg(format!("--save-session={}", session.display()))
        .arg("--force-save=true");
    if restart {
        command.arg(format!("--input-file={}", session.display()));
    }
    Ok(command)
}

/// aria2's push: the time from an add to `aria2.onDownloadStart` at the last of C WebSocket
/// clients, for downloads that start (more may run at once than usual).
async fn aria2_fan_out(
    daemon: &Daemon,
    http: &reqwest::Client,
    scale: Scale,
) -> anyhow::Result<(f64, f64)> {
    daemon
        .aria2_rpc(
            http,
            "aria2.changeGlobalOption",
            json!([{"max-concurrent-downloads": "1000000"}]),
        )
        .await?;
    let url = format!("ws://127.0.0.1:{}/jsonrpc", daemon.port);
    let (clients, mut rx) =
        crate::ws::listeners(&url, scale.clients, "aria2.onDownloadStart", "gid").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut samples = Vec::new();
    for i in 0..scale.fanout_adds {
        let torrent = crate::api::torrent_bytes(2_000_000 + i, "http://127.0.0.1:9/announce");
        let encoded = base64::engine::general_purpose::STANDARD.encode(torrent);
        let sent = Instant::now();
        let answer = daemon
            .aria2_rpc(http, "aria2.addTorrent", json!([encoded]))
            .await?;
        let gid = answer["result"].as_str().context("no gid")?.to_owned();
        let (mut seen, mut last) = (0, sent);
        while seen < scale.clients {
            let (got, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .context("clients gone")?;
            if got == gid {
                seen += 1;
                last = last.max(at);
            }
        }
        samples.push((last - sent).as_secs_f64() * 1000.0);
    }
    for client in &clients {
        client.abort();
    }
    Ok((percentile(&samples, 50.0), percentile(&samples, 99.0)))
}
