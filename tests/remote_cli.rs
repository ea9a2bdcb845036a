//! `magnetar remote`, the real binary, against a real server with a real seeder: every
//! subcommand, `--json` parsed here, exit codes 0/1/2/3, id prefixes, `add -` from stdin, and
//! `watch` printing events live.

mod support;

use std::io::{BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::peers::{ChildGuard, LibrqbitSeeder};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

fn remote(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_magnetar"))
        .args(["remote", "--url", url])
        .args(args)
        .env_remove("MAGNETAR_TOKEN")
        .output()
        .expect("magnetar remote runs")
}

fn ok(url: &str, args: &[&str]) -> String {
    let output = remote(url, args);
    assert!(
        output.status.success(),
        "{args:?}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(url: &str, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(url, &full)).expect("--json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_against_a_real_server() {
    let torrent = TestTorrent::build(TorrentSpec {
        name: "remote-demo",
        files: vec![("a.bin", 300 * 1024), ("b.bin", 100 * 1024)],
        single: false,
        seed: 61,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start(&torrent).await;
    let server = TestServer::start().await;
    let url = server.url.clone();

    // watch, started first, prints events live.
    let mut watch = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_magnetar"))
            .args(["remote", "--url", &url, "watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "magnetar remote watch",
    );
    let mut watch_out = BufReader::new(watch.0.stdout.take().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // add: a magnet, a .torrent file, and hashes from stdin.
    let file = tempfile::Builder::new()
        .suffix(".torrent")
        .tempfile()
        .unwrap();
    let other = TestTorrent::build(TorrentSpec {
        name: "from-file.bin",
        files: vec![("from-file.bin", 1000)],
        seed: 62,
        ..Default::default()
    });
    other.save(file.path());
    let magnet = torrent.magnet(&[seeder.addr]);
    let added = ok(&url, &["add", &magnet, &file.path().display().to_string()]);
    assert_eq!(added.lines().count(), 2, "{added}");
    let mut stdin_add = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_magnetar"))
            .args(["remote", "--url", &url, "add", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
        "magnetar remote add -",
    );
    stdin_add
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(b"abcdef0123456789abcdef0123456789abcdef01\n\n")
        .unwrap();
    assert!(stdin_add.0.wait().unwrap().success());

    // watch saw task.created and a state change.
    let mut seen = String::new();
    for _ in 0..40 {
        let (line, rest) = support::read_line_within(watch_out);
        watch_out = rest;
        seen.push_str(&line);
        if seen.contains("task.created") && seen.contains("task.stateUpdated") {
            break;
        }
    }
    assert!(
        seen.contains("task.created") && seen.contains("task.stateUpdated"),
        "{seen}"
    );

    // list, as a table and as JSON; the download completes.
    let mut client = server.client().await;
    client.poll_state(&torrent.info_hash, 2).await;
    let table = ok(&url, &["list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("remote-demo") && table.contains("seeding"),
        "{table}"
    );
    eprintln!("magnetar remote list:\n{table}");
    let list = json(&url, &["list"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // status and metadata by a 6-digit prefix.
    let prefix = &torrent.info_hash[..6];
    let status = json(&url, &["status", prefix]);
    assert_eq!(status["files"], serde_json::json!([300 * 1024, 100 * 1024]));
    let text = ok(&url, &["status", prefix]);
    assert!(text.contains("a.bin") && text.contains("pieces:"), "{text}");
    let metadata = json(&url, &["metadata", prefix]);
    assert_eq!(metadata["name"], "remote-demo");
    assert!(ok(&url, &["metadata", prefix]).contains("b.bin"));

    // pause and resume, by id and --all.
    ok(&url, &["pause", prefix]);
    client.poll_state(&torrent.info_hash, 4).await;
    ok(&url, &["resume", "--all"]);
    client.poll_state(&torrent.info_hash, 2).await;
    let info = json(&url, &["info"]);
    assert_eq!(info["tasks"], 3);
    assert!(ok(&url, &["info"]).contains("version:"));

    // pause --all with a failed task (the hash from stdin: no peer, no tracker, DHT off): the
    // others are paused, the failed one is skipped and said so, and the exit code is 0 (it was
    // 1, "error -2: the task has failed", after pausing the others).
    let hash = "abcdef0123456789abcdef0123456789abcdef01";
    client.poll_state(hash, 5).await;
    let paused = remote(&url, &["pause", "--all"]);
    let stderr = String::from_utf8_lossy(&paused.stderr);
    assert_eq!(paused.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("skipped {hash}")) && stderr.contains("failed"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&paused.stdout);
    assert!(!stdout.contains(hash), "{stdout}");
    for task in [&torrent.info_hash, &other.info_hash] {
        assert!(stdout.contains(&format!("paused {task}")), "{stdout}");
        client.poll_state(task, 4).await;
    }
    // resume --all: the paused ones, not the failed one (a retry is asked for by id).
    let resumed = json(&url, &["resume", "--all"]);
    assert_eq!(resumed["resume"].as_array().unwrap().len(), 2, "{resumed}");
    assert_eq!(resumed["skipped"][0]["id"], hash, "{resumed}");
    assert_eq!(resumed["skipped"][0]["why"], "failed", "{resumed}");
    client.poll_state(&torrent.info_hash, 2).await;
    assert_eq!(client.summary(hash).await["state"], 5);

    // remove with --delete.
    ok(&url, &["remove", prefix, "--delete"]);
    let list = json(&url, &["list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let folder = server.download_dir.join("remote-demo");
    support::poll_until(
        "the removed task's data deleted",
        Duration::from_secs(5),
        Duration::from_millis(100),
        async || match folder.join("a.bin").exists() {
            false => Ok(()),
            true => Err("a.bin is still there"),
        },
    )
    .await;

    // Exit codes: 1 for an API error (with its message), 2 for usage, 3 for no server.
    let missing = remote(
        &url,
        &["status", "ffffffffffffffffffffffffffffffffffffffff"],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("task not found"));
    let unknown_prefix = remote(&url, &["pause", "0a0a0a"]);
    assert_eq!(unknown_prefix.status.code(), Some(1));
    assert_eq!(remote(&url, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(remote(&url, &["pause"]).status.code(), Some(2));
    let dead = remote("ws://127.0.0.1:1/ws", &["list"]);
    assert_eq!(dead.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&dead.stderr).contains("cannot connect"));
    drop(seeder);
}
