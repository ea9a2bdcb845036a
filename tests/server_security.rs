//! The server's front door: Host and Origin checks, the connection cap, the UI page, `/ws`
//! without an upgrade.

mod support;

use serde_json::{json, Value};
use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Tries a WebSocket upgrade with extra headers; returns the HTTP status of a refusal, or 101.
async fn upgrade_status(url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// A raw HTTP/1.1 GET; returns the status line and the body.
async fn http_get(server: &TestServer, path: &str, host: &str) -> (String, String) {
    let response = http_raw(server, path, host).await;
    let status = response.lines().next().unwrap_or("").to_owned();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// A raw HTTP/1.1 GET; returns the whole response, headers included.
async fn http_raw(server: &TestServer, path: &str, host: &str) -> String {
    let addr = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn host_and_origin_are_checked() {
    let server = TestServer::start().await;
    let url = &server.url;
    let port = url.rsplit(':').next().unwrap().trim_end_matches("/ws");
    let own_origin = format!("http://127.0.0.1:{port}");
    assert_eq!(upgrade_status(url, &[]).await, 101);
    assert_eq!(
        upgrade_status(url, &[("Origin", "tauri://localhost")]).await,
        101
    );
    assert_eq!(
        upgrade_status(url, &[("Origin", "http://tauri.localhost")]).await,
        101
    );
    assert_eq!(upgrade_status(url, &[("Origin", &own_origin)]).await, 101);
    assert_eq!(
        upgrade_status(url, &[("Origin", "http://evil.example")]).await,
        403
    );
    assert_eq!(upgrade_status(url, &[("Origin", "null")]).await, 403);
    assert_eq!(
        upgrade_status(url, &[("Host", &format!("evil.example:{port}"))]).await,
        403
    );
    assert_eq!(
        upgrade_status(url, &[("Host", &format!("localhost:{port}"))]).await,
        101
    );
    // The same upgrade works on "/" too.
    let root_url = url.trim_end_matches("ws");
    assert_eq!(upgrade_status(root_url, &[]).await, 101);

    // The web UI over plain HTTP, with the same Host rule.
    let (status, body) = http_get(&server, "/", &format!("127.0.0.1:{port}")).await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("Magnetar"));
    let (status, _) = http_get(&server, "/", "rebind.evil.example").await;
    assert!(status.contains("403"), "{status}");
    // The refusal cannot be framed either.
    let refusal = http_raw(&server, "/", "rebind.evil.example")
        .await
        .to_lowercase();
    assert!(
        refusal.contains("frame-ancestors 'none'")
            && refusal.contains("x-content-type-options: nosniff"),
        "{refusal}"
    );
    let (status, _) = http_get(&server, "/ws", "localhost").await;
    assert!(status.contains("426"), "{status}");
    let (status, _) = http_get(&server, "/nothing-here", "localhost").await;
    assert!(status.contains("404"), "{status}");
}

#[tokio::test]
async fn connections_are_capped() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("data")).unwrap();
    std::fs::write(
        root.path().join("data/settings.json"),
        r#"{"max_connections": 2}"#,
    )
    .unwrap();
    let server = TestServer::start_in(root.path()).await;
    let mut first = server.client().await;
    let _second = server.client().await;
    assert_eq!(upgrade_status(&server.url, &[]).await, 503);
    // The first two still work; a slot frees up when one leaves.
    assert_eq!(first.ok("task.list", Value::Null).await, json!([]));
    drop(first);
    support::poll_until(
        "a closed connection giving its slot back",
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(100),
        async || match upgrade_status(&server.url, &[]).await {
            101 => Ok(()),
            status => Err(status),
        },
    )
    .await;
}

/// 200 idle clients (connected, never reading or sending) must not stop a new client from being
/// served, nor from getting events: with the default cap they take 200 of 1,024 slots, and each
/// costs a task and a shared view of each event, not a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_idle_clients_do_not_lock_anyone_out() {
    let server = TestServer::start().await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(server.client().await);
    }
    let mut fresh = server.client().await;
    assert_eq!(
        fresh.ok("task.list", Value::Null).await,
        serde_json::json!([])
    );
    let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=idle-test";
    fresh.add_magnet(magnet).await;
    fresh
        .wait_event("task.created", |d| {
            d["id"] == "0123456789abcdef0123456789abcdef01234567"
        })
        .await;
    // And the idle ones are still connected and answer when they finally speak.
    let last = idle.last_mut().unwrap();
    assert_eq!(
        last.ok("task.list", Value::Null).await[0]["name"],
        "idle-test"
    );
    drop(idle);
}
