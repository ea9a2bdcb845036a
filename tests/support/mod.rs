//! Shared helpers for the integration tests: a real Magnetar server on 127.0.0.1:0 in temporary
//! folders, a real WebSocket client, real peers (a second librqbit session, aria2c) and a real
//! tracker (opentracker). DHT, UPnP and LSD are off everywhere; all traffic stays on loopback.
#![allow(dead_code)]

pub mod browser;
pub mod media;
pub mod metadata_peer;
pub mod netns;
pub mod peers;
pub mod torrent;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use magnetar::startup::{self, Overrides, RunConfig, Running};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// Reads one line from a child's output, or panics after [`PATIENCE`] instead of hanging the
/// suite (a child that never prints is a failure, not a wait). Returns the reader for the rest.
pub fn read_line_within<R: std::io::Read + Send + 'static>(
    mut reader: std::io::BufReader<R>,
) -> (String, std::io::BufReader<R>) {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send((result, reader));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok((Ok(line), reader)) => (line, reader),
        Ok((Err(e), _)) => panic!("cannot read the child's output: {e}"),
        Err(_) => panic!("the child printed no line within {PATIENCE:?}"),
    }
}

/// The real `magnetar serve` binary on 127.0.0.1 (port 0), DHT, UPnP and LSD off, in these
/// folders; the caller adds its own settings and pipes.
pub fn serve_command(data_dir: &Path, download_dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_magnetar"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--peer-port", "0"])
        .args(["--no-dht", "--no-upnp", "--no-lsd"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--download-dir")
        .arg(download_dir);
    command
}

/// Whether this process runs as root. When not, prints one line saying that the test
/// (`what` it needs root for) is skipped: the caller then returns. CI runs as root, so these
/// tests run there.
pub fn root_or_skip(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root ({what})");
    }
    root
}

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The one way a test waits for a condition: calls `check` every `every` until it returns
/// `Ok`, and panics naming `what` (and the last `Err`, what it saw instead) once `patience` has
/// passed. Every polling loop of the suite goes through it, so none can spin forever.
pub async fn poll_until<T, E: std::fmt::Display>(
    what: &str,
    patience: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {patience:?}; the last look saw: {seen}")
            }
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

/// [`poll_until`] for code outside an async runtime (a plain thread, a `#[test]`).
pub fn poll_until_blocking<T, E: std::fmt::Display>(
    what: &str,
    patience: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match check() {
            Ok(value) => return value,
            Err(seen) if std::time::Instant::now() >= deadline => {
                panic!("{what}: not within {patience:?}; the last look saw: {seen}")
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// The real `magnetar serve` binary (see [`serve_command`]) in temporary folders, its log
/// (stderr, at its default level) kept line by line so that a test can see what the server
/// did: a retry, a restart. Killed on drop.
pub struct ServeProcess {
    pub url: String,
    pub download_dir: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _child: peers::ChildGuard,
    _root: tempfile::TempDir,
}

impl ServeProcess {
    pub fn start() -> ServeProcess {
        use std::io::BufRead;
        let root = tempfile::tempdir().unwrap();
        let download_dir = root.path().join("downloads");
        let mut child = peers::ChildGuard::spawn(
            serve_command(&root.path().join("data"), &download_dir)
                .env_remove("MAGNETAR_LOG")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped()),
            "magnetar serve",
        );
        let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        // Read to the end, so that a full pipe never blocks the server.
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                kept.lock().unwrap().push(line);
            }
        });
        let (line, _) = read_line_within(stdout);
        ServeProcess {
            url: url_in_ready_line(&line),
            download_dir,
            log,
            _child: child,
            _root: root,
        }
    }

    /// The server's process id (to stop and continue it with signals).
    pub fn pid(&self) -> u32 {
        self._child.0.id()
    }

    /// The log lines so far that contain every one of `words`.
    pub fn log_lines(&self, words: &[&str]) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|line| words.iter().all(|w| line.contains(w)))
            .cloned()
            .collect()
    }

    /// Waits until the log holds at least `count` lines with every one of `words`.
    pub async fn wait_log(&self, words: &[&str], count: usize, patience: Duration) {
        poll_until(
            &format!("{count} log line(s) with {words:?}"),
            patience,
            Duration::from_millis(100),
            async || {
                let found = self.log_lines(words).len();
                if found >= count {
                    Ok(())
                } else {
                    Err(format!("{found} such lines"))
                }
            },
        )
        .await
    }
}

