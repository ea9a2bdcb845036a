//! Issue 21 end to end: each trust boundary fixed in the server, attacked against the real
//! `magnetar serve` binary (in a network namespace when the attacker must be another host).
//! After each attack an authorized client checks that the task list, the limits and the files
//! on disk (data and download folders) are what they were before it.
//!
//! The tests run one at a time (`SERIAL`): two of them measure the server's memory and
//! descriptors, and a 1 GiB flood beside them would blur both on a 2-core machine. Figures are
//! printed (`--nocapture` shows them).

mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use support::netns::{connect_with, RemoteHost, RemoteServer};
use support::peers::{ChildGuard, LibrqbitSeeder};
use support::torrent::{TestTorrent, TorrentSpec};
use support::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TOKEN: &str = "trust-boundaries-token-0123456789abcdef";
const DOWNLOAD_BPS: u64 = 3_000_000;
const UPLOAD_BPS: u64 = 2_000_000;
/// A magnet with no way to find peers (no tracker, no peer, no DHT): it fails at once (state 5)
/// and stays in the list, so the baseline has a task in it.
const KEPT: &str = "abababababababababababababababababababab";
/// An admin method, with values no test sets on purpose: it shows up in the limits if obeyed.
const SET_LIMITS: &str = "session.setLimits";

fn attack_limits() -> Value {
    json!({"download_bps": 1, "upload_bps": 1})
}

/// settings.json: the token, the baseline's limits, and `extra`.
fn settings(extra: Value) -> String {
    let mut settings = json!({
        "token": TOKEN,
        "download_bps": DOWNLOAD_BPS,
        "upload_bps": UPLOAD_BPS,
    });
    let map = settings.as_object_mut().unwrap();
    for (key, value) in extra.as_object().unwrap() {
        map.insert(key.clone(), value.clone());
    }
    settings.to_string()
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// What an attack must not change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// (id, state) of every task.
    tasks: Vec<(String, i64)>,
    /// `session.info`'s download_bps and upload_bps.
    limits: (Value, Value),
    /// Every file under the folders: path -> (length, SHA-1).
    files: BTreeMap<String, (usize, String)>,
}

async fn snapshot(admin: &mut Client, dirs: &[&Path]) -> Snapshot {
    let list = admin.ok("task.list", Value::Null).await;
    let tasks = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["state"].as_i64().unwrap(),
            )
        })
        .collect();
    let info = admin.ok("session.info", Value::Null).await;
    Snapshot {
        tasks,
        limits: (info["download_bps"].clone(), info["upload_bps"].clone()),
        files: files(dirs),
    }
}

/// Every file under `dirs`: path -> (length, SHA-1).
fn files(dirs: &[&Path]) -> BTreeMap<String, (usize, String)> {
    let mut files = BTreeMap::new();
    for dir in dirs {
        walk(dir, &mut files);
    }
    files
}

fn walk(dir: &Path, out: &mut BTreeMap<String, (usize, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let digest = support::torrent::hex(&Sha1::digest(&bytes));
            out.insert(path.display().to_string(), (bytes.len(), digest));
        }
    }
}

/// A task in the list and the limits of `settings()`, as the attack's baseline.
async fn prepare(admin: &mut Client, dirs: &[&Path]) -> Snapshot {
    admin
        .add_magnet(&format!("magnet:?xt=urn:btih:{KEPT}&dn=kept"))
        .await;
    admin.poll_state(KEPT, 5).await;
    // The server records the failure in its task file after the state changes: wait until the
    // folders are still (no write under way, nothing changed in 300 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = files(dirs);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = files(dirs);
        if before == after && !after.keys().any(|path| path.ends_with(".tmp")) {
            break;
        }
        assert!(Instant::now() < deadline, "the data folder never settled");
    }
    let baseline = snapshot(admin, dirs).await;
    assert_eq!(baseline.tasks, vec![(KEPT.to_owned(), 5)]);
    assert_eq!(
        baseline.limits,
        (json!(DOWNLOAD_BPS), json!(UPLOAD_BPS)),
        "the limits of settings.json"
    );
    baseline
}

