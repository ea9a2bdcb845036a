//! Bad input, table-driven from the reference itself: every method of docs/API.md section 6,
//! every field of its Params table given the wrong JSON types and left out when required,
//! unknown task ids, and every error code its Errors table promises that a local client can be
//! given; all on one connection, which must keep working after each. The expectations come from
//! the document, never from the code under test.

mod support;

use serde_json::{json, Value};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

/// One method as the reference describes it.
#[derive(Debug)]
struct Method {
    name: String,
    /// (field, type as written, required)
    fields: Vec<(String, String, bool)>,
    /// The codes of its Errors table.
    errors: Vec<i64>,
}

/// Codes that a local client on a healthy server cannot be given, and why: the test names them
/// so that a new code in the document fails it until someone decides.
const NOT_FOR_A_LOCAL_CLIENT: [(i64, &str); 3] = [
    (
        -6,
        "remote or read-only clients only (tests/remote_auth.rs)",
    ),
    (
        -7,
        "a failing disk or engine (tests/limits_races.rs makes one for session.setLimits)",
    ),
    (-8, "remote clients only (tests/remote_auth.rs)"),
];

fn reference() -> Vec<Method> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md"))
        .expect("docs/API.md");
    let mut methods: Vec<Method> = Vec::new();
    let mut table = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### 6.") {
            // "### 6.1 `task.add` [seed]"
            let name = rest.split('`').nth(1).expect("a method name in backquotes");
            methods.push(Method {
                name: name.to_owned(),
                fields: Vec::new(),
                errors: Vec::new(),
            });
            table = "";
            continue;
        }
        if line.starts_with("## ") || line.starts_with("### ") {
            table = "";
            if line.starts_with("## 7") {
                break;
            }
            continue;
        }
        let Some(method) = methods.last_mut() else {
            continue;
        };
        if line.starts_with("**Params**") {
            table = "params";
        } else if line.starts_with("**Errors**") {
            table = "errors";
        } else if line.starts_with("**") {
            table = "";
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let unquote = |cell: &str| cell.trim_matches('`').to_owned();
        match table {
            "params" => method.fields.push((
                unquote(cells[1]),
                cells[2].to_owned(),
                cells[3].starts_with("yes"),
            )),
            "errors" => method
                .errors
                .push(unquote(cells[1]).parse().expect("an error code")),
            _ => {}
        }
    }
    methods
}

