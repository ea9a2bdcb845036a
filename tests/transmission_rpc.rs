//! `/transmission/rpc`, Transmission's RPC on Magnetar's port (docs/API.md section 12): Debian's
//! `transmission-remote` driving real downloads from real seeders, and raw HTTP for the
//! transport's rules (the 409 handshake, Basic auth, lockout, read-only tokens, bounds, bad
//! input), each on a server that keeps working. The expectations come from Transmission's
//! rpc-spec and from the seeders' content, never from the code under test.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::peers::{require, LibrqbitSeeder, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{poll_until, TestServer};

/// `transmission-remote HOST:PORT args...`: its standard output (stderr appended), and whether
/// it succeeded.
async fn remote(authority: &str, args: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new("transmission-remote");
    command.arg(authority).args(args);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("transmission-remote answers within a minute")
        .expect("transmission-remote runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

async fn remote_ok(authority: &str, args: &[&str]) -> String {
    let (ok, text) = remote(authority, args).await;
    assert!(ok, "transmission-remote {args:?} failed: {text}");
    text
}

/// The row of `-l`'s table for `name`: (id, percent, status).
fn list_row(listing: &str, name: &str) -> Option<(u64, String, String)> {
    listing.lines().find_map(|line| {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.last() != Some(&name) {
            return None;
        }
        let id = cells[0].trim_end_matches('*').parse().ok()?;
        // ID Done Have(2) ETA(1-2) Up Down Ratio Status(1-3) Name: the status is what is
        // between the ratio (a number) and the name.
        let ratio_at = cells.len()
            - 2
            - cells[..cells.len() - 1]
                .iter()
                .rev()
                .position(|c| c.parse::<f64>().is_ok() || *c == "None")?;
        let status = cells[ratio_at + 1..cells.len() - 1].join(" ");
        Some((id, cells[1].to_owned(), status))
    })
}

fn authority(server: &TestServer) -> String {
    server
        .http_base()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

async fn wait_listed(authority: &str, name: &str, percent: &str) -> (u64, String, String) {
    poll_until(
        &format!("{name} at {percent} in transmission-remote -l"),
        Duration::from_secs(120),
        Duration::from_millis(300),
        async || {
            let listing = remote_ok(authority, &["-l"]).await;
            match list_row(&listing, name) {
                Some(row) if row.1 == percent => Ok(row),
                _ => Err(listing),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transmission_remote_adds_lists_skips_stops_limits_and_removes() {
    require("transmission-remote");
    require("opentracker");
    // Three files on piece boundaries: skipping the middle one gets none of its bytes.
    let probe = TestTorrent::build(TorrentSpec {
        name: "show",
        files: vec![
            ("a.bin", 64 * 1024),
            ("b.bin", 64 * 1024),
            ("c.bin", 32 * 1024),
        ],
        single: false,
        piece_length: 16 * 1024,
        ..Default::default()
    });
    let tracker = Tracker::start(&[&probe.info_hash]);
    let show = TestTorrent::build(TorrentSpec {
        name: "show",
        files: vec![
            ("a.bin", 64 * 1024),
            ("b.bin", 64 * 1024),
            ("c.bin", 32 * 1024),
        ],
        single: false,
        piece_length: 16 * 1024,
        trackers: vec![tracker.announce.clone()],
        ..Default::default()
    });
    assert_eq!(
        show.info_hash, probe.info_hash,
        "the tracker list is outside the info dict"
    );
    let film = TestTorrent::build(TorrentSpec {
        name: "film.bin",
        files: vec![("film.bin", 200 * 1024)],
        seed: 7,
        ..Default::default()
    });
    let show_seeder = LibrqbitSeeder::start(&show).await;
    let film_seeder = LibrqbitSeeder::start(&film).await;
    let server = TestServer::start().await;
    let at = authority(&server);
    let mut ws = server.client().await;
    let files = tempfile::tempdir().unwrap();
    let torrent_file = files.path().join("show.torrent");
    show.save(&torrent_file);

    // -a file.torrent, paused, so that a file can be skipped before anything arrives.
    let added = remote_ok(
        &at,
        &["--start-paused", "-a", torrent_file.to_str().unwrap()],
    )
    .await;
    assert!(added.contains("success"), "{added}");
    let listing = remote_ok(&at, &["-l"]).await;
    let (id, percent, status) = list_row(&listing, "show").expect(&listing);
    assert_eq!(
        (id, percent.as_str(), status.as_str()),
        (1, "0%", "Stopped"),
        "{listing}"
    );
    remote_ok(&at, &["-t", "1", "-G", "1"]).await;
    let files_out = remote_ok(&at, &["-t", "1", "-f"]).await;
    let get_column: Vec<&str> = files_out
        .lines()
        .filter(|l| l.contains(".bin"))
        .map(|l| l.split_whitespace().nth(3).unwrap_or(""))
        .collect();
    assert_eq!(get_column, ["Yes", "No", "Yes"], "{files_out}");
    remote_ok(&at, &["-t", "1", "-s"]).await;
    let (_, _, status) = wait_listed(&at, "show", "100%").await;
    assert!(
        ["Seeding", "Idle", "Finished"].contains(&status.as_str()),
        "status {status:?}"
    );
    let dir = server.download_dir.join("show");
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), show.files[0].1);
    assert_eq!(std::fs::read(dir.join("c.bin")).unwrap(), show.files[2].1);
    let skipped = std::fs::read(dir.join("b.bin")).unwrap_or_default();
    assert_ne!(
        skipped, show.files[1].1,
        "the skipped file was not downloaded"
    );
    assert!(
        skipped.iter().all(|b| *b == 0),
        "no byte of the skipped file arrived"
    );

    // -i and -f describe it.
    let info = remote_ok(&at, &["-t", "1", "-i"]).await;
    assert!(info.contains("Name: show"), "{info}");
    assert!(
        info.contains(&format!("Hash: {}", show.info_hash)),
        "{info}"
    );
    assert!(
        info.contains(&format!("Location: {}", server.download_dir.display())),
        "{info}"
    );
    let files_out = remote_ok(&at, &["-t", "1", "-f"]).await;
    assert!(
        files_out.contains("a.bin") && files_out.contains("c.bin"),
        "{files_out}"
    );

    // -S stops it (state 4 for the WebSocket API), -s starts it again.
    remote_ok(&at, &["-t", "1", "-S"]).await;
    ws.poll_state(&show.info_hash, 4).await;
    let listing = remote_ok(&at, &["-l"]).await;
    assert_eq!(
        list_row(&listing, "show").unwrap().2,
        "Stopped",
        "{listing}"
    );
    remote_ok(&at, &["-t", "1", "-s"]).await;
    ws.poll_state(&show.info_hash, 2).await;

    // -a magnet (its x.pe names the seeder): number 2.
    let magnet = film.magnet(&[film_seeder.addr]);
    remote_ok(&at, &["--no-start-paused", "-a", &magnet]).await;
    let (id, _, _) = wait_listed(&at, "film.bin", "100%").await;
    assert_eq!(id, 2);
    film.assert_downloaded(&server.download_dir);

    // Limits: -d/-u in kB/s (1000 bytes), -D/-U off, -as/-AS the alternate limits.
    remote_ok(&at, &["-d", "300", "-u", "40"]).await;
    let info = ws.ok("session.info", json!(null)).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(300_000), json!(40_000))
    );
    remote_ok(&at, &["-as"]).await;
    let info = ws.ok("session.info", json!(null)).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(50_000), json!(50_000)),
        "Transmission's default alternate limits"
    );
    let session = remote_ok(&at, &["-si"]).await;
    assert!(session.contains("Download speed limit: 50 kB/s (Enabled limit: 300 kB/s; Enabled turtle limit: 50 kB/s)"), "{session}");
    remote_ok(&at, &["-AS"]).await;
    let info = ws.ok("session.info", json!(null)).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(300_000), json!(40_000))
    );
    remote_ok(&at, &["-D", "-U"]).await;
    let info = ws.ok("session.info", json!(null)).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(null), json!(null))
    );

    // -si and -st.
    let session = remote_ok(&at, &["-si"]).await;
    assert!(session.contains("Magnetar"), "{session}");
    assert!(
        session.contains(&format!(
            "Download directory: {}",
            server.download_dir.display()
        )),
        "{session}"
    );
    let stats = remote_ok(&at, &["-st"]).await;
    assert!(
        stats.contains("CURRENT SESSION") && stats.contains("Downloaded:"),
        "{stats}"
    );

    // --remove-and-delete: the task and its file are gone.
    remote_ok(&at, &["-t", "2", "--remove-and-delete"]).await;
    poll_until(
        "film.bin deleted",
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            if server.download_dir.join("film.bin").exists() {
                Err("still there")
            } else {
                Ok(())
            }
        },
    )
    .await;
    let listing = remote_ok(&at, &["-l"]).await;
    assert!(list_row(&listing, "film.bin").is_none(), "{listing}");
    assert!(list_row(&listing, "show").is_some(), "{listing}");
    drop((show_seeder, film_seeder, tracker));
}