/// Header lines, in order: (name, value).
type HeaderLines<'a> = Vec<(&'a str, &'a [u8])>;

/// A WebSocket handshake with these header lines, in order; a name may repeat (each its own
/// line). Values are bytes, so that a line need not be text.
async fn connect_lines(url: &str, lines: &[(&str, &[u8])]) -> Client {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in lines {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let (socket, _) = connect_async(request).await.expect("upgraded");
    Client {
        socket,
        events: Default::default(),
        next_id: 0,
    }
}

/// The real binary on 127.0.0.1:0, spawned by the test (so its pid and stderr are at hand).
struct LocalServer {
    child: ChildGuard,
    url: String,
    data_dir: PathBuf,
    download_dir: PathBuf,
    stderr: Arc<Mutex<String>>,
    _root: tempfile::TempDir,
}

impl LocalServer {
    /// `settings`: a settings.json to write into the data folder first (else the server makes
    /// the folder itself). `wrapper`: a command that runs the server (e.g. prlimit ... --).
    fn start(settings: Option<&str>, wrapper: &[&str]) -> LocalServer {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("data");
        let download_dir = root.path().join("downloads");
        if let Some(settings) = settings {
            std::fs::create_dir_all(&data_dir).unwrap();
            std::fs::write(data_dir.join("settings.json"), settings).unwrap();
        }
        let serve = support::serve_command(&data_dir, &download_dir);
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command
                    .args(args)
                    .arg(serve.get_program())
                    .args(serve.get_args());
                command
            }
            None => serve,
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("magnetar starts");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let stderr_pipe = std::io::BufReader::new(child.stderr.take().unwrap());
        let child = ChildGuard(child);
        let stderr = Arc::new(Mutex::new(String::new()));
        let collected = stderr.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            for line in stderr_pipe.lines().map_while(Result::ok) {
                let mut all = collected.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
            let _ = done_tx.send(());
        });
        let (line, _stdout) = support::read_line_within(stdout);
        if !line.contains("ws://") {
            // It exited: its stderr says why.
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
            panic!(
                "the server did not start: {line:?}; stderr:\n{}",
                stderr.lock().unwrap()
            );
        }
        LocalServer {
            child,
            url: support::url_in_ready_line(&line),
            data_dir,
            download_dir,
            stderr,
            _root: root,
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// `127.0.0.1:PORT`
    fn addr(&self) -> String {
        self.url
            .trim_start_matches("ws://")
            .trim_end_matches("/ws")
            .to_owned()
    }
}

/// A process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// How many descriptors a process holds.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// This test process opens thousands of sockets and files: raise its own soft limit (and, as
/// root, the hard one) so that a machine whose soft limit is 1,024 can run it.
fn raise_own_descriptor_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur >= want {
        return;
    }
    limit.rlim_cur = want;
    limit.rlim_max = limit.rlim_max.max(want);
    // SAFETY: as above.
    let result = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(
        result,
        0,
        "cannot raise this test's open-file limit to {want}: {}",
        std::io::Error::last_os_error()
    );
}