/// Values of every JSON type that the type written in the reference does not allow.
fn wrong_values(written: &str) -> Vec<Value> {
    let all = [
        ("string", json!("text")),
        ("boolean", json!(true)),
        ("integer", json!(7)),
        ("null", Value::Null),
        ("array", json!([1])),
        ("object", json!({"a": 1})),
    ];
    all.into_iter()
        // A `number` takes integers too.
        .filter(|(kind, _)| {
            let allowed =
                written.contains(kind) || (*kind == "integer" && written.contains("number"));
            !allowed
        })
        // An array of integers takes no integer, but a number where an integer is allowed
        // must be whole: 1.5 is wrong for every integer field.
        .map(|(_, value)| value)
        .chain(written.contains("integer").then(|| json!(1.5)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_method_refuses_bad_input_as_documented() {
    let methods = reference();
    let names: Vec<&str> = methods.iter().map(|m| m.name.as_str()).collect();
    for expected in [
        "task.add",
        "task.list",
        "task.remove",
        "session.setLimits",
        "session.getSettings",
        "session.setSettings",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "contract",
        files: vec![("a.bin", 20_000), ("b.bin", 20_000)],
        single: false,
        piece_length: 16 * 1024,
        seed: 5,
        ..Default::default()
    });
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "paused": true}),
        )
        .await;
    let id = torrent.info_hash.clone();
    let settings_before = client.ok("session.getSettings", Value::Null).await;
    // A valid value for each documented field, so that one field at a time can be broken.
    let valid = |field: &str| -> Value {
        match field {
            "task_id" => json!(id),
            "type" => json!("magnet"),
            "uri" => json!("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"),
            "paused" | "delete_files" => json!(false),
            "files" => json!([0]),
            "download_bps" | "upload_bps" => Value::Null,
            // session.setSettings: a valid value of every key (never applied: each case breaks
            // one of them, and a change is all or nothing).
            "seed"
            | "dht"
            | "upnp"
            | "lsd"
            | "remote_admin"
            | "loopback_needs_token"
            | "tls_self_signed" => json!(false),
            "remote_adds_per_minute" => json!(60),
            "download_roots" | "allowed_origins" | "allowed_hosts" | "trusted_proxies" => json!([]),
            "watch_dir" | "download_dir" | "tls_cert" | "tls_key" => Value::Null,
            "listen" => json!("127.0.0.1:7345"),
            "peer_port" => json!(0),
            "max_connections" => json!(10),
            "max_message_bytes" => json!(65536),
            "lockout_seconds" => json!(60),
            "max_queue_bytes" => json!(1_048_576),
            "label" => Value::Null,
            "move" => json!(false),
            "labels" => json!([]),
            "file_index" => json!(0),
            "lifetime_seconds" => Value::Null,
            "ratio_limit" | "seed_time_limit_minutes" | "idle_limit_minutes" => Value::Null,
            "seed_ratio_limit" | "seed_idle_limit_minutes" => Value::Null,
            other => panic!("no valid value known for the documented field {other:?}"),
        }
    };
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut calls = 0;
    for method in &methods {
        let mut base: serde_json::Map<String, Value> = method
            .fields
            .iter()
            .map(|(field, _, _)| (field.clone(), valid(field)))
            .collect();
        if method.name == "task.move" {
            // A required folder there (never reached: each case breaks one field).
            base.insert(
                "download_dir".into(),
                json!(server.download_dir.join("moved")),
            );
        }
        let expect = |code: i64, params: Value| (method.name.clone(), code, params);
        let mut cases = Vec::new();
        for (field, written, required) in &method.fields {
            for wrong in wrong_values(written) {
                let mut params = base.clone();
                params.insert(field.clone(), wrong);
                cases.push(expect(-2, Value::Object(params)));
            }
            if *required {
                let mut params = base.clone();
                params.remove(field);
                cases.push(expect(-2, Value::Object(params)));
            }
            if field == "task_id" {
                let mut params = base.clone();
                params.insert(field.clone(), json!("0".repeat(40)));
                cases.push(expect(-4, Value::Object(params)));
            }
        }
        if method.fields.is_empty() {
            // "params may be absent, null or any object": anything else is refused.
            cases.push(expect(-2, json!([1])));
            cases.push(expect(-2, json!("x")));
        } else {
            cases.push(expect(-2, Value::Null));
            cases.push(expect(-2, json!([1, 2])));
        }
        for (name, code, params) in cases {
            let response = client.call(&name, params.clone()).await;
            support::assert_error_shape(&response);
            assert_eq!(
                response["error"], code,
                "{name} {params}: the reference promises {code}: {response}"
            );
            seen.push((name, code));
            calls += 1;
            // The connection keeps working.
            client.ok("task.list", Value::Null).await;
        }
    }
    // -5 for a duplicate add, and the method-independent codes.
    let duplicate = client
        .call(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64()}),
        )
        .await;
    assert_eq!(duplicate["error"], -5, "{duplicate}");
    seen.push(("task.add".into(), -5));
    assert_eq!(client.call("task.nope", Value::Null).await["error"], -1);
    client.send_text("{not json").await;
    let not_json = client.next_json().await;
    assert_eq!(not_json["error"], -3, "{not_json}");
    // Every code each method's table promises was given, but those a local client cannot get.
    for method in &methods {
        for code in &method.errors {
            if NOT_FOR_A_LOCAL_CLIENT.iter().any(|(c, _)| c == code) {
                continue;
            }
            assert!(
                seen.contains(&(method.name.clone(), *code)),
                "{} promises {code} and no case produced it",
                method.name
            );
        }
    }
    // Nothing changed: the one task is still there, paused, and the limits are unlimited.
    let list = client.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["state"], 4);
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (Value::Null, Value::Null)
    );
    // Every session.setSettings case broke one key among valid ones: none of them changed.
    let settings_after = client.ok("session.getSettings", Value::Null).await;
    assert_eq!(settings_after, settings_before);
    assert!(
        calls > 50,
        "only {calls} bad calls were made: is the reference parsed?"
    );
}