/// One raw POST to /transmission/rpc: (status, session id header, body).
async fn post(
    base: &str,
    session: Option<&str>,
    auth: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Option<String>, String) {
    let client = reqwest::Client::new();
    let mut request = client.post(format!("{base}/transmission/rpc")).body(body);
    if let Some(id) = session {
        request = request.header("X-Transmission-Session-Id", id);
    }
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-transmission-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, id, response.text().await.unwrap())
}

async fn session_id(base: &str, auth: Option<&str>) -> String {
    let (status, id, _) = post(base, None, auth, "{}").await;
    assert_eq!(status, 409);
    id.expect("a 409 carries the session id")
}

async fn call(base: &str, id: &str, request: Value) -> Value {
    let (status, _, body) = post(base, Some(id), None, request.to_string()).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn the_transport_handshake_bounds_and_bad_input() {
    let server = TestServer::start().await;
    let base = server.http_base();
    let base = base.trim_end_matches('/');
    let id = session_id(base, None).await;
    // A wrong session id: 409 again, with the right one.
    let (status, again, _) = post(base, Some("nope"), None, "{}").await;
    assert_eq!((status, again.as_deref()), (409, Some(id.as_str())));
    // tag is echoed; old names answered in old names, rpc-version 18 names in snake_case.
    let answer = call(
        base,
        &id,
        json!({"method": "session-get", "tag": 7, "arguments": {"fields": ["rpc-version", "download-dir", "seedRatioLimited"]}}),
    )
    .await;
    assert_eq!(answer["result"], "success");
    assert_eq!(answer["tag"], 7);
    assert_eq!(answer["arguments"]["rpc-version"], 17);
    assert!(answer["arguments"]["download-dir"].is_string(), "{answer}");
    assert_eq!(answer["arguments"]["seedRatioLimited"], false);
    let answer = call(
        base,
        &id,
        json!({"jsonrpc": "2.0", "id": 3, "method": "session_get", "params": {"fields": ["rpc_version", "download_dir"]}}),
    )
    .await;
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["result"]["rpc_version"], 18);
    assert!(answer["result"]["download_dir"].is_string(), "{answer}");

    // Bad input, each answered, none fatal.
    let unknown = call(base, &id, json!({"method": "torrent-frobnicate"})).await;
    assert!(
        unknown["result"]
            .as_str()
            .unwrap()
            .contains("not recognized"),
        "{unknown}"
    );
    for (request, word) in [
        (
            json!({"method": "torrent-get", "arguments": {"fields": "name"}}),
            "fields",
        ),
        (
            json!({"method": "torrent-get", "arguments": {"fields": ["id"], "ids": {"a": 1}}}),
            "ids",
        ),
        (
            json!({"method": "torrent-remove", "arguments": {"ids": [1], "delete-local-data": "yes"}}),
            "delete-local-data",
        ),
        (
            json!({"method": "torrent-add", "arguments": {"filename": 5}}),
            "filename",
        ),
        (
            json!({"method": "torrent-add", "arguments": {"metainfo": "!!!"}}),
            "metainfo",
        ),
        (
            // Port 9 (discard) on loopback: nothing listens.
            json!({"method": "torrent-add", "arguments": {"filename": "http://127.0.0.1:9/x.torrent"}}),
            "cannot fetch",
        ),
        (
            json!({"method": "session-set", "arguments": {"speed-limit-down": "fast"}}),
            "speed_limit_down",
        ),
        (
            json!({"method": "session-set", "arguments": {"encryption": "required"}}),
            "encryption",
        ),
        (json!({"method": "session-close"}), "refused"),
        (json!({"method": 5}), "method"),
        (
            json!({"method": "free-space", "arguments": {"path": "/etc"}}),
            "not under",
        ),
    ] {
        let answer = call(base, &id, request.clone()).await;
        let result = answer["result"].as_str().unwrap();
        assert_ne!(result, "success", "{request}");
        assert!(result.contains(word), "{request}: {result}");
    }
    let (status, _, body) = post(base, Some(&id), None, "{not json").await;
    assert_eq!(status, 200);
    assert!(body.contains("not valid JSON"), "{body}");
    // 1 MiB of junk JSON: parsed (under the default 16 MiB max_message_bytes) and refused.
    let junk = "[".repeat(1024 * 1024 + 10);
    let (status, _, body) = post(base, Some(&id), None, junk).await;
    assert_eq!(status, 200);
    assert!(body.contains("not valid JSON"), "{body}");
    // More than max_message_bytes: refused by size, before it is parsed.
    let (status, _, _) = post(base, Some(&id), None, vec![b' '; 16 * 1024 * 1024 + 1]).await;
    assert_eq!(status, 413);
    // free-space under the download folder works.
    std::fs::create_dir_all(&server.download_dir).unwrap();
    let answer = call(
        base,
        &id,
        json!({"method": "free-space", "arguments": {"path": server.download_dir}}),
    )
    .await;
    assert!(
        answer["arguments"]["size-bytes"].as_u64().unwrap() > 0,
        "{answer}"
    );
    // Still working.
    let answer = call(
        base,
        &id,
        json!({"method": "torrent-get", "arguments": {"fields": ["id"]}}),
    )
    .await;
    assert_eq!(answer["arguments"]["torrents"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torrent_get_fields_ids_and_table_format() {
    let torrent = TestTorrent::build(TorrentSpec {
        name: "pack",
        files: vec![("one.bin", 48 * 1024), ("two.bin", 16 * 1024)],
        single: false,
        piece_length: 16 * 1024,
        comment: Some("a comment"),
        created_by: Some("a creator"),
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start(&torrent).await;
    let server = TestServer::start().await;
    let base = server.http_base();
    let base = base.trim_end_matches('/');
    let id = session_id(base, None).await;
    let add =
        json!({"method": "torrent-add", "arguments": {"filename": torrent.magnet(&[seeder.addr])}});
    let answer = call(base, &id, add.clone()).await;
    assert_eq!(answer["result"], "success", "{answer}");
    let added = &answer["arguments"]["torrent-added"];
    assert_eq!(added["hashString"], torrent.info_hash.as_str());
    assert_eq!(added["id"], 1);
    let again = call(base, &id, add).await;
    assert_eq!(again["arguments"]["torrent-duplicate"]["id"], 1, "{again}");
    let mut ws = server.client().await;
    ws.poll_state(&torrent.info_hash, 2).await;
    let fields = json!([
        "id",
        "hashString",
        "name",
        "status",
        "percentDone",
        "totalSize",
        "files",
        "fileStats",
        "wanted",
        "comment",
        "creator",
        "pieceCount",
        "pieceSize",
        "magnetLink",
        "labels",
        "isFinished",
        "leftUntilDone",
        "downloadDir",
        "downloadedEver"
    ]);
    let answer = call(base, &id, json!({"method": "torrent-get", "arguments": {"ids": [torrent.info_hash], "fields": fields}})).await;
    let t = &answer["arguments"]["torrents"][0];
    assert_eq!(t["id"], 1);
    assert_eq!(t["name"], "pack");
    assert_eq!(t["status"], 6, "seeding");
    assert_eq!(t["percentDone"], 1.0);
    assert_eq!(t["totalSize"], 64 * 1024);
    assert_eq!(t["leftUntilDone"], 0);
    assert_eq!(t["isFinished"], false);
    assert_eq!(t["pieceCount"], 4);
    assert_eq!(t["pieceSize"], 16 * 1024);
    assert_eq!(t["files"][1]["name"], "two.bin");
    assert_eq!(t["files"][1]["length"], 16 * 1024);
    assert_eq!(t["fileStats"][0]["bytesCompleted"], 48 * 1024);
    assert_eq!(t["wanted"], json!([1, 1]));
    assert_eq!(t["labels"], json!([]));
    assert!(t["magnetLink"]
        .as_str()
        .unwrap()
        .contains(&torrent.info_hash));
    assert_eq!(t["downloadDir"], server.download_dir.to_str().unwrap());
    assert!(t["downloadedEver"].as_u64().unwrap() >= 64 * 1024);
    // A .torrent's comment and creator (a magnet's metadata has neither: they are outside the
    // info dictionary).
    let other = TestTorrent::build(TorrentSpec {
        comment: Some("a comment"),
        created_by: Some("a creator"),
        seed: 9,
        ..Default::default()
    });
    let answer = call(
        base,
        &id,
        json!({"method": "torrent-add", "arguments": {"metainfo": other.base64(), "paused": true}}),
    )
    .await;
    assert_eq!(answer["arguments"]["torrent-added"]["id"], 2, "{answer}");
    let answer = call(base, &id, json!({"method": "torrent-get", "arguments": {"ids": [2], "fields": ["comment", "creator", "status", "percentDone"]}})).await;
    assert_eq!(
        answer["arguments"]["torrents"],
        json!([{"comment": "a comment", "creator": "a creator", "status": 0, "percentDone": 0.0}])
    );
    // snake_case fields answer in snake_case; the table format has a header row.
    let answer = call(base, &id, json!({"method": "torrent-get", "arguments": {"ids": 1, "fields": ["id", "hash_string"], "format": "table"}})).await;
    assert_eq!(
        answer["arguments"]["torrents"],
        json!([["id", "hash_string"], [1, torrent.info_hash]])
    );
    // recently-active, then removed: its number is listed in `removed`.
    let answer = call(
        base,
        &id,
        json!({"method": "torrent-remove", "arguments": {"ids": [1]}}),
    )
    .await;
    assert_eq!(answer["result"], "success");
    let answer = call(
        base,
        &id,
        json!({"method": "torrent-get", "arguments": {"ids": "recently-active", "fields": ["id"]}}),
    )
    .await;
    assert_eq!(answer["arguments"]["removed"], json!([1]), "{answer}");
    drop(seeder);
}

#[tokio::test]
async fn loopback_needs_token_basic_auth_read_only_and_lockout() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("data")).unwrap();
    std::fs::write(
        root.path().join("data/settings.json"),
        r#"{"loopback_needs_token": true, "read_only_token": "look-only-token-123"}"#,
    )
    .unwrap();
    let server = TestServer::start_with(root.path(), |o| {
        o.token = Some(magnetar::config::Secret::new("full-token-abcdef-123"));
    })
    .await;
    let base = server.http_base();
    let base = base.trim_end_matches('/');
    let basic = |password: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("anyone:{password}"))
        )
    };
    // No token: 401 before any session id.
    let (status, _, _) = post(base, None, None, "{}").await;
    assert_eq!(status, 401);
    // The full token as the password: the handshake, then a write.
    let full = basic("full-token-abcdef-123");
    let (status, id, _) = post(base, None, Some(&full), "{}").await;
    assert_eq!(status, 409);
    let id = id.unwrap();
    let get = json!({"method": "torrent-get", "arguments": {"fields": ["id"]}}).to_string();
    let (status, _, body) = post(base, Some(&id), Some(&full), get.clone()).await;
    assert_eq!(status, 200, "{body}");
    // The read-only token reads, and cannot remove.
    let read_only = basic("look-only-token-123");
    let (status, _, _) = post(base, Some(&id), Some(&read_only), get.clone()).await;
    assert_eq!(status, 200);
    let remove = json!({"method": "torrent-remove", "arguments": {"ids": [1]}}).to_string();
    let torrent = TestTorrent::build(TorrentSpec::default());
    let add = json!({"method": "torrent-add", "arguments": {"metainfo": torrent.base64(), "paused": true}}).to_string();
    let (_, _, body) = post(base, Some(&id), Some(&read_only), add.clone()).await;
    assert!(body.contains("read-only"), "{body}");
    let (_, _, body) = post(base, Some(&id), Some(&full), add).await;
    assert!(body.contains("torrent-added"), "{body}");
    let (_, _, body) = post(base, Some(&id), Some(&read_only), remove).await;
    assert!(body.contains("read-only"), "{body}");
    // Nor can it have the server fetch a URL (probe its network): refused before any request.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x.torrent", probe.local_addr().unwrap());
    let fetch = json!({"method": "torrent-add", "arguments": {"filename": url}});
    let (_, _, body) = post(base, Some(&id), Some(&read_only), fetch.to_string()).await;
    assert!(body.contains("read-only"), "{body}");
    let reached = tokio::time::timeout(Duration::from_millis(500), probe.accept()).await;
    assert!(
        reached.is_err(),
        "the server fetched for a read-only caller"
    );
    // A task's own ratio goal, set with the full token, reads the same with the read-only one.
    let set = json!({"method": "torrent-set", "arguments": {"ids": [torrent.info_hash],
        "seedRatioMode": 1, "seedRatioLimit": 1.5}});
    let (_, _, body) = post(base, Some(&id), Some(&full), set.to_string()).await;
    assert!(body.contains("success"), "{body}");
    let goal = json!({"method": "torrent-get", "arguments": {"ids": [torrent.info_hash],
        "fields": ["seedRatioMode", "seedRatioLimit"]}});
    for (who, auth) in [("full", &full), ("read-only", &read_only)] {
        let (_, _, body) = post(base, Some(&id), Some(auth), goal.to_string()).await;
        let answer: Value = serde_json::from_str(&body).unwrap();
        let torrent = &answer["arguments"]["torrents"][0];
        assert_eq!(torrent["seedRatioMode"], 1, "{who}: {body}");
        assert_eq!(torrent["seedRatioLimit"], 1.5, "{who}: {body}");
    }
    // Wrong tokens count towards the lockout: then even the right one is refused for a while.
    let mut statuses = Vec::new();
    for _ in 0..magnetar::config::LOCKOUT_FAILURES {
        statuses.push(
            post(base, Some(&id), Some(&basic("wrong")), get.clone())
                .await
                .0,
        );
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let (status, _, body) = post(base, Some(&id), Some(&full), get.clone()).await;
    assert_eq!(status, 401, "locked out: {body}");
    assert!(body.contains("locked out"), "{body}");
}

/// From another machine (a network namespace): `transmission-remote --auth user:TOKEN` works,
/// and without it the server refuses.
#[tokio::test]
async fn transmission_remote_from_another_machine_needs_the_token() {
    require("transmission-remote");
    let Some(server) =
        support::netns::RemoteServer::start(r#"{"token": "remote-token-0123456789"}"#, &[])
    else {
        return;
    };
    let at = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let (ok, text) = remote(&at, &["-l"]).await;
    assert!(
        !ok || text.contains("401"),
        "refused without the token: {text}"
    );
    assert!(
        text.contains("401") || text.contains("Unauthorized"),
        "{text}"
    );
    let listing = remote_ok(&at, &["--auth", "someone:remote-token-0123456789", "-l"]).await;
    assert!(listing.contains("Sum:"), "{listing}");
    let (ok, text) = remote(
        &at,
        &["--auth", "someone:remote-token-0123456789", "-d", "10"],
    )
    .await;
    assert!(
        !ok || text.contains("remote_admin"),
        "session-set needs remote_admin: {text}"
    );
    assert!(text.contains("remote_admin"), "{text}");
}

/// The `transmission-rpc` Python library (in a virtualenv under target/, installed from PyPI on
/// first use) drives a whole cycle: see tests/transmission/drive.py.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_transmission_rpc_python_library_drives_a_full_cycle() {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py-trpc");
    let python = venv.join("bin/python");
    let installed = std::process::Command::new(&python)
        .args(["-c", "import transmission_rpc"])
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        let made = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let pip = std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "transmission-rpc"])
            .status()
            .expect("pip runs");
        assert!(pip.success(), "pip install transmission-rpc failed");
    }
    let show = TestTorrent::build(TorrentSpec {
        name: "episode",
        files: vec![("e1.bin", 64 * 1024), ("e1.nfo", 1000)],
        single: false,
        piece_length: 16 * 1024,
        seed: 11,
        ..Default::default()
    });
    let spec = || TorrentSpec {
        name: "movie.bin",
        files: vec![("movie.bin", 96 * 1024)],
        seed: 12,
        ..Default::default()
    };
    // The .torrent finds its seeder through a tracker on loopback.
    let tracker = Tracker::start(&[&TestTorrent::build(spec()).info_hash]);
    let film = TestTorrent::build(TorrentSpec {
        trackers: vec![tracker.announce.clone()],
        ..spec()
    });
    let show_seeder = LibrqbitSeeder::start(&show).await;
    let film_seeder = LibrqbitSeeder::start(&film).await;
    let server = TestServer::start().await;
    let mut ws = server.client().await;
    ws.ok("session.setLabels", json!({"labels": [{"name": "tv"}]}))
        .await;
    let folder = server.download_dir.join("tv-shows");
    let files = tempfile::tempdir().unwrap();
    let torrent_path = files.path().join("movie.torrent");
    film.save(&torrent_path);
    let port = server
        .http_base()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transmission/drive.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&port)
        .arg(&folder)
        .arg(show.magnet(&[show_seeder.addr]))
        .arg(&torrent_path)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .expect("the script ends in time")
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "drive.py failed: {stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert!(
        seen["version"].as_str().unwrap().starts_with("3.00"),
        "{seen}"
    );
    assert_eq!(seen["ids"], json!([1, 2]));
    assert_eq!(seen["names"], json!(["episode", "movie.bin"]));
    assert_eq!(seen["labels"], json!([["tv"], ["tv"]]));
    assert_eq!(seen["dirs"], json!([folder, folder]));
    assert_eq!(seen["ratio"], json!([2.5, 1]));
    assert_eq!(seen["left"], json!([]));
    assert!(
        !folder.join("episode").exists(),
        "the magnet's data was deleted"
    );
    assert!(
        !folder.join("movie.bin").exists(),
        "the metainfo's data was deleted"
    );
    drop((show_seeder, film_seeder, tracker));
}

