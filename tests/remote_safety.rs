//! What `magnetar remote` must not do, checked on the real binary.
//!
//! Tokens stay home: a fake server on a non-loopback address (this side of a veth link the test
//! makes; needs root and iproute2) records every WebSocket upgrade request. The local token file
//! goes only to loopback; a token the user gives crosses plain `ws://` to another host only with
//! `--insecure`. A fake server on 127.0.0.1 first shows that the CLI does read that token file,
//! so that its absence elsewhere means something.

mod support;

use std::process::Output;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::netns::RemoteHost;
use tokio::net::TcpListener;
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
    let host = RemoteHost::create();
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
