//! Bad input never hurts: each gets an error response (or a clean close for binary and
//! oversized frames), the connection stays usable where it can, other clients and the engine
//! carry on.

mod support;

use futures::SinkExt;
use serde_json::{json, Value};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_requests_get_errors_on_a_connection_that_stays_open() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let cases: Vec<(&str, Value, i64)> = vec![
        ("{", Value::Null, -3),
        ("", Value::Null, -3),
        ("[1,2,3]", Value::Null, -3),
        ("\"just a string\"", Value::Null, -3),
        ("42", Value::Null, -3),
        ("null", Value::Null, -3),
        (r#"{"method":"task.list"}"#, Value::Null, -3),
        (r#"{"id":{"a":1},"method":"task.list"}"#, Value::Null, -3),
        (r#"{"id":"m1"}"#, json!("m1"), -3),
        (r#"{"id":"m2","method":7}"#, json!("m2"), -3),
        (
            r#"{"id":"m3","method":"task.add","params":"torrent"}"#,
            json!("m3"),
            -2,
        ),
        (
            r#"{"id":"m4","method":"task.add","params":{"type":"torrent","uri":null}}"#,
            json!("m4"),
            -2,
        ),
        (
            r#"{"id":"m5","method":"task.getStatus","params":{"task_id":["x"]}}"#,
            json!("m5"),
            -2,
        ),
        (
            r#"{"id":"m6","method":"task.remove","params":{"task_id":"x","delete_files":"yes"}}"#,
            json!("m6"),
            -2,
        ),
        (
            r#"{"id":"m7","method":"task.pause","params":{"task_id":"not-a-task"}}"#,
            json!("m7"),
            -4,
        ),
        (r#"{"id":"m8","method":"","params":null}"#, json!("m8"), -1),
    ];
    for (text, id, code) in cases {
        c.send_text(text).await;
        let response = c.response_to(&id).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], code, "for {text:?}: {response}");
    }
    assert_eq!(c.ok("task.list", Value::Null).await, json!([]));
}

#[tokio::test]
async fn garbage_torrents_and_magnets_are_refused_and_nothing_else_is_touched() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let good = TestTorrent::build(TorrentSpec::default());
    good.write_content(&server.download_dir);
    c.add_torrent(&good).await;
    c.wait_state(&good.info_hash, 2).await;

    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut truncated = good.bytes.clone();
    truncated.truncate(good.bytes.len() / 2);
    let garbage_torrents = [
        b64(b"this is not bencode at all"),
        b64(b"d8:announce3:abce"),
        b64(b"d4:infod4:name1:xee"),
        b64(b"d4:infod6:lengthi-5e4:name1:x12:piece lengthi0e6:pieces0:ee"),
        b64(&truncated),
        b64(&[0xff; 4096]),
        String::new(),
        "!!!!".into(),
    ];
    for uri in garbage_torrents {
        let code = c
            .error_code("task.add", json!({"type": "torrent", "uri": uri}))
            .await;
        assert_eq!(code, -2);
    }
    // Torrents that try to write outside the download folder.
    for (name, path) in [
        ("../escape", "file.bin"),
        ("fine", "../../escape.bin"),
        ("..", "x"),
    ] {
        let evil = TestTorrent::build(TorrentSpec {
            name,
            files: vec![(path, 1000), ("other.bin", 1000)],
            single: false,
            ..Default::default()
        });
        let code = c
            .error_code("task.add", json!({"type": "torrent", "uri": evil.base64()}))
            .await;
        assert_eq!(code, -2, "{name} / {path}");
    }
    let garbage_magnets = [
        "magnet:",
        "magnet:?",
        "magnet:?xt=urn:btih:",
        "magnet:?xt=urn:btih:zz",
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef0123456",
        "magnet:?xt=urn:sha1:0123456789abcdef0123456789abcdef01234567",
        "http://example.invalid/file.torrent",
        "0123456789abcdef",
        "",
    ];
    for uri in garbage_magnets {
        let code = c
            .error_code("task.add", json!({"type": "magnet", "uri": uri}))
            .await;
        assert_eq!(code, -2, "{uri:?}");
    }
    // A huge string: refused, and the connection carries on.
    let huge = "A".repeat(4 * 1024 * 1024);
    assert_eq!(
        c.error_code("task.add", json!({"type": "magnet", "uri": huge}))
            .await,
        -2
    );
    assert_eq!(
        c.error_code("task.add", json!({"type": "torrent", "uri": huge}))
            .await,
        -2
    );

    let list = c.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["state"], 2);
}

#[tokio::test]
async fn binary_frames_close_cleanly_and_other_clients_carry_on() {
    let server = TestServer::start().await;
    let mut other = server.client().await;
    let mut c = server.client().await;
    c.socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    match c.next_raw().await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(other.ok("task.list", Value::Null).await, json!([]));
}

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let server = TestServer::start().await;
    let mut other = server.client().await;
    let mut c = server.client().await;
    let big = format!(
        r#"{{"id":"big","method":"task.add","params":{{"type":"magnet","uri":"{}"}}}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    // The server may close before the whole frame is written.
    let _ = c.socket.send(Message::Text(big.into())).await;
    let mut saw_1009 = false;
    while let Ok(Some(message)) =
        tokio::time::timeout(support::PATIENCE, futures::StreamExt::next(&mut c.socket)).await
    {
        if let Ok(Message::Close(Some(frame))) = message {
            saw_1009 = frame.code == CloseCode::Size;
            break;
        }
        if message.is_err() {
            break;
        }
    }
    assert!(saw_1009, "expected close code 1009");
    assert_eq!(other.ok("task.list", Value::Null).await, json!([]));
}