/// An indexer on loopback for `torrent-add`'s URLs: a .torrent, a relative redirect to it, a
/// redirect to a magnet link, a redirect loop, a 404, a page that is no torrent, a .torrent
/// behind a cookie, and two bodies over 16 MiB (one announced by Content-Length, one endless),
/// each counting what it was asked for or sent.
struct Indexer {
    base: String,
    loop_hops: Arc<AtomicUsize>,
    huge_chunks: Arc<AtomicUsize>,
    endless_chunks: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl Indexer {
    async fn start(torrent: Vec<u8>, magnet: String) -> Indexer {
        use axum::body::Body;
        use axum::http::{header, HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        use axum::routing::get;
        /// 1 MiB chunks, counted as they are made: the count says where the reader stopped.
        fn counted(chunks: usize, counter: Arc<AtomicUsize>) -> Body {
            Body::from_stream(futures::stream::iter((0..chunks).map(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(vec![b'd'; 1024 * 1024])
            })))
        }
        let loop_hops = Arc::new(AtomicUsize::new(0));
        let huge_chunks = Arc::new(AtomicUsize::new(0));
        let endless_chunks = Arc::new(AtomicUsize::new(0));
        let (hops, huge, endless) = (
            loop_hops.clone(),
            huge_chunks.clone(),
            endless_chunks.clone(),
        );
        let private = torrent.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/dl/film.torrent", get(move || async move { torrent }))
            .route(
                "/dl/film",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "film.torrent")]) }),
            )
            .route(
                "/dl/clip",
                get(move || async move {
                    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, magnet)])
                }),
            )
            .route(
                "/dl/loop/{n}",
                get(
                    move |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                        hops.fetch_add(1, Ordering::SeqCst);
                        let next = format!("/dl/loop/{}", n + 1);
                        (StatusCode::FOUND, [(header::LOCATION, next)])
                    },
                ),
            )
            .route("/dl/page", get(|| async { "<html>Please log in</html>" }))
            .route(
                "/dl/private.torrent",
                get(move |headers: HeaderMap| async move {
                    let cookie = headers.get(header::COOKIE).and_then(|c| c.to_str().ok());
                    if cookie.is_some_and(|c| c.split("; ").any(|kv| kv == "session=s3cret")) {
                        private.into_response()
                    } else {
                        StatusCode::FORBIDDEN.into_response()
                    }
                }),
            )
            .route(
                "/dl/huge.torrent",
                get(move || async move {
                    let length = (20 * 1024 * 1024).to_string();
                    ([(header::CONTENT_LENGTH, length)], counted(20, huge))
                }),
            )
            .route(
                "/dl/endless.torrent",
                get(move || async move { counted(64, endless) }),
            )
            .route(
                "/dl/elsewhere",
                get(move || async move {
                    // The same indexer under another name: another origin.
                    let there = format!("http://localhost:{port}/dl/private.torrent");
                    (StatusCode::FOUND, [(header::LOCATION, there)])
                }),
            )
            .route(
                "/dl/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    StatusCode::NOT_FOUND
                }),
            );
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Indexer {
            base,
            loop_hops,
            huge_chunks,
            endless_chunks,
            _server: server,
        }
    }
}