/// 1. Through a trusted proxy, a request is never local and needs the token, whatever its
///    `X-Forwarded-For` says. Before the fix, `X-Forwarded-For: ::1` through a trusted proxy
///    got full local rights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_requests_need_the_token_and_are_never_local() {
    let _serial = SERIAL.lock().await;
    let Some(host) = RemoteHost::create() else {
        return;
    };
    // The test's own address is the trusted proxy: every request here comes "through" it.
    let proxy = host.local_ip.clone();
    let listen = format!("{}:0", host.server_ip);
    let server = RemoteServer::start_on(
        host,
        &listen,
        &settings(json!({"trusted_proxies": [proxy]})),
        &[],
    );
    let downloads = server.data_dir.parent().unwrap().join("downloads");
    let dirs = [server.data_dir.as_path(), downloads.as_path()];
    let mut admin = connect_with(&server.url, Some(&bearer())).await;
    let baseline = prepare(&mut admin, &dirs).await;

    let xff = "X-Forwarded-For";
    let cases: [(&str, HeaderLines); 9] = [
        ("a loopback hop", vec![(xff, b"::1")]),
        (
            "two lines, the nearest loopback",
            vec![(xff, b"203.0.113.9"), (xff, b"::1")],
        ),
        ("loopback behind a client", vec![(xff, b"203.0.113.9, ::1")]),
        ("ip:port", vec![(xff, b"127.0.0.1:80")]),
        ("[v6]:port", vec![(xff, b"[::1]:80")]),
        ("the proxy's own loopback", vec![(xff, b"127.0.0.1")]),
        ("garbage", vec![(xff, b"::1, garbage")]),
        ("not text", vec![(xff, b"\xff\xfe::1")]),
        ("no header", vec![]),
    ];
    // Every case is tried before any verdict, so that a failure names all the holes.
    let mut obeyed = Vec::new();
    for (case, lines) in &cases {
        let mut outsider = connect_lines(&server.url, lines).await;
        let response = outsider.call(SET_LIMITS, attack_limits()).await;
        let list = connect_lines(&server.url, lines)
            .await
            .call("task.list", Value::Null)
            .await;
        if response["error"] != -6 || list["error"] != -6 {
            obeyed.push(format!(
                "{case}: session.setLimits {response}, task.list error {}",
                list["error"]
            ));
        }
    }
    assert!(
        obeyed.is_empty(),
        "requests through the proxy without the token were not refused with -6:\n{}",
        obeyed.join("\n")
    );

    // With the token and a loopback claim: a remote client, so no admin method.
    let mut claimed = connect_lines(
        &server.url,
        &[(xff, b"::1"), ("Authorization", bearer().as_bytes())],
    )
    .await;
    claimed.ok("task.list", Value::Null).await;
    let response = claimed.call(SET_LIMITS, attack_limits()).await;
    assert_eq!(
        response["error"], -6,
        "an admin method through the proxy with `X-Forwarded-For: ::1`: {response}"
    );

    assert_eq!(snapshot(&mut admin, &dirs).await, baseline);
}

/// The text of one WebSocket message of nearly 16 MiB (the default `max_message_bytes`) that
/// is cheap to send and dear to parse: an admin request whose params hold millions of `[]`.
fn flood_message() -> Vec<u8> {
    const SIZE: usize = 16 * 1024 * 1024 - 64;
    let head = br#"{"id":1,"method":"session.setLimits","params":{"download_bps":1,"pad":["#;
    let tail = b"[]]}}";
    let mut text = Vec::with_capacity(SIZE);
    text.extend_from_slice(head);
    while text.len() + 3 + tail.len() <= SIZE {
        text.extend_from_slice(b"[],");
    }
    text.extend_from_slice(tail);
    text
}

/// How one flooding client fared.
#[derive(Debug)]
enum Flooded {
    /// The upgrade was refused with this HTTP status.
    NotUpgraded(u16),
    /// The server answered the message (a refusal, else the test fails).
    Answered(Value),
    /// The server closed the connection.
    Closed,
}

