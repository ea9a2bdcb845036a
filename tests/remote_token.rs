//! A client on another host (a network namespace made by the test, joined by a veth pair) must
//! present the token that `magnetar serve` generated when asked to listen on a non-loopback
//! address. Without it every request gets -6 and no events arrive.

mod support;

use std::io::{BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::netns::{connect_with, RemoteHost};
use support::peers::ChildGuard;
use support::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_clients_need_the_generated_token() {
    let Some(host) = RemoteHost::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut guard = ChildGuard::spawn(
        Command::new("ip")
            .args(["netns", "exec", &host.netns])
            .arg(env!("CARGO_BIN_EXE_magnetar"))
            .args(["serve", "--listen", &format!("{}:0", host.server_ip)])
            .args(["--peer-port", "0", "--no-dht", "--no-upnp", "--no-lsd"])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--download-dir")
            .arg(dir.path().join("downloads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "magnetar serve in a namespace",
    );
    let stdout = guard.0.stdout.take().unwrap();
    let mut stderr = guard.0.stderr.take().unwrap();
    let (line, _stdout) = support::read_line_within(BufReader::new(stdout));
    let url = support::url_in_ready_line(&line);
    assert!(url.contains(&host.server_ip), "{url}");
    let token = std::fs::read_to_string(data_dir.join("token")).expect("token saved");
    let token = token.trim();
    assert!(token.len() >= 32, "a weak token: {token:?}");

    // No token, or a wrong one: connected, but every request is refused with -6.
    for authorization in [None, Some("Bearer wrong-token")] {
        let mut client = connect_with(&url, authorization).await;
        let response = client.call("task.list", Value::Null).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], -6);
        assert!(client.events.is_empty());
    }
    // The token in the header or in the query string: full access.
    let mut by_header = connect_with(&url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(by_header.ok("task.list", Value::Null).await, json!([]));
    let mut by_query = Client::connect(&format!("{url}?token={token}")).await;
    let info = by_query.ok("session.info", Value::Null).await;
    assert_eq!(info["listen_addresses"], json!([url]));

    // An unauthorized client sees no events while an authorized one adds a task.
    let mut outsider = connect_with(&url, None).await;
    by_header
        .add_magnet("cccccccccccccccccccccccccccccccccccccccc")
        .await;
    by_query.wait_event("task.created", |_| true).await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), outsider.next_json()).await;
    assert!(quiet.is_err(), "an unauthorized client received {quiet:?}");

    // The generated token was printed once, on stderr (stdout holds only the URL line).
    drop(guard);
    let mut printed = String::new();
    stderr.read_to_string(&mut printed).unwrap();
    assert_eq!(printed.matches(token).count(), 1, "{printed}");
}
