//! What `magnetar remote` must not do, checked on the real binary.
//!
//! Tokens stay home: a fake server on a non-loopback address (this side of a veth link the test
//! makes; needs root and iproute2) records every WebSocket upgrade request. The local token file
//! goes only to loopback; a token the user gives crosses plain `ws://` to another host only with
//! `--insecure`. A fake server on 127.0.0.1 first shows that the CLI does read that token file,
//! so that its absence elsewhere means something.
//!
//! Server strings are shown, not obeyed: a torrent named with terminal escapes (OSC 52 writes
//! the clipboard, CSI 2J clears the screen), bidi overrides and C1 controls in its file names,
//! creator and comment, added to a real server: every command prints no raw control byte.

mod support;

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::netns::RemoteHost;
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

const SAVED: &str = "saved-token-of-this-machine-0123456789abcdef";
const GIVEN: &str = "given-token-0123456789abcdef";

/// One upgrade request as the server saw it: its target, then each header as `name: value`.
type Recorded = Vec<String>;

/// A WebSocket server on `ip` (port 0) that records every upgrade request and answers every
/// API request with an empty result; its URL and its records.
async fn fake_server(ip: &str) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let records = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let records = records.clone();
            tokio::spawn(async move {
                // The callback's shape (and its large error type) is tungstenite's.
                #[allow(clippy::result_large_err)]
                let record = |request: &Request, response: Response| {
                    let mut lines = vec![request.uri().to_string()];
                    for (name, value) in request.headers() {
                        lines.push(format!(
                            "{name}: {}",
                            String::from_utf8_lossy(value.as_bytes())
                        ));
                    }
                    records.lock().unwrap().push(lines);
                    Ok(response)
                };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, record).await
                else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        let request: Value = serde_json::from_str(&text).unwrap_or_default();
                        let answer = json!({"id": request["id"], "error": 0, "result": []});
                        let _ = socket.send(Message::Text(answer.to_string().into())).await;
                    }
                }
            });
        }
    });
    (url, seen)
}

/// `magnetar remote` with `args`, with this machine's token file in a data folder of its own
/// (XDG_DATA_HOME) and MAGNETAR_TOKEN as given (else unset).
async fn remote(xdg: &std::path::Path, env_token: Option<&str>, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_magnetar"));
    command
        .arg("remote")
        .args(args)
        .env("XDG_DATA_HOME", xdg.join("data"))
        .env("XDG_CONFIG_HOME", xdg.join("config"))
        .env("HOME", xdg)
        .env_remove("MAGNETAR_TOKEN")
        .env_remove("MAGNETAR_URL");
    if let Some(token) = env_token {
        command.env("MAGNETAR_TOKEN", token);
    }
    let output = tokio::time::timeout(support::PATIENCE, command.output())
        .await
        .expect("magnetar remote ends in time")
        .expect("magnetar remote runs");
    eprintln!(
        "magnetar remote {args:?}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The records of the last upgrade request, or panics if none came.
fn last(seen: &Mutex<Vec<Recorded>>) -> Recorded {
    seen.lock()
        .unwrap()
        .last()
        .cloned()
        .expect("an upgrade request")
}

/// No Authorization header, no token in the target, no token anywhere in the request.
fn carries_no_token(request: &Recorded) -> bool {
    !request.iter().any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("authorization:")
            || lower.contains("token=")
            || line.contains(SAVED)
            || line.contains(GIVEN)
    })
}

