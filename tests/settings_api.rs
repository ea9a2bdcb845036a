//! `session.getSettings` and `session.setSettings` against the real server: what a client reads
//! is the settings file's (tokens hidden), what it sets is in `settings.json` on disk and holds
//! after a restart of the real binary, a bad key among good ones changes nothing, live keys
//! apply at once (limits, seeding), every client hears `session.settingsUpdated`, concurrent
//! calls lose no key, and clients on other machines or with the read-only token are refused.
//! Expectations come from the values the test itself wrote, never from the code under test.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::netns::{connect_with, RemoteServer};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{Client, TestServer};

const TOKEN: &str = "full-token-7f3a9c1e5b2d4f60";
const READ_ONLY: &str = "read-only-token-0c9e8d7b6a5f";

fn settings_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("settings.json")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("settings.json")).expect("valid JSON")
}

/// A TestServer in `root` whose settings.json holds `settings` before it starts.
async fn server_with(root: &Path, settings: &Value) -> TestServer {
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(
        settings_file(&root.join("data")),
        serde_json::to_vec_pretty(settings).unwrap(),
    )
    .unwrap();
    TestServer::start_in(root).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_returns_the_files_values_and_hides_the_tokens() {
    let root = tempfile::tempdir().unwrap();
    let roots = root.path().join("roots");
    std::fs::create_dir_all(&roots).unwrap();
    let file = json!({
        "token": TOKEN,
        "read_only_token": READ_ONLY,
        "upload_bps": 4096,
        "seed": false,
        "allowed_hosts": ["nas.local"],
        "lockout_seconds": 77,
        "remote_adds_per_minute": 9,
        "download_roots": [roots],
        "max_queue_bytes": 100000,
    });
    let server = server_with(root.path(), &file).await;
    let mut client = server.client().await;
    let response = client.call("session.getSettings", Value::Null).await;
    let raw = response.to_string();
    assert!(!raw.contains(TOKEN) && !raw.contains(READ_ONLY), "{raw}");
    let got = &response["result"];
    let settings = &got["settings"];
    for key in [
        "upload_bps",
        "seed",
        "allowed_hosts",
        "lockout_seconds",
        "remote_adds_per_minute",
        "download_roots",
        "max_queue_bytes",
    ] {
        assert_eq!(settings[key], file[key], "{key}: {got}");
    }
    assert!(settings.get("token").is_none() && settings.get("read_only_token").is_none());
    assert_eq!(
        got["secrets"],
        json!({"token": true, "read_only_token": true})
    );
    // Defaults for what the file does not name; the command line's download folder.
    assert_eq!(settings["download_bps"], Value::Null);
    assert_eq!(settings["watch_dir"], Value::Null);
    assert_eq!(settings["max_connections"], 1024);
    assert_eq!(
        settings["download_dir"],
        json!(server.download_dir.to_str().unwrap())
    );
    let restart = got["restart_required"].as_array().unwrap();
    for key in ["listen", "peer_port", "allowed_hosts"] {
        assert!(restart.contains(&json!(key)), "{key}: {got}");
    }
    for key in ["seed", "upload_bps", "download_roots", "watch_dir"] {
        assert!(!restart.contains(&json!(key)), "{key}: {got}");
    }
    assert_eq!(got["pending_restart"], json!([]));
    // The test server's command line gives these (support::test_overrides).
    let overridden = got["overridden"].as_array().unwrap();
    for key in ["listen", "download_dir", "peer_port", "dht"] {
        assert!(overridden.contains(&json!(key)), "{key}: {got}");
    }
    assert!(!overridden.contains(&json!("seed")));
    // Bad params for a method without any.
    for bad in [json!([1]), json!("x"), json!(3)] {
        assert_eq!(client.error_code("session.getSettings", bad).await, -2);
    }
    client.ok("session.getSettings", json!({})).await;
}

/// The real binary in `data`/`downloads`, with its own stdout line giving the URL.
fn spawn_serve(data: &Path, downloads: &Path) -> (support::peers::ChildGuard, String) {
    let mut child = support::peers::ChildGuard::spawn(
        support::serve_command(data, downloads)
            .env_remove("MAGNETAR_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
        "magnetar serve",
    );
    let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let (line, _) = support::read_line_within(stdout);
    (child, support::url_in_ready_line(&line))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_keys_are_saved_on_disk_and_hold_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let downloads = root.path().join("downloads");
    let watch = root.path().join("watch");
    let extra_root = root.path().join("elsewhere");
    for dir in [&data, &watch, &extra_root] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // A key the user wrote by hand, which no call names: it must stay as written.
    std::fs::write(settings_file(&data), r#"{"max_connections": 50}"#).unwrap();
    let (child, url) = spawn_serve(&data, &downloads);
    let mut client = Client::connect(&url).await;
    let change = json!({
        "upload_bps": 12345,
        "seed": false,
        "remote_adds_per_minute": 7,
        "download_roots": [extra_root],
        "watch_dir": watch,
        "lockout_seconds": 60,
        "allowed_hosts": ["nas.local", "media.lan"],
    });
    let result = client.ok("session.setSettings", change.clone()).await;
    let mut changed: Vec<String> = serde_json::from_value(result["changed"].clone()).unwrap();
    changed.sort();
    let mut expected: Vec<String> = change.as_object().unwrap().keys().cloned().collect();
    expected.sort();
    assert_eq!(changed, expected);
    let mut pending: Vec<&str> = result["pending_restart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    pending.sort();
    assert_eq!(pending, ["allowed_hosts", "lockout_seconds"]);
    // On disk, before any restart.
    let on_disk = read_json(&settings_file(&data));
    for (key, value) in change.as_object().unwrap() {
        assert_eq!(&on_disk[key], value, "{key} on disk: {on_disk}");
    }
    assert_eq!(on_disk["max_connections"], 50, "{on_disk}");
    // Live ones at once.
    assert_eq!(
        client.ok("session.info", Value::Null).await["upload_bps"],
        12345
    );
    // kill -9: the file was written durably before the answer.
    drop(client);
    drop(child);
    let (_child, url) = spawn_serve(&data, &downloads);
    let mut client = Client::connect(&url).await;
    let got = client.ok("session.getSettings", Value::Null).await;
    for (key, value) in change.as_object().unwrap() {
        assert_eq!(&got["settings"][key], value, "{key} after a restart: {got}");
    }
    assert_eq!(got["settings"]["max_connections"], 50);
    assert_eq!(got["pending_restart"], json!([]), "{got}");
    assert_eq!(
        client.ok("session.info", Value::Null).await["upload_bps"],
        12345
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_naming_the_key_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("a-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let a_file = root.path().join("a-file");
    std::fs::write(&a_file, b"x").unwrap();
    let server = server_with(root.path(), &json!({"lockout_seconds": 42, "seed": true})).await;
    let path = settings_file(&server.data_dir);
    let file_before = std::fs::read(&path).unwrap();
    let mut client = server.client().await;
    let mut other = server.client().await;
    let before = client.ok("session.getSettings", Value::Null).await;
    let folder = folder.to_str().unwrap();
    let a_file = a_file.to_str().unwrap();
    let missing = format!("{folder}/missing");
    let dotted = format!("{folder}/../a-folder");
    // (params, the key the message must name): good keys beside the bad one, so that a change
    // that is not all or nothing shows.
    let good = json!({"seed": false, "upload_bps": 5, "lockout_seconds": 600});
    let with = |key: &str, value: Value| {
        let mut params = good.clone();
        params[key] = value;
        params
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("peer_port", json!(70000)), "peer_port"),
        (with("peer_port", json!(-1)), "peer_port"),
        (with("seed", json!("yes")), "seed"),
        (with("download_bps", json!(1.5)), "download_bps"),
        (with("download_bps", json!(-3)), "download_bps"),
        (
            with("download_bps", json!(4_294_967_296u64)),
            "download_bps",
        ),
        (with("upload_bps", json!("fast")), "upload_bps"),
        (
            with("remote_adds_per_minute", json!(-1)),
            "remote_adds_per_minute",
        ),
        (
            with("remote_adds_per_minute", Value::Null),
            "remote_adds_per_minute",
        ),
        (with("listen", json!("nowhere")), "listen"),
        (with("listen", json!(7345)), "listen"),
        (with("max_connections", json!(0)), "max_connections"),
        (with("max_message_bytes", json!(10)), "max_message_bytes"),
        (with("max_queue_bytes", json!(1000)), "max_queue_bytes"),
        (with("lockout_seconds", json!(0)), "lockout_seconds"),
        (with("lockout_seconds", json!(86_401)), "lockout_seconds"),
        (
            with("trusted_proxies", json!(["not-an-ip"])),
            "trusted_proxies",
        ),
        (with("allowed_hosts", json!("nas.local")), "allowed_hosts"),
        (with("allowed_origins", json!([1])), "allowed_origins"),
        (
            with("download_roots", json!(["relative/dir"])),
            "download_roots",
        ),
        (with("download_roots", json!([missing])), "download_roots"),
        (with("download_roots", json!([a_file])), "download_roots"),
        (with("download_roots", json!([dotted])), "download_roots"),
        (
            with("download_roots", json!([folder, folder])),
            "download_roots",
        ),
        (with("download_roots", json!(folder)), "download_roots"),
        (with("download_roots", Value::Null), "download_roots"),
        (with("watch_dir", json!(missing)), "watch_dir"),
        (with("watch_dir", json!(a_file)), "watch_dir"),
        (with("watch_dir", json!("watch")), "watch_dir"),
        (with("watch_dir", json!([folder])), "watch_dir"),
        (with("download_dir", json!("relative")), "download_dir"),
        (with("download_dir", json!(true)), "download_dir"),
        (with("tls_cert", json!("/etc/cert.pem")), "tls_key"),
        (with("tls_self_signed", json!(1)), "tls_self_signed"),
        (with("no_such_setting", json!(1)), "no_such_setting"),
        (with("token", json!("new-token")), "token"),
        (with("read_only_token", json!("r")), "read_only_token"),
        (json!({}), "setting"),
        (Value::Null, "params"),
        (json!([1, 2]), "params"),
        (json!("seed"), "params"),
    ];
    for (params, key) in &cases {
        let response = client.call("session.setSettings", params.clone()).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], -2, "{params}: {response}");
        let message = response["message"].as_str().unwrap();
        assert!(
            message.contains(key),
            "{params}: the message names no {key}: {message}"
        );
        // The connection keeps working, and nothing changed.
        assert_eq!(
            client.ok("session.getSettings", Value::Null).await,
            before,
            "{params} changed the settings"
        );
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        file_before,
        "settings.json changed"
    );
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(info["upload_bps"], Value::Null);
    // No client heard of a change.
    client.ok("task.list", Value::Null).await;
    other.ok("task.list", Value::Null).await;
    for c in [&client, &other] {
        assert!(
            !c.events
                .iter()
                .any(|e| e["name"] == "session.settingsUpdated"
                    || e["name"] == "session.limitsUpdated"),
            "{:?}",
            c.events
        );
    }
    // And the good keys alone are taken; with no task, the download folder may change (at
    // the next start).
    client.ok("session.setSettings", good.clone()).await;
    let next_downloads = root.path().join("next-downloads");
    let result = client
        .ok(
            "session.setSettings",
            json!({"download_dir": next_downloads}),
        )
        .await;
    // lockout_seconds, from `good`, waits for the restart too.
    let mut pending: Vec<&str> = result["pending_restart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    pending.sort();
    assert_eq!(pending, ["download_dir", "lockout_seconds"], "{result}");
    let after = read_json(&path);
    assert_eq!(after["lockout_seconds"], 600);
    assert_eq!(after["seed"], false);
    assert_eq!(after["upload_bps"], 5);
    assert_eq!(after["download_dir"], json!(next_downloads));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_hears_settings_updated_and_limits_agree_with_set_limits() {
    let root = tempfile::tempdir().unwrap();
    let server = server_with(root.path(), &json!({"token": TOKEN})).await;
    let mut setter = server.client().await;
    let mut watcher = server.client().await;
    watcher.ok("task.list", Value::Null).await;
    setter
        .ok(
            "session.setSettings",
            json!({"remote_adds_per_minute": 3, "download_bps": 2048, "max_connections": 99}),
        )
        .await;
    let event = watcher
        .wait_event("session.settingsUpdated", |d| {
            d["settings"]["remote_adds_per_minute"] == 3
        })
        .await;
    assert!(!event.to_string().contains(TOKEN), "{event}");
    let data = &event["data"];
    assert_eq!(data["settings"]["download_bps"], 2048);
    assert_eq!(data["settings"]["max_connections"], 99);
    assert_eq!(data["secrets"]["token"], true);
    assert_eq!(data["pending_restart"], json!(["max_connections"]));
    // A limit set through the settings is the limit: session.info and limitsUpdated say so.
    watcher
        .wait_event("session.limitsUpdated", |d| {
            d["download_bps"] == 2048 && d["upload_bps"].is_null()
        })
        .await;
    assert_eq!(
        watcher.ok("session.info", Value::Null).await["download_bps"],
        2048
    );
    // And session.setLimits is a settings change too.
    setter
        .ok("session.setLimits", json!({"upload_bps": 777}))
        .await;
    let event = watcher
        .wait_event("session.settingsUpdated", |d| {
            d["settings"]["upload_bps"] == 777
        })
        .await;
    assert_eq!(event["data"]["settings"]["download_bps"], 2048);
    assert_eq!(
        event["data"]["changed"],
        json!(["download_bps", "upload_bps"])
    );
    let got = setter.ok("session.getSettings", Value::Null).await;
    assert_eq!(
        (
            &got["settings"]["download_bps"],
            &got["settings"]["upload_bps"]
        ),
        (&json!(2048), &json!(777))
    );
    // 0 is unlimited, kept as null.
    setter
        .ok("session.setSettings", json!({"download_bps": 0}))
        .await;
    watcher
        .wait_event("session.limitsUpdated", |d| {
            d["download_bps"].is_null() && d["upload_bps"] == 777
        })
        .await;
    let on_disk = read_json(&settings_file(&server.data_dir));
    assert_eq!(on_disk["download_bps"], Value::Null);
    assert_eq!(on_disk["upload_bps"], 777);
    assert_eq!(on_disk["token"], TOKEN, "the token is kept in the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_turned_off_and_on_applies_to_a_seeding_task_at_once() {
    let root = tempfile::tempdir().unwrap();
    let server = server_with(root.path(), &json!({})).await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "seeded",
        files: vec![("a.bin", 40_000), ("b.bin", 10_000)],
        single: false,
        piece_length: 16 * 1024,
        seed: 11,
        ..Default::default()
    });
    // The complete data is already in place: the task checks it and seeds (0→2).
    torrent.write_content(&server.download_dir);
    let mut client = server.client().await;
    client.add_torrent(&torrent).await;
    let id = torrent.info_hash.clone();
    client.poll_state(&id, 2).await;
    client
        .ok("session.setSettings", json!({"seed": false}))
        .await;
    client.poll_state(&id, 3).await;
    client
        .ok("session.setSettings", json!({"seed": true}))
        .await;
    client.poll_state(&id, 2).await;
    // With a task, the download folder cannot change (its files are found relative to it).
    let elsewhere = root.path().join("elsewhere");
    let response = client
        .call("session.setSettings", json!({"download_dir": elsewhere}))
        .await;
    assert_eq!(response["error"], -2, "{response}");
    assert!(response["message"]
        .as_str()
        .unwrap()
        .contains("download_dir"));
    assert_eq!(
        read_json(&settings_file(&server.data_dir)).get("download_dir"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_from_several_clients_lose_no_key() {
    let root = tempfile::tempdir().unwrap();
    let server = server_with(root.path(), &json!({"peer_port": 0})).await;
    // One key per client; each client sets its key five times, the calls of all clients at
    // once. A lost update leaves some key at an older value (or its default).
    let keys: [(&str, u64); 10] = [
        ("lockout_seconds", 1000),
        ("max_connections", 2000),
        ("remote_adds_per_minute", 3000),
        ("peer_port", 4000),
        ("max_message_bytes", 5000),
        ("max_queue_bytes", 70_000),
        ("download_bps", 80_000),
        ("upload_bps", 90_000),
        ("allowed_hosts", 0),
        ("allowed_origins", 0),
    ];
    let value = |key: &str, base: u64, round: u64| -> Value {
        match key {
            "allowed_hosts" => json!([format!("host{round}.lan")]),
            "allowed_origins" => json!([format!("https://ui{round}.example")]),
            _ => json!(base + round),
        }
    };
    let mut jobs = Vec::new();
    for (key, base) in keys {
        let url = server.url.clone();
        jobs.push(tokio::spawn(async move {
            let mut client = Client::connect(&url).await;
            for round in 1..=5 {
                client
                    .ok("session.setSettings", json!({key: value(key, base, round)}))
                    .await;
            }
        }));
    }
    for job in jobs {
        job.await.unwrap();
    }
    let on_disk = read_json(&settings_file(&server.data_dir));
    let mut client = server.client().await;
    let got = client.ok("session.getSettings", Value::Null).await;
    for (key, base) in keys {
        let expected = value(key, base, 5);
        assert_eq!(on_disk[key], expected, "{key} on disk: {on_disk}");
        assert_eq!(got["settings"][key], expected, "{key}: {got}");
    }
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(80_005), json!(90_005))
    );
}

/// Clients on another machine (a network namespace): without `remote_admin` the full token is
/// refused, the read-only token always is (but may read), and with `remote_admin` the change
/// is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_clients_need_remote_admin_and_never_the_read_only_token() {
    let settings = json!({"token": TOKEN, "read_only_token": READ_ONLY}).to_string();
    let Some(server) = RemoteServer::start(&settings, &[]) else {
        return;
    };
    let path = settings_file(&server.data_dir);
    let file_before = std::fs::read(&path).unwrap();
    let mut admin = connect_with(&server.url, Some(&format!("Bearer {TOKEN}"))).await;
    let mut reader = connect_with(&server.url, Some(&format!("Bearer {READ_ONLY}"))).await;
    for client in [&mut admin, &mut reader] {
        let got = client.ok("session.getSettings", Value::Null).await;
        assert!(!got.to_string().contains(TOKEN) && !got.to_string().contains(READ_ONLY));
        assert_eq!(got["settings"]["remote_admin"], false);
    }
    let response = admin
        .call("session.setSettings", json!({"seed": false}))
        .await;
    assert_eq!(response["error"], -6, "{response}");
    assert!(response["message"]
        .as_str()
        .unwrap()
        .contains("remote_admin"));
    let response = reader
        .call("session.setSettings", json!({"seed": false}))
        .await;
    assert_eq!(response["error"], -6, "{response}");
    assert!(response["message"].as_str().unwrap().contains("read-only"));
    // Both connections keep working; nothing changed.
    assert_eq!(
        admin.ok("session.getSettings", Value::Null).await["settings"]["seed"],
        true
    );
    reader.ok("task.list", Value::Null).await;
    assert_eq!(std::fs::read(&path).unwrap(), file_before);
    drop((admin, reader, server));

    // With remote_admin on, the full token may change settings; the read-only one still not.
    let settings =
        json!({"token": TOKEN, "read_only_token": READ_ONLY, "remote_admin": true}).to_string();
    let server = RemoteServer::start(&settings, &[]).expect("root, as above");
    let mut admin = connect_with(&server.url, Some(&format!("Bearer {TOKEN}"))).await;
    let mut reader = connect_with(&server.url, Some(&format!("Bearer {READ_ONLY}"))).await;
    let response = reader
        .call("session.setSettings", json!({"seed": false}))
        .await;
    assert_eq!(response["error"], -6, "{response}");
    admin
        .ok(
            "session.setSettings",
            json!({"seed": false, "lockout_seconds": 120}),
        )
        .await;
    let on_disk = read_json(&settings_file(&server.data_dir));
    assert_eq!(on_disk["seed"], false);
    assert_eq!(on_disk["lockout_seconds"], 120);
    assert_eq!(on_disk["token"], TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_changes_nothing_and_says_so() {
    let server = TestServer::start().await;
    let mut caller = server.client().await;
    let mut watcher = server.client().await;
    let before = caller.ok("session.getSettings", Value::Null).await;
    // Not writable, even by root: settings.json is a folder now.
    let file = settings_file(&server.data_dir);
    let _ = std::fs::remove_file(&file);
    std::fs::create_dir_all(file.join("in-the-way")).unwrap();
    let response = caller
        .call(
            "session.setSettings",
            json!({"download_bps": 4096, "seed": false, "peer_port": 51413}),
        )
        .await;
    support::assert_error_shape(&response);
    assert_eq!(response["error"], -7, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(message.contains("not saved, nothing changed"), "{message}");
    assert!(message.contains("settings.json"), "{message}");
    // Nothing applied, nothing announced.
    assert_eq!(caller.ok("session.getSettings", Value::Null).await, before);
    assert_eq!(
        caller.ok("session.info", Value::Null).await["download_bps"],
        Value::Null
    );
    watcher.ok("task.list", Value::Null).await;
    for c in [&caller, &watcher] {
        assert!(
            !c.events
                .iter()
                .any(|e| e["name"] == "session.settingsUpdated"
                    || e["name"] == "session.limitsUpdated"),
            "{:?}",
            c.events
        );
    }
}
