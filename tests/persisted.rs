//! Everything Magnetar promises to keep across a restart, kept: a finished task with seeding off
//! (state 3), a finished task the user chose to seed (state 2), a paused download, each task's
//! `added`, the generated token, a waiting magnet's `x.pe` peers (its only source: no tracker),
//! file choices, and the limits. And the self-signed certificate with its fingerprint.

mod support;

use std::process::{Command, Stdio};

use serde_json::{json, Value};
use support::peers::LibrqbitSeeder;
use support::torrent::{TestTorrent, TorrentSpec};
use support::{Client, TestServer};

fn torrent(name: &str, files: Vec<(&str, usize)>, seed: u64) -> TestTorrent {
    TestTorrent::build(TorrentSpec {
        name,
        single: files.len() == 1 && !files[0].0.contains('/') && files[0].0 == name,
        files,
        piece_length: 16 * 1024,
        seed,
        ..Default::default()
    })
}

async fn connect(url: &str, token: &str) -> Client {
    Client::connect(&format!("{url}?token={token}")).await
}

/// Every field of every task in `task.list` that must survive, by id.
fn kept_fields(list: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            json!({"id": t["id"], "name": t["name"], "state": t["state"], "added": t["added"],
                   "total_bytes": t["total_bytes"], "dl_bytes": t["dl_bytes"]})
        })
        .collect();
    rows.sort_by_key(|r| r["id"].as_str().unwrap().to_owned());
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_promised_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Local clients need the token too: so the server generates one, and must keep it.
    std::fs::write(
        data.join("settings.json"),
        json!({"loopback_needs_token": true}).to_string(),
    )
    .unwrap();
    let start = || TestServer::start_with(root.path(), |o| o.no_seed = true);
    let mut server = start().await;
    let token = std::fs::read_to_string(data.join("token")).expect("a token was generated");
    let token = token.trim().to_owned();
    assert!(token.len() >= 32, "{token}");
    let mut client = connect(&server.url, &token).await;

    let finished = torrent("finished.bin", vec![("finished.bin", 40_000)], 1);
    let seeding = torrent("seeding.bin", vec![("seeding.bin", 40_000)], 2);
    let chosen = torrent(
        "chosen",
        vec![
            ("a.bin", 32 * 1024),
            ("b.bin", 32 * 1024),
            ("c.bin", 32 * 1024),
        ],
        3,
    );
    let waiting = torrent("waiting.bin", vec![("waiting.bin", 60_000)], 4);
    finished.write_content(&server.download_dir);
    seeding.write_content(&server.download_dir);
    client.add_torrent(&finished).await;
    client.add_torrent(&seeding).await;
    client.poll_state(&finished.info_hash, 3).await;
    client.poll_state(&seeding.info_hash, 3).await;
    client
        .ok("task.resume", json!({"task_id": seeding.info_hash}))
        .await;
    client.poll_state(&seeding.info_hash, 2).await;
    // A paused download whose file choice leaves one file out.
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": chosen.base64(), "paused": true}),
        )
        .await;
    client
        .ok(
            "task.setFiles",
            json!({"task_id": chosen.info_hash, "files": [0, 2]}),
        )
        .await;
    client.poll_state(&chosen.info_hash, 4).await;
    // A magnet whose only source is its x.pe peer, paused before it fetched anything; the
    // peer comes up only after the restart.
    let seeder_port = support::peers::free_port();
    let peer: std::net::SocketAddr = ([127, 0, 0, 1], seeder_port).into();
    client
        .ok(
            "task.add",
            json!({"type": "magnet", "uri": waiting.magnet(&[peer]), "paused": true}),
        )
        .await;
    client.poll_state(&waiting.info_hash, 4).await;
    client
        .ok(
            "session.setLimits",
            json!({"download_bps": 1_500_000, "upload_bps": 12_345}),
        )
        .await;
    let before = client.ok("task.list", Value::Null).await;
    let chosen_before = client
        .ok("task.getMetadata", json!({"task_id": chosen.info_hash}))
        .await;
    drop(client);
    server.stop().await;

    let mut server = start().await;
    assert_eq!(
        std::fs::read_to_string(data.join("token")).unwrap().trim(),
        token,
        "the generated token is kept"
    );
    // Without the token, a local client is refused: the setting held too.
    let mut outsider = Client::connect(&server.url).await;
    assert_eq!(outsider.error_code("task.list", Value::Null).await, -6);
    let mut client = connect(&server.url, &token).await;
    for (id, state) in [
        (&finished.info_hash, 3),
        (&seeding.info_hash, 2),
        (&chosen.info_hash, 4),
        (&waiting.info_hash, 4),
    ] {
        client.poll_state(id, state).await;
    }
    let after = client.ok("task.list", Value::Null).await;
    assert_eq!(kept_fields(&after), kept_fields(&before));
    let chosen_after = client
        .ok("task.getMetadata", json!({"task_id": chosen.info_hash}))
        .await;
    assert_eq!(chosen_after, chosen_before, "file choices are kept");
    let selected: Vec<bool> = chosen_after["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["selected"].as_bool().unwrap())
        .collect();
    assert_eq!(selected, [true, false, true]);
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(1_500_000), json!(12_345))
    );
    // The waiting magnet's peer, known only from its x.pe, comes up: resumed, it downloads.
    let _seeder = LibrqbitSeeder::start_on(&waiting, None, seeder_port).await;
    client
        .ok("task.resume", json!({"task_id": waiting.info_hash}))
        .await;
    client.poll_state(&waiting.info_hash, 3).await;
    waiting.assert_downloaded(&server.download_dir);
    server.stop().await;
}

/// The self-signed certificate is made once: a restart serves the same one, and says nothing
/// new about it. The expected fingerprint is computed by openssl, not by the code under test.
#[test]
fn the_self_signed_certificate_and_its_fingerprint_are_kept() {
    support::peers::require("openssl");
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let run = || {
        let mut child = support::serve_command(&data, &root.path().join("downloads"))
            .args(["--tls", "self-signed"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut guard = support::peers::ChildGuard(child);
        let (line, _) = support::read_line_within(std::io::BufReader::new(stdout));
        assert!(line.contains("wss://"), "{line}");
        // SIGTERM, then its stderr.
        Command::new("kill")
            .args(["-TERM", &guard.0.id().to_string()])
            .status()
            .unwrap();
        let _ = guard.0.wait();
        let mut stderr = String::new();
        use std::io::Read;
        guard
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        stderr
    };
    let openssl_fingerprint = || {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(data.join("tls/cert.pem"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.trim().rsplit('=').next().unwrap().to_owned()
    };
    let first = run();
    let fingerprint = openssl_fingerprint();
    assert!(
        first.contains(&fingerprint),
        "the first run prints the fingerprint: {first}"
    );
    let second = run();
    assert_eq!(openssl_fingerprint(), fingerprint, "the same certificate");
    assert!(
        !second.contains(&fingerprint),
        "a restart does not announce a new certificate: {second}"
    );
}