/// One client without the token: upgrades, then writes one text frame of `payload` straight to
/// the socket (masked with a zero key, so the payload goes as is, shared by all clients).
async fn flood_once(url: String, payload: Arc<Vec<u8>>) -> Flooded {
    let mut client = match support::netns::try_connect(&url, &[]).await {
        Ok(client) => client,
        Err(status) => return Flooded::NotUpgraded(status),
    };
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    let socket = client.socket.get_mut();
    // The server may hang up after the frame's header: a failed write is its answer.
    if socket.write_all(&frame).await.is_ok() {
        let _ = socket.write_all(&payload).await;
        let _ = socket.flush().await;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(40), client.socket.next()).await {
            Err(_) => panic!("the server neither answered nor closed within 40 s"),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Flooded::Answered(serde_json::from_str(&text).expect("JSON"))
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                return Flooded::Closed
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// 2. 64 clients without the token each send one 16 MiB message at once: the server's peak RSS
///    stays under 150 MiB, and an authorized client is answered throughout. Before the fix a
///    refused client's message was parsed whole (607 MiB for 8 such clients).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_clients_sending_16_mib_each_cost_the_server_little() {
    const CLIENTS: usize = 64;
    const PEAK_LIMIT_KIB: u64 = 150 * 1024;
    let _serial = SERIAL.lock().await;
    let Some(server) = RemoteServer::start(&settings(json!({})), &[]) else {
        return;
    };
    let pid = server.pid();
    let downloads = server.data_dir.parent().unwrap().join("downloads");
    let dirs = [server.data_dir.as_path(), downloads.as_path()];
    let mut admin = connect_with(&server.url, Some(&bearer())).await;
    let baseline = prepare(&mut admin, &dirs).await;
    let peak_before = peak_rss_kib(pid);

    // The authorized client: task.list every 100 ms, each answered within 5 s.
    let stop = Arc::new(AtomicBool::new(false));
    let mut pinger = connect_with(&server.url, Some(&bearer())).await;
    let pinging = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut answered, mut slowest) = (0u32, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let asked = Instant::now();
                let response = tokio::time::timeout(
                    Duration::from_secs(5),
                    pinger.call("task.list", json!(null)),
                )
                .await
                .unwrap_or_else(|_| panic!("task.list not answered within 5 s during the flood"));
                assert_eq!(response["error"], 0, "{response}");
                slowest = slowest.max(asked.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (answered, slowest)
        })
    };

    let payload = Arc::new(flood_message());
    let started = Instant::now();
    let mut flood = JoinSet::new();
    for _ in 0..CLIENTS {
        flood.spawn(flood_once(server.url.clone(), payload.clone()));
    }
    let mut outcomes = Vec::new();
    let deadline = started + Duration::from_secs(50);
    let peak = loop {
        let peak = peak_rss_kib(pid);
        assert!(
            peak < PEAK_LIMIT_KIB,
            "the server's peak RSS reached {} MiB under the flood ({} of {CLIENTS} clients done)",
            peak / 1024,
            outcomes.len()
        );
        if flood.is_empty() {
            break peak;
        }
        assert!(Instant::now() < deadline, "the flood did not end in 50 s");
        tokio::select! {
            Some(outcome) = flood.join_next() => outcomes.push(outcome.expect("a flooding client")),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let flood_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (answered, slowest) = pinging.await.expect("the authorized client was served");

    let not_upgraded: Vec<u16> = outcomes
        .iter()
        .filter_map(|o| match o {
            Flooded::NotUpgraded(status) => Some(*status),
            _ => None,
        })
        .collect();
    let upgraded = CLIENTS - not_upgraded.len();
    for outcome in &outcomes {
        if let Flooded::Answered(response) = outcome {
            assert_eq!(
                response["error"], -6,
                "a flooding client was obeyed: {response}"
            );
        }
    }
    println!(
        "flood: {CLIENTS} clients x {:.1} MiB, {upgraded} upgraded (refused: {not_upgraded:?}), done in {flood_time:.1?}; \
         server peak RSS {} MiB before, {} MiB after; authorized task.list answered {answered} \
         times, slowest {slowest:.0?}",
        payload.len() as f64 / f64::from(1 << 20),
        peak_before / 1024,
        peak / 1024
    );
    assert!(upgraded > 0, "no flooding client got through the upgrade");
    assert!(answered > 0);
    assert_eq!(snapshot(&mut admin, &dirs).await, baseline);
}

/// A connection that is open and held, waiting for the server to close it.
async fn wait_closed(mut stream: TcpStream, deadline: tokio::time::Instant) -> Option<Instant> {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// A slowloris: a request head that never ends, one byte every 500 ms. Returns how long the
/// server kept it, or `None` if it still did at `give_up`.
async fn slowloris(addr: String, give_up: Duration) -> Option<Duration> {
    let stream = TcpStream::connect(&addr).await.expect("connects");
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let head = format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").into_bytes();
    let mut sent = 0usize;
    let mut buf = [0u8; 256];
    while started.elapsed() < give_up {
        tokio::select! {
            read = read.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                if write.write_all(&[byte]).await.is_err() {
                    return Some(started.elapsed());
                }
                sent += 1;
            }
        }
    }
    None
}

/// 3. 2,000 TCP connections that never send a byte, and a slowloris: the server holds few
///    descriptors, serves an authorized client meanwhile, and closes the idle sockets within
///    about 10 s. Before the fix all 2,000 were held 20 s later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_and_a_slowloris_hold_few_descriptors_and_are_closed() {
    const IDLE: usize = 2_000;
    const DESCRIPTOR_LIMIT: usize = 400;
    let _serial = SERIAL.lock().await;
    raise_own_descriptor_limit(8_192);
    let server = LocalServer::start(Some(&settings(json!({}))), &[]);
    let pid = server.pid();
    let dirs = [server.data_dir.as_path(), server.download_dir.as_path()];
    let mut admin = Client::connect(&server.url).await;
    let baseline = prepare(&mut admin, &dirs).await;
    let descriptors_before = descriptors(pid);

    // The server's descriptors, sampled every 20 ms while the attack lasts.
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_descriptors = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak_descriptors.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(descriptors(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let addr = server.addr();
    let opening = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(&addr).await.expect("connects"));
    }
    let opened = Instant::now();
    let open_time = opened - opening;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut watchers = JoinSet::new();
    for stream in idle {
        watchers.spawn(wait_closed(stream, deadline));
    }
    // The slowloris comes last, so that no newer idle socket pushes it out: its own slowness
    // must end it.
    let slow = tokio::spawn(slowloris(addr.clone(), Duration::from_secs(15)));

    // Meanwhile an authorized client connects and is served.
    let asked = Instant::now();
    let mut late = tokio::time::timeout(Duration::from_secs(5), Client::connect(&server.url))
        .await
        .expect("an authorized client connects within 5 s beside 2,000 idle sockets");
    tokio::time::timeout(Duration::from_secs(5), late.ok("task.list", Value::Null))
        .await
        .expect("and is answered within 5 s");
    let served_in = asked.elapsed();
    let during = descriptors(pid);

    let mut closed_at = Vec::with_capacity(IDLE);
    while let Some(closed) = watchers.join_next().await {
        closed_at.push(closed.expect("a watcher"));
    }
    let slow_held = slow.await.expect("the slowloris");
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak_descriptors.load(Ordering::Relaxed);
    let still_open = closed_at.iter().filter(|c| c.is_none()).count();
    let at_once = closed_at
        .iter()
        .flatten()
        .filter(|c| c.saturating_duration_since(opened) < Duration::from_secs(1))
        .count();
    let last_closed = closed_at
        .iter()
        .flatten()
        .map(|c| c.saturating_duration_since(opened))
        .max();
    println!(
        "idle sockets: {IDLE} opened in {open_time:.1?}; server descriptors {descriptors_before} \
         before, {during} while the authorized client was served (in {served_in:.0?}), peak \
         {peak}; {at_once} closed within 1 s, the last {last_closed:.1?} after the last was \
         opened, {still_open} still open after 15 s; slowloris held {slow_held:.1?}"
    );
    assert!(
        peak < DESCRIPTOR_LIMIT,
        "the server held {peak} descriptors under {IDLE} idle sockets"
    );
    assert_eq!(still_open, 0, "idle sockets the server never closed");
    assert!(
        last_closed.is_some_and(|t| t <= Duration::from_secs(11)),
        "the idle sockets were closed after {last_closed:?}"
    );
    assert!(
        slow_held.is_some_and(|t| t <= Duration::from_secs(10)),
        "the slowloris was held {slow_held:?}"
    );
    assert_eq!(snapshot(&mut admin, &dirs).await, baseline);
}