/// Logs go to the test's stderr when MAGNETAR_TEST_LOG is set (e.g. `=debug`).
pub fn init_logging() {
    if let Ok(filter) = std::env::var("MAGNETAR_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// A Magnetar server running in this process.
pub struct TestServer {
    pub running: Option<Running>,
    pub url: String,
    pub data_dir: PathBuf,
    pub download_dir: PathBuf,
    _root: Option<tempfile::TempDir>,
}

/// Overrides for a test server: port 0, loopback, DHT/UPnP/LSD off.
pub fn test_overrides(data_dir: &Path, download_dir: &Path) -> Overrides {
    Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        download_dir: Some(download_dir.to_owned()),
        data_dir: Some(data_dir.to_owned()),
        peer_port: Some(0),
        token: None,
        no_dht: true,
        no_upnp: true,
        no_lsd: true,
        no_seed: false,
        tls_self_signed: false,
    }
}

impl TestServer {
    /// A server in fresh temporary folders.
    pub async fn start() -> TestServer {
        let root = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_in(root.path()).await;
        server._root = Some(root);
        server
    }

    /// A server whose folders are `root/data` and `root/downloads` (reused across restarts).
    pub async fn start_in(root: &Path) -> TestServer {
        TestServer::start_with(root, |_| {}).await
    }

    /// Like [`start_in`], with a chance to change the overrides.
    pub async fn start_with(root: &Path, change: impl FnOnce(&mut Overrides)) -> TestServer {
        init_logging();
        let data_dir = root.join("data");
        let download_dir = root.join("downloads");
        let mut overrides = test_overrides(&data_dir, &download_dir);
        change(&mut overrides);
        let config = RunConfig::resolve(overrides).expect("config");
        let running = startup::start(&config).await.expect("server starts");
        TestServer {
            url: running.url.clone(),
            running: Some(running),
            data_dir,
            download_dir,
            _root: None,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url).await
    }

    pub fn http_base(&self) -> String {
        self.url.replace("ws://", "http://").replace("/ws", "")
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client that keeps the events it sees while waiting for responses.
pub struct Client {
    pub socket: Socket,
    pub events: VecDeque<Value>,
    pub next_id: u64,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (socket, _) = connect_async(url).await.expect("websocket connects");
        Client {
            socket,
            events: VecDeque::new(),
            next_id: 0,
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.socket
            .send(Message::Text(text.into().into()))
            .await
            .expect("send");
    }

    /// The next message of any kind, parsed; panics after [`PATIENCE`].
    pub async fn next_raw(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.socket.next())
            .await
            .expect("a message in time")
            .expect("connection still open")
            .expect("no websocket error")
    }

    /// The next JSON text message.
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next_raw().await {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Waits for the response with `id`, keeping events that arrive first.
    pub async fn response_to(&mut self, id: &Value) -> Value {
        loop {
            let message = self.next_json().await;
            if message.get("name").is_some() && message.get("data").is_some() {
                self.events.push_back(message);
            } else if message.get("id") == Some(id) {
                return message;
            } else {
                panic!("unexpected message while waiting for {id}: {message}");
            }
        }
    }

    /// Sends a request and returns the whole response.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(format!("r{}", self.next_id));
        let request = json!({"id": id, "method": method, "params": params});
        self.send_text(request.to_string()).await;
        self.response_to(&id).await
    }

    /// Sends a request and returns its result, panicking on an error response.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert_eq!(response["error"], 0, "{method} failed: {response}");
        response["result"].clone()
    }

    /// Adds a .torrent (as base64), expecting success.
    pub async fn add_torrent(&mut self, torrent: &torrent::TestTorrent) {
        let params = json!({"type": "torrent", "uri": torrent.base64()});
        assert_eq!(self.ok("task.add", params).await, Value::Null);
    }

    /// Adds a magnet link (or bare info hash), expecting success.
    pub async fn add_magnet(&mut self, uri: &str) {
        let params = json!({"type": "magnet", "uri": uri});
        assert_eq!(self.ok("task.add", params).await, Value::Null);
    }

    /// Sends a request and returns its error code, checking the error response's shape.
    pub async fn error_code(&mut self, method: &str, params: Value) -> i64 {
        let response = self.call(method, params).await;
        assert_error_shape(&response);
        response["error"].as_i64().unwrap()
    }

    /// Waits for an event named `name` whose data satisfies `pred` (earlier ones are kept).
    pub async fn wait_event(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(pos) = self
            .events
            .iter()
            .position(|e| e["name"] == name && pred(&e["data"]))
        {
            return self.events.remove(pos).unwrap();
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.next_json())
                .await
                .unwrap_or_else(|_| {
                    let last: Vec<&Value> = self.events.iter().rev().take(5).collect();
                    panic!(
                        "no {name} event in time; {} other events, the last: {last:?}",
                        self.events.len()
                    )
                });
            if message["name"] == name && pred(&message["data"]) {
                return message;
            }
            if message.get("name").is_some() {
                self.events.push_back(message);
            }
        }
    }

    /// Waits until a `task.stateUpdated` event brings `task_id` to `state`.
    pub async fn wait_state(&mut self, task_id: &str, state: i64) -> Value {
        self.wait_event("task.stateUpdated", |d| {
            d["task_id"] == task_id && d["new_state"] == state
        })
        .await
    }

    /// The task's summary from `task.list`.
    pub async fn summary(&mut self, task_id: &str) -> Value {
        let list = self.ok("task.list", Value::Null).await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == task_id)
            .cloned()
            .unwrap_or_else(|| panic!("{task_id} not in task.list: {list}"))
    }

    /// Polls `task.list` until the task reaches `state` (for when the event may be long gone).
    pub async fn poll_state(&mut self, task_id: &str, state: i64) -> Value {
        let what = format!("{task_id} in state {state}");
        self.poll_summary(task_id, &what, |s| s["state"] == state)
            .await
    }

    /// Polls `task.list` until the task's row satisfies `pred`; returns that row.
    pub async fn poll_summary(
        &mut self,
        task_id: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        poll_until(what, PATIENCE, Duration::from_millis(100), async || {
            let summary = self.summary(task_id).await;
            if pred(&summary) {
                Ok(summary)
            } else {
                Err(summary)
            }
        })
        .await
    }

    /// Polls `task.list` until the task has uploaded at least `bytes`; returns its row.
    pub async fn poll_ul_bytes(&mut self, task_id: &str, bytes: u64) -> Value {
        let what = format!("{task_id} uploading {bytes} bytes");
        self.poll_summary(task_id, &what, |s| {
            s["ul_bytes"].as_u64().unwrap_or(0) >= bytes
        })
        .await
    }

    /// `task.getStatus` of a task.
    pub async fn status(&mut self, task_id: &str) -> Value {
        self.ok("task.getStatus", json!({"task_id": task_id})).await
    }

    /// All state transitions of `task_id` seen so far, in order, as (old, new).
    pub fn transitions(&self, task_id: &str) -> Vec<(i64, i64)> {
        self.events
            .iter()
            .filter(|e| e["name"] == "task.stateUpdated" && e["data"]["task_id"] == task_id)
            .map(|e| {
                (
                    e["data"]["old_state"].as_i64().unwrap(),
                    e["data"]["new_state"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

/// The `ws://...` (or `wss://...`) URL in the one line `magnetar serve` prints when ready.
pub fn url_in_ready_line(line: &str) -> String {
    line.split_whitespace()
        .find(|word| {
            (word.starts_with("ws://") || word.starts_with("wss://")) && word.ends_with("/ws")
        })
        .unwrap_or_else(|| panic!("no URL in the ready line {line:?}"))
        .to_owned()
}

/// How many of a `task.getStatus` result's pieces we hold, and how many there are.
pub fn pieces_held(status: &Value) -> (usize, usize) {
    let pieces = status["pieces"].as_array().expect("pieces is an array");
    (pieces.iter().filter(|p| **p == true).count(), pieces.len())
}

/// An error response has `result: null`, a negative code and a non-empty message.
pub fn assert_error_shape(response: &Value) {
    let code = response["error"].as_i64().expect("error is an integer");
    assert!(code < 0, "expected an error: {response}");
    assert!(
        response["result"].is_null(),
        "error with a result: {response}"
    );
    assert!(
        response["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without a message: {response}"
    );
}
