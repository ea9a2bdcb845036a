//! A client that stops reading must not slow the engine or other clients, nor make the server
//! buffer without bound: once it falls behind the event bus it gets a `session.resync` with the
//! whole task list, and its connection keeps working.

mod support;

use serde_json::{json, Value};
use support::{Client, TestServer};
use tokio::net::TcpSocket;
use tokio_tungstenite::client_async;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_resynced_and_others_carry_on() {
    // The smallest outbound queue allowed, so that a few megabytes of events overflow it well
    // within the 30 s a stalled client is given before it is dropped.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("data")).unwrap();
    std::fs::write(
        root.path().join("data/settings.json"),
        r#"{"max_queue_bytes": 65536}"#,
    )
    .unwrap();
    let server = TestServer::start_in(root.path()).await;
    // A tiny receive window, so that the server's writes to this client block early.
    let addr = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws");
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (ws, _) = client_async(server.url.as_str(), stream).await.unwrap();
    let mut stalled = Client {
        socket: ws,
        events: Default::default(),
        next_id: 0,
    };

    // Another client generates many large events (add + remove of tasks with long names that
    // fail at once): far more than the socket buffers and the client's queue can hold.
    let mut busy = server.client().await;
    let long_name = "n".repeat(40_000);
    for i in 0..150u32 {
        let hash = format!("{i:040x}");
        let uri = format!("magnet:?xt=urn:btih:{hash}&dn={long_name}");
        busy.add_magnet(&uri).await;
        busy.ok(
            "task.remove",
            json!({"task_id": hash, "delete_files": false}),
        )
        .await;
        busy.events.clear();
    }
    assert_eq!(busy.ok("task.list", Value::Null).await, json!([]));

    // The stalled client wakes up: somewhere in its stream is a resync, and it still works.
    let resync = stalled.wait_event("session.resync", |_| true).await;
    assert!(resync["data"]["tasks"].is_array(), "{resync}");
    assert_eq!(stalled.ok("task.list", Value::Null).await, json!([]));
}
