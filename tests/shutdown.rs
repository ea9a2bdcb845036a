//! The real `magnetar serve` binary: the one stdout line with the URL, and a graceful exit 0 on
//! SIGTERM and Ctrl-C (SIGINT) that closes every client with 1001.

mod support;

use std::io::BufReader;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use support::Client;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

async fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::peers::ChildGuard::spawn(
        support::serve_command(&dir.path().join("data"), &dir.path().join("downloads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "magnetar serve",
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (line, mut stdout) = support::read_line_within(stdout);
    let url = support::url_in_ready_line(&line);
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");

    let mut client = Client::connect(&url).await;
    assert_eq!(client.ok("task.list", Value::Null).await, json!([]));

    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let close = tokio::time::timeout(Duration::from_secs(15), client.socket.next())
        .await
        .expect("closed in time");
    match close {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a 1001 close frame, got {other:?}"),
    }
    let exit = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "stdout must hold exactly one line");
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    stops_cleanly_on("TERM").await;
}

#[tokio::test]
async fn ctrl_c_shuts_down_cleanly() {
    stops_cleanly_on("INT").await;
}