/// `torrent-add` with `filename` an http(s) URL, as Sonarr, Radarr and Prowlarr send indexer
/// links: `transmission-remote -a URL` through a relative redirect (the .torrent downloads
/// from its seeder), a redirect to a magnet link (taken as the magnet), a cookie, and every
/// bound: a redirect loop stops after 5 hops, a 404 and a page that is no torrent are clear
/// errors, bodies over 16 MiB are refused without being read to the end. The server keeps
/// working throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torrent_add_fetches_urls_within_bounds() {
    require("transmission-remote");
    require("opentracker");
    let spec = || TorrentSpec {
        name: "fetched-film.bin",
        files: vec![("fetched-film.bin", 128 * 1024)],
        seed: 21,
        ..Default::default()
    };
    let tracker = Tracker::start(&[&TestTorrent::build(spec()).info_hash]);
    let film = TestTorrent::build(TorrentSpec {
        trackers: vec![tracker.announce.clone()],
        ..spec()
    });
    let clip = TestTorrent::build(TorrentSpec {
        name: "redirected-clip.bin",
        files: vec![("redirected-clip.bin", 96 * 1024)],
        seed: 22,
        ..Default::default()
    });
    let film_seeder = LibrqbitSeeder::start(&film).await;
    let clip_seeder = LibrqbitSeeder::start(&clip).await;
    let indexer = Indexer::start(film.bytes.clone(), clip.magnet(&[clip_seeder.addr])).await;
    let server = TestServer::start().await;
    let at = authority(&server);
    let base = server.http_base();
    let mut ws = server.client().await;

    // transmission-remote -a URL: a redirect to a relative Location, then the .torrent.
    remote_ok(&at, &["-a", &format!("{}/dl/film", indexer.base)]).await;
    ws.poll_state(&film.info_hash, 2).await;
    film.assert_downloaded(&server.download_dir);

    // A redirect to a magnet link is the magnet.
    let id = session_id(&base, None).await;
    let add = |url: String, extra: Value| {
        let mut arguments = json!({"filename": url});
        arguments
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"method": "torrent-add", "arguments": arguments})
    };
    let answer = call(
        &base,
        &id,
        add(format!("{}/dl/clip", indexer.base), json!({})),
    )
    .await;
    assert_eq!(answer["result"], "success", "{answer}");
    assert_eq!(
        answer["arguments"]["torrent-added"]["hashString"],
        clip.info_hash
    );
    ws.poll_state(&clip.info_hash, 2).await;
    clip.assert_downloaded(&server.download_dir);

    // A cookie: refused without it, a duplicate (the film is there) with it.
    let private = format!("{}/dl/private.torrent", indexer.base);
    let answer = call(&base, &id, add(private.clone(), json!({}))).await;
    assert!(
        answer["result"].as_str().unwrap().contains("403"),
        "{answer}"
    );
    let answer = call(
        &base,
        &id,
        add(private, json!({"cookies": "lang=en; session=s3cret"})),
    )
    .await;
    assert_eq!(answer["result"], "success", "{answer}");
    assert_eq!(
        answer["arguments"]["torrent-duplicate"]["hashString"],
        film.info_hash
    );

    // The cookie goes to the indexer's origin only: not to the host a redirect names.
    let elsewhere = format!("{}/dl/elsewhere", indexer.base);
    let answer = call(
        &base,
        &id,
        add(elsewhere, json!({"cookies": "session=s3cret"})),
    )
    .await;
    assert!(
        answer["result"].as_str().unwrap().contains("403"),
        "the cookie followed the redirect: {answer}"
    );

    // At most 4 fetches at once: a fifth is refused at once, not queued.
    let slow = format!("{}/dl/slow", indexer.base);
    let answers =
        futures::future::join_all((0..5).map(|_| call(&base, &id, add(slow.clone(), json!({})))))
            .await;
    let refused = answers
        .iter()
        .filter(|a| a["result"].as_str().unwrap().contains("running already"))
        .count();
    assert_eq!(refused, 1, "{answers:?}");

    // Every bound, each a clear error.
    let cases = [
        ("/dl/loop/0", "redirects more than 5 times"),
        ("/dl/missing.torrent", "404"),
        ("/dl/page", "torrent"),
        ("/dl/huge.torrent", "larger than 16 MiB"),
        ("/dl/endless.torrent", "larger than 16 MiB"),
    ];
    for (path, expected) in cases {
        let answer = call(
            &base,
            &id,
            add(format!("{}{path}", indexer.base), json!({})),
        )
        .await;
        let result = answer["result"].as_str().unwrap();
        assert!(result.contains(expected), "{path}: {answer}");
        assert!(
            !result.contains("d".repeat(64).as_str()),
            "{path}: the body is echoed"
        );
    }
    assert_eq!(
        indexer.loop_hops.load(Ordering::SeqCst),
        6,
        "the first hop and 5 redirects"
    );
    let huge = indexer.huge_chunks.load(Ordering::SeqCst);
    let endless = indexer.endless_chunks.load(Ordering::SeqCst);
    println!(
        "chunks of 1 MiB made: {huge} of 20 announced by Content-Length, {endless} of 64 sent"
    );
    assert!(endless < 64, "the endless body was read to its end");
    let bad_cookie = call(
        &base,
        &id,
        add(
            format!("{}/dl/film.torrent", indexer.base),
            json!({"cookies": "a=b\r\nX-Injected: 1"}),
        ),
    )
    .await;
    assert!(
        bad_cookie["result"].as_str().unwrap().contains("cookies"),
        "{bad_cookie}"
    );
    let ids: Vec<Value> = ws
        .ok("task.list", Value::Null)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "only the film and the clip: {ids:?}");
    drop((film_seeder, clip_seeder, tracker));
}