/// Refused before connecting: exit 2, one line on stderr saying why and what to do.
fn refused(output: &Output) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for word in ["ws://", "wss://", "--fingerprint", "--insecure"] {
        assert!(stderr.contains(word), "{word} not in {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stay_home() {
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("data").join("magnetar").join("token");
    std::fs::create_dir_all(token_file.parent().unwrap()).unwrap();
    std::fs::write(&token_file, format!("{SAVED}\n")).unwrap();
    let xdg = home.path();

    // On loopback the token file is sent: this is the file the CLI reads.
    let (local_url, local_seen) = fake_server("127.0.0.1").await;
    let output = remote(xdg, None, &["--url", &local_url, "list"]).await;
    assert!(output.status.success(), "{output:?}");
    assert!(
        last(&local_seen).contains(&format!("authorization: Bearer {SAVED}")),
        "{:?}",
        last(&local_seen)
    );

    // Another host over ws://: the token file is not sent; the command still runs.
    let Some(host) = RemoteHost::create() else {
        return;
    };
    let (url, seen) = fake_server(&host.local_ip).await;
    let output = remote(xdg, None, &["--url", &url, "list"]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let request = last(&seen);
    assert!(carries_no_token(&request), "a token went out: {request:?}");

    // A token given by --token, by MAGNETAR_TOKEN or in the URL: refused, nothing sent.
    let with_query = format!("{url}?token={GIVEN}");
    for (env_token, args) in [
        (None, vec!["--url", &url, "--token", GIVEN, "list"]),
        (Some(GIVEN), vec!["--url", &url, "list"]),
        (None, vec!["--url", &with_query, "list"]),
    ] {
        refused(&remote(xdg, env_token, &args).await);
        assert_eq!(seen.lock().unwrap().len(), 1, "it connected: {args:?}");
    }

    // With --insecure the given token is sent (and still never the saved one).
    let args = ["--url", &url, "--token", GIVEN, "--insecure", "list"];
    assert!(remote(xdg, None, &args).await.status.success());
    let request = last(&seen);
    assert!(
        request.contains(&format!("authorization: Bearer {GIVEN}")),
        "{request:?}"
    );
    assert!(!request.iter().any(|line| line.contains(SAVED)));
}

const EVIL_NAME: &str = "\x1b]52;c;SGVsbG8=\x07evil\x1b[2J\u{202e}gpj.exe\x7f";
const EVIL_FILE: &str = "a\x1b[31m\u{9b}2J.bin";
const EVIL_COMMENT: &str = "line one\nline two\x1b]0;title\x07";
const EVIL_CREATOR: &str = "maker\u{2066}\u{85}\r";

/// No byte below 0x20 but newline and tab, no DEL, no C1 and no bidi override or isolate.
fn assert_clean(what: &str, bytes: &[u8]) {
    if let Some(b) = bytes
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
    {
        panic!(
            "{what} printed the raw byte {b:#04x}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let text = String::from_utf8_lossy(bytes);
    let bad = |c: char| matches!(c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    assert!(!text.chars().any(bad), "{what} printed {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_strings_are_printed_escaped() {
    let torrent = TestTorrent::build(TorrentSpec {
        name: EVIL_NAME,
        files: vec![(EVIL_FILE, 1000), ("b\u{202e}nib.exe", 2000)],
        single: false,
        comment: Some(EVIL_COMMENT),
        created_by: Some(EVIL_CREATOR),
        seed: 71,
        ..Default::default()
    });
    let server = TestServer::start().await;
    let url = server.url.clone();
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path();

    // watch, started first and seen to print an event, then sees the torrent arrive.
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_magnetar"))
        .args(["remote", "--url", &url, "watch"])
        .env("XDG_DATA_HOME", xdg)
        .env_remove("MAGNETAR_TOKEN")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("watch starts");
    let mut watched = lines_of(watch.stdout.take().unwrap());
    let mut client = server.client().await;
    let mut ready = false;
    for round in 1..=60u32 {
        client.add_magnet(&format!("{round:040x}")).await;
        if next_line_within(&mut watched, Duration::from_secs(1))
            .await
            .is_some_and(|line| String::from_utf8_lossy(&line).contains("task.created"))
        {
            eprintln!("watch printed its first event in round {round}");
            ready = true;
            break;
        }
    }
    assert!(ready, "watch printed no event");
    client.add_torrent(&torrent).await;
    let mut raw = Vec::new();
    loop {
        let line = next_line_within(&mut watched, support::PATIENCE)
            .await
            .expect("watch prints the new task");
        raw.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line);
        if text.contains(&torrent.info_hash[..8]) && text.contains("task.created") {
            break;
        }
    }
    assert_clean("watch", &raw);
    assert!(
        String::from_utf8_lossy(&raw).contains(r"\x1b]52;c;SGVsbG8=\x07evil\x1b[2J"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    drop(watch);

    // The tables and lines for people: everything shown, escaped.
    let id = torrent.info_hash.as_str();
    let shown = |output: &Output| String::from_utf8_lossy(&output.stdout).into_owned();
    for args in [
        vec!["list"],
        vec!["status", id],
        vec!["metadata", id],
        vec!["pause", id],
    ] {
        let mut full = vec!["--url", &url];
        full.extend_from_slice(&args);
        let output = remote(xdg, None, &full).await;
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_clean(&format!("{args:?}"), &output.stdout);
        assert_clean(&format!("{args:?} (stderr)"), &output.stderr);
        if args[0] != "pause" {
            let text = shown(&output);
            assert!(
                text.contains(r"\x1b]52;c;SGVsbG8=\x07evil\x1b[2J\u{202e}gpj.exe\x7f"),
                "{args:?}: {text}"
            );
        }
    }
    let status = shown(&remote(xdg, None, &["--url", &url, "status", id]).await);
    assert!(status.contains(r"a\x1b[31m\u{9b}2J.bin"), "{status}");
    let metadata = shown(&remote(xdg, None, &["--url", &url, "metadata", id]).await);
    assert!(
        metadata.contains(r"line one\x0aline two\x1b]0;title\x07"),
        "{metadata}"
    );
    assert!(metadata.contains(r"maker\u{2066}\u{85}\x0d"), "{metadata}");

    // --json: the same strings once parsed, and no raw control in the text either.
    for args in [vec!["list"], vec!["status", id], vec!["metadata", id]] {
        let mut full = vec!["--url", &url, "--json"];
        full.extend_from_slice(&args);
        let output = remote(xdg, None, &full).await;
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_clean(&format!("--json {args:?}"), &output.stdout);
        let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        if args[0] == "metadata" {
            assert_eq!(value["name"], EVIL_NAME);
            assert_eq!(value["comment"], EVIL_COMMENT);
            assert_eq!(value["creator"], EVIL_CREATOR);
            assert_eq!(value["files"][0]["path"], EVIL_FILE);
        }
        if args[0] == "list" {
            let row = value
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id)
                .cloned()
                .unwrap();
            assert_eq!(row["name"], EVIL_NAME);
        }
    }
}

/// A child's output, line by line (raw bytes, each with its newline), as it comes.
fn lines_of(stdout: tokio::process::ChildStdout) -> mpsc::UnboundedReceiver<Vec<u8>> {
    use tokio::io::AsyncBufReadExt;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line).await {
                Ok(n) if n > 0 && tx.send(line).is_ok() => continue,
                _ => return,
            }
        }
    });
    rx
}

/// The next line within `patience`, or None (also when the output has ended).
async fn next_line_within(
    lines: &mut mpsc::UnboundedReceiver<Vec<u8>>,
    patience: Duration,
) -> Option<Vec<u8>> {
    tokio::time::timeout(patience, lines.recv())
        .await
        .ok()
        .flatten()
}
