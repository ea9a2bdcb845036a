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
        b64(
            b"d4:infod6:lengthi-5e4:name1:x12:piece lengthi16384e6:pieces20:xxxxxxxxxxxxxxxxxxxxee",
        ),
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

/// Torrents whose numbers lie. Each used to be accepted (or to panic the connection inside
/// librqbit); each must get -2 naming the rule it breaks, create nothing, and leave the
/// connection answering.
#[tokio::test]
async fn hostile_torrents_are_refused_with_the_rule_they_break() {
    use support::torrent::{dict, torrent_with_info, Bencode};
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let hashes = |n: usize| Bencode::Bytes(vec![7u8; n * 20]);
    let file = |length: Bencode, path: &[&str]| {
        dict(vec![
            ("length", length),
            (
                "path",
                Bencode::List(path.iter().map(|p| Bencode::str(p)).collect()),
            ),
        ])
    };
    let single = |piece_length: Bencode, length: Bencode, pieces: usize| {
        torrent_with_info(vec![
            ("name", Bencode::str("hostile.bin")),
            ("piece length", piece_length),
            ("pieces", hashes(pieces)),
            ("length", length),
        ])
    };
    let multi = |files: Vec<Bencode>, pieces: usize| {
        torrent_with_info(vec![
            ("name", Bencode::str("hostile")),
            ("piece length", Bencode::Int(16384)),
            ("pieces", hashes(pieces)),
            ("files", Bencode::List(files)),
        ])
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "piece length 0",
            single(Bencode::Int(0), Bencode::Int(1000), 1),
            "piece length must be greater than 0",
        ),
        (
            "piece length 2^62",
            single(
                Bencode::IntText((1u64 << 62).to_string()),
                Bencode::Int(1000),
                1,
            ),
            "512 MiB",
        ),
        (
            "piece length 2^32 (wraps to 0 in a u32)",
            single(
                Bencode::IntText((1u64 << 32).to_string()),
                Bencode::Int(1000),
                1,
            ),
            "512 MiB",
        ),
        (
            "too few piece hashes",
            single(Bencode::Int(16384), Bencode::Int(100_000), 2),
            "need 7",
        ),
        (
            "too many piece hashes",
            single(Bencode::Int(16384), Bencode::Int(1000), 3),
            "need 1",
        ),
        (
            "length 2^63-1 with a single hash",
            single(Bencode::Int(16384), Bencode::Int(i64::MAX), 1),
            "1 PiB",
        ),
        (
            "a negative length",
            single(Bencode::Int(16384), Bencode::Int(-1), 1),
            "negative length",
        ),
        (
            "file lengths whose sum overflows u64",
            multi(
                vec![
                    file(Bencode::IntText(u64::MAX.to_string()), &["a"]),
                    file(Bencode::Int(2), &["b"]),
                ],
                1,
            ),
            "more than 2^64",
        ),
        (
            "a file path with ..",
            multi(vec![file(Bencode::Int(10), &["..", "etc"])], 1),
            "leave its folder",
        ),
        (
            "an empty path",
            multi(vec![file(Bencode::Int(10), &[])], 1),
            "path is empty",
        ),
        (
            "a path component with a separator",
            multi(vec![file(Bencode::Int(10), &["a/b"])], 1),
            "separator",
        ),
        (
            "a file listed twice",
            multi(
                vec![
                    file(Bencode::Int(10), &["a"]),
                    file(Bencode::Int(10), &["a"]),
                ],
                1,
            ),
            // docs/API.md 9.6, the rule "no path listed twice": the message names it
            // ("duplicate filenames").
            "duplicate",
        ),
        (
            "no data at all",
            multi(vec![file(Bencode::Int(0), &["a"])], 0),
            "holds no data",
        ),
    ];
    for (what, torrent, expected) in cases {
        let response = c
            .call(
                "task.add",
                json!({"type": "torrent", "uri": support::torrent::base64(&torrent)}),
            )
            .await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], -2, "{what}: {response}");
        let message = response["message"].as_str().unwrap_or_default();
        assert!(!expected.is_empty(), "{what}: \"\" is in every message");
        assert!(message.contains(expected), "{what}: {message}");
        // The connection is still answering, and no task appeared.
        assert_eq!(c.ok("task.list", Value::Null).await, json!([]), "{what}");
    }
    let written: Vec<_> = std::fs::read_dir(&server.download_dir)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "hostile torrents wrote {written:?}");
}

/// Magnets whose metadata lies, served by a hostile peer: the add fails (state 5) with the
/// reason, never stays in state 0, writes nothing, and the engine carries on. The first one
/// makes librqbit itself divide by zero while it checks the metadata: that panic is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnets_with_hostile_metadata_fail_cleanly() {
    use support::metadata_peer::MetadataPeer;
    use support::torrent::{dict, Bencode};
    let info = |piece_length: i64, length: i64, hashes: usize| {
        let mut bytes = Vec::new();
        dict(vec![
            ("name", Bencode::str("hostile.bin")),
            ("piece length", Bencode::Int(piece_length)),
            ("pieces", Bencode::Bytes(vec![9u8; hashes * 20])),
            ("length", Bencode::Int(length)),
        ])
        .encode(&mut bytes);
        bytes
    };
    let server = TestServer::start().await;
    let mut c = server.client().await;
    for (what, info, expected) in [
        // librqbit's own check divides by zero: a caught panic.
        (
            "piece length 0",
            info(0, 100_000, 1),
            &["internal error"][..],
        ),
        ("too few hashes", info(16384, 100_000, 2), &["need 7"]),
        // Overflows inside librqbit in a debug build (caught), or reaches our rule in release.
        (
            "over 1 PiB",
            info(16384, i64::MAX, 1),
            &["1 PiB", "internal error"],
        ),
    ] {
        let peer = MetadataPeer::start(info).await;
        c.add_magnet(&peer.magnet()).await;
        let failed = c.poll_state(&peer.info_hash, 5).await;
        let error = failed["error"].as_str().unwrap_or_default();
        assert!(expected.iter().all(|e| !e.is_empty()), "{what}");
        assert!(
            expected.iter().any(|e| error.contains(e)),
            "{what}: {failed}"
        );
        // The engine carries on: the connection still answers.
        assert!(!c
            .ok("task.list", Value::Null)
            .await
            .as_array()
            .unwrap()
            .is_empty());
    }
    let written: Vec<_> = std::fs::read_dir(&server.download_dir)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "hostile metadata wrote {written:?}");
}