/// 4. A torrent of 3,000 files downloads when the server starts with a soft descriptor limit
///    of 1,024 (a stock desktop's): Magnetar raises it to the hard limit. Before the fix the
///    soft limit stayed, librqbit opened every file, and the task failed with "Too many open
///    files".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_of_3000_files_downloads_under_a_soft_limit_of_1024() {
    const FILES: usize = 3_000;
    let _serial = SERIAL.lock().await;
    // The seeder runs in this process and opens every file too.
    raise_own_descriptor_limit(8_192);
    let names: Vec<String> = (0..FILES)
        .map(|i| format!("d{:02}/f{i:04}.bin", i / 100))
        .collect();
    let torrent = TestTorrent::build(TorrentSpec {
        name: "three-thousand",
        files: names.iter().map(|name| (name.as_str(), 1024)).collect(),
        single: false,
        piece_length: 16 * 1024,
        seed: 21,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start(&torrent).await;
    let server = LocalServer::start(None, &["prlimit", "--nofile=1024:20000", "--"]);
    let pid = server.pid();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");

    let mut client = Client::connect(&server.url).await;
    let started = Instant::now();
    client.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    let id = torrent.info_hash.clone();
    let deadline = started + Duration::from_secs(55);
    let summary = loop {
        let summary = client.summary(&id).await;
        match summary["state"].as_i64() {
            Some(2 | 3) => break summary,
            Some(5) => panic!("the download failed: {summary}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "not complete in 55 s: {summary}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();
    torrent.assert_downloaded(&server.download_dir);
    let stderr = server.stderr.lock().unwrap().clone();
    let raised = stderr
        .lines()
        .find(|line| line.contains("open-file limit"))
        .unwrap_or("")
        .to_owned();
    println!(
        "{FILES} files ({} bytes) downloaded in {took:.1?}; server's {open_files}; log: {raised}",
        summary["total_bytes"]
    );
    assert!(
        raised.contains("raised the open-file limit") && raised.contains("1024"),
        "the log does not say the limit was raised from 1,024:\n{stderr}"
    );
    assert!(
        open_files.starts_with("Max open files 20000"),
        "the server's soft limit: {open_files}"
    );
    drop(seeder);
}

/// 5. With `loopback_needs_token`, a client on this machine needs the token too; with it, it
///    has full rights. Before the fix the setting was unknown and the server refused to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_needs_token_asks_local_clients_for_it() {
    let _serial = SERIAL.lock().await;
    let server = LocalServer::start(Some(&settings(json!({"loopback_needs_token": true}))), &[]);
    let dirs = [server.data_dir.as_path(), server.download_dir.as_path()];
    let mut admin = connect_with(&server.url, Some(&bearer())).await;
    let baseline = prepare(&mut admin, &dirs).await;

    for (case, authorization) in [("no token", None), ("a wrong token", Some("Bearer wrong"))] {
        let mut local = connect_with(&server.url, authorization).await;
        let response = local.call(SET_LIMITS, attack_limits()).await;
        assert_eq!(response["error"], -6, "{case} from 127.0.0.1: {response}");
        let mut local = connect_with(&server.url, authorization).await;
        let response = local
            .call(
                "task.remove",
                json!({"task_id": KEPT, "delete_files": true}),
            )
            .await;
        assert_eq!(response["error"], -6, "{case} from 127.0.0.1: {response}");
    }
    assert_eq!(snapshot(&mut admin, &dirs).await, baseline);

    // With the token, a local client may do everything, admin methods included.
    admin
        .ok(
            SET_LIMITS,
            json!({"download_bps": 5000, "upload_bps": 6000}),
        )
        .await;
    let info = admin.ok("session.info", Value::Null).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(5000), json!(6000))
    );
}

/// 6. The data folder the server makes (it holds the token, the TLS key and every task) is
///    readable by its owner only. Before the fix it was made with the umask's 0755.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = SERIAL.lock().await;
    let server = LocalServer::start(None, &[]);
    let mode = std::fs::metadata(&server.data_dir)
        .expect("the server made its data folder")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "the data folder's mode is {:o}",
        mode & 0o777
    );
}
