//! Every method and event of the API against a real server, without peers.

mod support;

use serde_json::{json, Value};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{assert_error_shape, TestServer};

fn multi_file_torrent() -> TestTorrent {
    TestTorrent::build(TorrentSpec {
        name: "album",
        files: vec![
            ("cd1/track 1.flac", 70_000),
            ("cd1/track 2.flac", 50_000),
            ("cover.jpg", 3_000),
        ],
        single: false,
        piece_length: 16 * 1024,
        created_by: Some("mktorrent 1.1"),
        comment: Some("a comment, with ünïcode"),
        seed: 7,
        ..Default::default()
    })
}

#[tokio::test]
async fn add_torrent_reports_metadata_status_and_events_to_every_client() {
    let server = TestServer::start().await;
    let mut alice = server.client().await;
    let mut bob = server.client().await;
    let torrent = multi_file_torrent();
    let id = torrent.info_hash.clone();

    // task.add answers null (add_torrent checks it); the task is announced by events.
    alice.add_torrent(&torrent).await;

    let expected_meta = json!({
        "id": id,
        "name": "album",
        "creator": "mktorrent 1.1",
        "comment": "a comment, with ünïcode",
        "files": [
            {"path": "cd1/track 1.flac", "size": 70000, "selected": true},
            {"path": "cd1/track 2.flac", "size": 50000, "selected": true},
            {"path": "cover.jpg", "size": 3000, "selected": true}
        ],
        "download_dir": server.download_dir.canonicalize().unwrap(),
        "ready": true,
        "magnet": format!("magnet:?xt=urn:btih:{id}&dn=album")
    });
    for client in [&mut alice, &mut bob] {
        let created = client.wait_event("task.created", |d| d["id"] == id).await;
        assert_eq!(created["data"], expected_meta);
    }
    assert_eq!(
        alice.ok("task.getMetadata", json!({"task_id": id})).await,
        expected_meta
    );
    // Ids are hex: an upper-case id finds the same task.
    assert_eq!(
        alice
            .ok("task.getMetadata", json!({"task_id": id.to_uppercase()}))
            .await,
        expected_meta
    );

    // No peers: it starts downloading and stays there. Both clients see 0 -> 1.
    for client in [&mut alice, &mut bob] {
        let event = client.wait_state(&id, 1).await;
        assert_eq!(event["data"]["old_state"], 0);
    }
    let summary = alice.summary(&id).await;
    for field in [
        "id",
        "name",
        "state",
        "total_bytes",
        "dl_bytes",
        "dl_speed",
        "ul_bytes",
        "ul_speed",
        "connected_peers",
        "connected_seeds",
    ] {
        assert!(
            summary.get(field).is_some(),
            "summary lacks {field}: {summary}"
        );
    }
    assert_eq!(summary["total_bytes"], 123_000);
    assert_eq!(summary["dl_bytes"], 0);
    assert_eq!(summary["state"], 1);

    let status = alice.ok("task.getStatus", json!({"task_id": id})).await;
    assert_eq!(
        status["pieces"].as_array().unwrap().len(),
        torrent.piece_count()
    );
    assert!(status["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p == false));
    assert_eq!(status["files"], json!([0, 0, 0]));
    assert_eq!(status["peers"], json!([]));

    // A second add of the same torrent is refused and creates nothing.
    let code = bob
        .error_code(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64()}),
        )
        .await;
    assert_eq!(code, -5);
    assert_eq!(
        bob.ok("task.list", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn pause_resume_remove_and_their_events() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut watcher = server.client().await;
    let torrent = multi_file_torrent();
    let id = torrent.info_hash.clone();
    // The content is already in the download folder: the task checks it and seeds.
    torrent.write_content(&server.download_dir);
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;
    assert_eq!(client.summary(&id).await["dl_bytes"], 123_000);
    let status = client.status(&id).await;
    let (held, count) = support::pieces_held(&status);
    assert!(held == count && count > 0, "{status}");
    assert_eq!(status["files"], json!([70000, 50000, 3000]));

    client.ok("task.pause", json!({"task_id": id})).await;
    client.wait_state(&id, 4).await;
    // Pausing again is harmless and announces nothing new.
    client.ok("task.pause", json!({"task_id": id})).await;
    client.ok("task.resume", json!({"task_id": id})).await;
    let resumed = client.wait_state(&id, 2).await;
    assert_eq!(resumed["data"]["old_state"], 4);
    // Back to back, with no time for the watcher to look: both transitions are still announced.
    client.ok("task.pause", json!({"task_id": id})).await;
    client.ok("task.resume", json!({"task_id": id})).await;
    client.wait_state(&id, 4).await;
    let quick = client.wait_state(&id, 2).await;
    assert_eq!(quick["data"]["old_state"], 4);

    client
        .ok("task.remove", json!({"task_id": id, "delete_files": true}))
        .await;
    for c in [&mut client, &mut watcher] {
        let removed = c.wait_event("task.removed", |d| d["task_id"] == id).await;
        assert_eq!(removed["data"], json!({"task_id": id}));
    }
    assert_eq!(client.ok("task.list", Value::Null).await, json!([]));
    assert!(!server.download_dir.join("album").join("cover.jpg").exists());
    assert_eq!(
        client
            .error_code("task.getStatus", json!({"task_id": id}))
            .await,
        -4
    );

    // The watcher saw every transition exactly once, and never old == new.
    let transitions = watcher.transitions(&id);
    assert!(
        transitions.iter().all(|(old, new)| old != new),
        "{transitions:?}"
    );
    let paused_count = transitions.iter().filter(|(_, new)| *new == 4).count();
    assert_eq!(paused_count, 2, "{transitions:?}");
}

#[tokio::test]
async fn magnet_task_exists_at_once_with_its_name() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let hash = "0123456789abcdef0123456789abcdef01234567";
    // A tracker that is not there: the task keeps waiting for metadata (state 0).
    client
        .ok(
            "task.add",
            json!({"type": "magnet", "uri": format!("magnet:?xt=urn:btih:{hash}&dn=Some%20Name&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce")}),
        )
        .await;
    let created = client.wait_event("task.created", |d| d["id"] == hash).await;
    assert_eq!(
        created["data"],
        json!({"id": hash, "name": "Some Name", "creator": "", "comment": "", "files": [], "ready": false,
               "download_dir": server.download_dir.canonicalize().unwrap(),
               "magnet": format!("magnet:?xt=urn:btih:{hash}&dn=Some%20Name&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce")})
    );
    let summary = client.summary(hash).await;
    assert_eq!(summary["state"], 0);
    assert_eq!(summary["name"], "Some Name");
    let status = client.ok("task.getStatus", json!({"task_id": hash})).await;
    assert_eq!(
        status,
        json!({"pieces": [], "files": [], "selected": [], "peers": []})
    );
    let metadata = client
        .ok("task.getMetadata", json!({"task_id": hash}))
        .await;
    assert_eq!(metadata["ready"], false);

    // Paused before metadata: state 4; resumed: back to 0.
    client.ok("task.pause", json!({"task_id": hash})).await;
    client.wait_state(hash, 4).await;
    client.ok("task.resume", json!({"task_id": hash})).await;
    client.wait_state(hash, 0).await;

    // The same hash again, even as a bare upper-case hash, is the same task.
    let code = client
        .error_code(
            "task.add",
            json!({"type": "magnet", "uri": hash.to_uppercase()}),
        )
        .await;
    assert_eq!(code, -5);
    client
        .ok(
            "task.remove",
            json!({"task_id": hash, "delete_files": false}),
        )
        .await;
    client
        .wait_event("task.removed", |d| d["task_id"] == hash)
        .await;
}

#[tokio::test]
async fn bare_info_hash_is_accepted_as_a_magnet() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let hash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    client.add_magnet(hash).await;
    let lower = hash.to_lowercase();
    let created = client
        .wait_event("task.created", |d| d["id"] == lower)
        .await;
    assert_eq!(created["data"]["name"], lower);
    assert_eq!(created["data"]["ready"], false);
    // DHT is off and the hash names no tracker or peer: the task fails with a reason, and the
    // engine carries on.
    client.wait_state(&lower, 5).await;
    let summary = client.summary(&lower).await;
    assert!(
        summary["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{summary}"
    );
    assert_eq!(
        client
            .error_code("task.pause", json!({"task_id": lower}))
            .await,
        -2
    );
}

#[tokio::test]
async fn session_info_and_list_params() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info["download_dir"],
        server.download_dir.display().to_string()
    );
    assert_eq!(info["listen_addresses"], json!([server.url]));
    assert_eq!(info["peer_listen_addresses"].as_array().unwrap().len(), 1);
    assert_eq!(info["dht"], false);
    assert_eq!(info["tasks"], 0);
    for params in [json!(null), json!({})] {
        assert_eq!(client.ok("task.list", params).await, json!([]));
    }
    // params absent altogether
    client
        .send_text(r#"{"id":"no-params","method":"task.list"}"#)
        .await;
    let response = client.response_to(&json!("no-params")).await;
    assert_eq!(
        response,
        json!({"id": "no-params", "error": 0, "result": []})
    );
}

/// The methods that docs/API.md lists in its table "At a glance" (rows of kind `method`),
/// checked against its section 6, which has one heading per method.
fn documented_methods() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md"))
        .expect("docs/API.md");
    let backticked = |text: &str| text.split('`').nth(1).map(str::to_owned);
    let table: Vec<String> = doc
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[1] == "method")
                .then(|| backticked(cells[2]))
                .flatten()
        })
        .collect();
    let section_6 = doc
        .split("\n## 6. Methods")
        .nth(1)
        .and_then(|rest| rest.split("\n## 7.").next())
        .expect("a section 6 in docs/API.md");
    let headings: Vec<String> = section_6
        .lines()
        .filter(|line| line.starts_with("### 6."))
        .filter_map(backticked)
        .collect();
    assert!(table.len() >= 8, "the table lists only {table:?}");
    let (mut sorted_table, mut sorted_headings) = (table.clone(), headings);
    sorted_table.sort();
    sorted_headings.sort();
    assert_eq!(
        sorted_table, sorted_headings,
        "docs/API.md: the table \"At a glance\" and section 6 list different methods"
    );
    table
}

#[tokio::test]
async fn error_codes() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let missing = json!({"task_id": "ffffffffffffffffffffffffffffffffffffffff"});
    assert_eq!(c.error_code("task.nope", json!({})).await, -1);
    // Every documented method is dispatched (whatever else its empty params earn it).
    for method in documented_methods() {
        let response = c.call(&method, json!({})).await;
        assert_ne!(response["error"], -1, "{method} is not dispatched");
    }
    assert_eq!(
        c.error_code("task.add", json!({"type": "ftp", "uri": "x"}))
            .await,
        -2
    );
    assert_eq!(
        c.error_code("task.add", json!({"type": "torrent", "uri": "%%%"}))
            .await,
        -2
    );
    assert_eq!(
        c.error_code("task.add", json!({"type": "torrent", "uri": "aGVsbG8="}))
            .await,
        -2
    );
    assert_eq!(
        c.error_code("task.add", json!({"type": "magnet", "uri": "magnet:?dn=x"}))
            .await,
        -2
    );
    assert_eq!(
        c.error_code("task.add", json!({"type": "magnet"})).await,
        -2
    );
    assert_eq!(
        c.error_code("task.add", json!({"type": 1, "uri": "x"}))
            .await,
        -2
    );
    assert_eq!(c.error_code("task.add", json!(null)).await, -2);
    assert_eq!(
        c.error_code("task.getStatus", json!({"task_id": 5})).await,
        -2
    );
    assert_eq!(c.error_code("task.list", json!([1])).await, -2);
    for method in [
        "task.getStatus",
        "task.getMetadata",
        "task.pause",
        "task.resume",
        "task.remove",
    ] {
        assert_eq!(c.error_code(method, missing.clone()).await, -4, "{method}");
    }
    c.send_text("{not json").await;
    let response = c.response_to(&Value::Null).await;
    assert_error_shape(&response);
    assert_eq!(response["error"], -3);
    // Still usable afterwards.
    assert_eq!(c.ok("task.list", Value::Null).await, json!([]));
}

#[tokio::test]
async fn with_seeding_off_a_complete_task_is_finished_until_resumed() {
    let root = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(root.path(), |o| o.no_seed = true).await;
    let mut client = server.client().await;
    let torrent = multi_file_torrent();
    let id = torrent.info_hash.clone();
    torrent.write_content(&server.download_dir);
    client.add_torrent(&torrent).await;
    let finished = client.wait_state(&id, 3).await;
    assert_eq!(finished["data"]["old_state"], 0);
    assert_eq!(client.summary(&id).await["dl_bytes"], 123_000);
    // Pausing a finished task changes nothing; resuming it means "seed it".
    client.ok("task.pause", json!({"task_id": id})).await;
    client.ok("task.resume", json!({"task_id": id})).await;
    let seeding = client.wait_state(&id, 2).await;
    assert_eq!(seeding["data"]["old_state"], 3);
    client.ok("task.pause", json!({"task_id": id})).await;
    client.wait_state(&id, 4).await;
    assert!(client.transitions(&id).iter().all(|(old, new)| old != new));
}

/// Seeding off: "resume a finished task means seed it" holds after a restart, and a finished
/// task given more files to download is a download again (it was left finished, state 3, with
/// the new files' bytes missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_seeding_off_choices_about_finished_tasks_hold() {
    let root = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(root.path(), |o| o.no_seed = true).await;
    let mut client = server.client().await;
    // Files on piece boundaries, so that one of them can be complete alone.
    let two = TestTorrent::build(TorrentSpec {
        name: "two halves",
        files: vec![("a.bin", 32 * 1024), ("b.bin", 32 * 1024)],
        single: false,
        piece_length: 16 * 1024,
        seed: 41,
        ..Default::default()
    });
    let whole = TestTorrent::build(TorrentSpec {
        name: "whole.bin",
        files: vec![("whole.bin", 50_000)],
        seed: 42,
        ..Default::default()
    });
    // Only the first half of `two` is on disk, and no peer has the rest.
    let first = &two.file_paths(&server.download_dir)[0];
    std::fs::create_dir_all(first.parent().unwrap()).unwrap();
    std::fs::write(first, &two.files[0].1).unwrap();
    whole.write_content(&server.download_dir);
    let add = |t: &TestTorrent| json!({"type": "torrent", "uri": t.base64(), "paused": true});
    client.ok("task.add", add(&two)).await;
    client.ok("task.add", add(&whole)).await;
    client.wait_state(&two.info_hash, 4).await;
    client
        .ok(
            "task.setFiles",
            json!({"task_id": two.info_hash, "files": [0]}),
        )
        .await;
    client
        .ok("task.resume", json!({"task_id": two.info_hash}))
        .await;
    client
        .ok("task.resume", json!({"task_id": whole.info_hash}))
        .await;
    client.poll_state(&two.info_hash, 3).await;
    client.poll_state(&whole.info_hash, 3).await;
    // The second file chosen too: downloading again (its bytes are missing), not finished.
    client
        .ok(
            "task.setFiles",
            json!({"task_id": two.info_hash, "files": [0, 1]}),
        )
        .await;
    let reopened = client.poll_state(&two.info_hash, 1).await;
    assert_eq!(reopened["total_bytes"], 64 * 1024, "{reopened}");
    assert_eq!(reopened["dl_bytes"], 32 * 1024, "{reopened}");
    // Resume a finished task: it seeds, and still does after a restart.
    client
        .ok("task.resume", json!({"task_id": whole.info_hash}))
        .await;
    client.poll_state(&whole.info_hash, 2).await;
    drop(client);
    server.stop().await;
    let server = TestServer::start_with(root.path(), |o| o.no_seed = true).await;
    let mut client = server.client().await;
    client.poll_state(&whole.info_hash, 2).await;
    client.poll_state(&two.info_hash, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_adds_each_get_their_own_torrent() {
    // Regression: librqbit numbers torrents from its persisted ids, so overlapping adds could
    // be handed each other's torrent.
    let server = TestServer::start().await;
    let mut client = server.client().await;
    // (Distinct names: same-named files would be refused as a path collision, see
    // tests/placement.rs.)
    let names: Vec<String> = (0..6).map(|i| format!("overlap-{i}.bin")).collect();
    let torrents: Vec<TestTorrent> = (0..6u64)
        .map(|i| {
            let name = names[i as usize].as_str();
            TestTorrent::build(TorrentSpec {
                name,
                files: vec![(name, 40_000 + i as usize * 1000)],
                seed: 100 + i,
                ..Default::default()
            })
        })
        .collect();
    for torrent in &torrents {
        client.add_torrent(torrent).await;
    }
    for torrent in &torrents {
        let summary = client.poll_state(&torrent.info_hash, 1).await;
        assert_eq!(summary["total_bytes"], torrent.total_len(), "{summary}");
        let status = client
            .ok("task.getStatus", json!({"task_id": torrent.info_hash}))
            .await;
        assert_eq!(
            status["pieces"].as_array().unwrap().len(),
            torrent.piece_count()
        );
    }
}

/// An add of a hash whose removal is in flight waits for the removal: it never gets librqbit's
/// dying handle, and every client sees the old `task.removed` before the new `task.created`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_adding_during_a_removal_waits_for_it() {
    let server = TestServer::start().await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "phoenix.bin",
        files: vec![("phoenix.bin", 200_000)],
        seed: 77,
        ..Default::default()
    });
    let mut remover = server.client().await;
    let mut adder = server.client().await;
    let mut watcher = server.client().await;
    remover.add_torrent(&torrent).await;
    let add = json!({"type": "torrent", "uri": torrent.base64()});
    // Rounds where the add was in flight when the removal ended, and then succeeded: the
    // rounds that hit the race. A connection handles one request at a time and queues the
    // events published meanwhile behind its answer, so the add's answer reaching the adder
    // before this round's `task.removed` means the add was being handled while the removal
    // ran (an add handled after it would see `task.removed` first).
    let mut waited = 0;
    for round in 0..20 {
        remover.poll_state(&torrent.info_hash, 1).await;
        // Both requests go out before either answer is read.
        remover
            .send_text(
                json!({"id": format!("rm{round}"), "method": "task.remove",
                       "params": {"task_id": torrent.info_hash, "delete_files": true}})
                .to_string(),
            )
            .await;
        adder
            .send_text(
                json!({"id": format!("add{round}"), "method": "task.add", "params": add})
                    .to_string(),
            )
            .await;
        assert_eq!(
            remover.response_to(&json!(format!("rm{round}"))).await["error"],
            0
        );
        adder.events.clear();
        let added = adder.response_to(&json!(format!("add{round}"))).await;
        let removed_first = adder
            .events
            .iter()
            .any(|e| e["name"] == "task.removed" && e["data"]["task_id"] == torrent.info_hash);
        // This round's `task.removed`, whenever it comes, so that the next round starts clean.
        adder
            .wait_event("task.removed", |d| d["task_id"] == torrent.info_hash)
            .await;
        if added["error"] == -5 {
            // The add came first, while the task still existed: also correct. Put it back.
            assert!(!removed_first, "-5 after the removal had ended: {added}");
            remover.add_torrent(&torrent).await;
            continue;
        }
        assert_eq!(added["error"], 0, "{added}");
        if !removed_first {
            waited += 1;
        }
    }
    eprintln!("the add waited for the removal in {waited} of 20 rounds");
    assert!(
        waited >= 1,
        "no round had the add in flight during the removal: the test proved nothing"
    );
    // Every `task.created` after the first follows a `task.removed` of the same task.
    watcher.ok("task.list", Value::Null).await;
    let names: Vec<String> = watcher
        .events
        .iter()
        .filter(|e| e["name"] == "task.created" || e["name"] == "task.removed")
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "out of order: {names:?}");
    }
    let list = adder.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

/// `session.setLimits` and `task.setFiles`: their errors, `session.info`, the event, and the
/// settings file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_file_choices() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let mut watcher = server.client().await;
    for bad in [
        json!({"download_bps": -1}),
        json!({"download_bps": 1.5}),
        json!({"upload_bps": "fast"}),
        json!({"download_bps": 5_000_000_000u64}),
        json!({"speed": 1}),
        json!([1]),
    ] {
        assert_eq!(
            c.error_code("session.setLimits", bad.clone()).await,
            -2,
            "{bad}"
        );
    }
    c.ok(
        "session.setLimits",
        json!({"download_bps": 2048, "upload_bps": 0}),
    )
    .await;
    let info = c.ok("session.info", Value::Null).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(2048), Value::Null)
    );
    watcher
        .wait_event("session.limitsUpdated", |d| d["download_bps"] == 2048)
        .await;
    let saved = std::fs::read_to_string(server.data_dir.join("settings.json")).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["download_bps"], 2048);
    // Absent leaves unchanged; null clears.
    c.ok("session.setLimits", json!({"upload_bps": 100})).await;
    assert_eq!(
        c.ok("session.info", Value::Null).await["download_bps"],
        2048
    );
    c.ok("session.setLimits", json!({"download_bps": null}))
        .await;
    assert_eq!(
        c.ok("session.info", Value::Null).await["download_bps"],
        Value::Null
    );

    let missing = json!({"task_id": "ffffffffffffffffffffffffffffffffffffffff", "files": [0]});
    assert_eq!(c.error_code("task.setFiles", missing).await, -4);
    let torrent = TestTorrent::build(TorrentSpec {
        name: "two",
        files: vec![("a.bin", 1000), ("b.bin", 1000)],
        single: false,
        seed: 88,
        ..Default::default()
    });
    c.add_torrent(&torrent).await;
    c.poll_state(&torrent.info_hash, 1).await;
    let id = torrent.info_hash.clone();
    for files in [json!([2]), json!([0, 0]), json!([-1]), json!("0")] {
        let code = c
            .error_code("task.setFiles", json!({"task_id": id, "files": files}))
            .await;
        assert_eq!(code, -2, "{files}");
    }
    c.ok("task.setFiles", json!({"task_id": id, "files": [1]}))
        .await;
    let metadata = c.ok("task.getMetadata", json!({"task_id": id})).await;
    let selected: Vec<Value> = metadata["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["selected"].clone())
        .collect();
    assert_eq!(selected, vec![json!(false), json!(true)]);
    let status = c.ok("task.getStatus", json!({"task_id": id})).await;
    assert_eq!(status["selected"], json!([false, true]));
}

/// Limits and a file choice survive a restart in the same folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_file_choices_survive_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let torrent = TestTorrent::build(TorrentSpec {
        name: "kept-choice",
        files: vec![("a.bin", 1000), ("b.bin", 1000)],
        single: false,
        seed: 89,
        ..Default::default()
    });
    let id = torrent.info_hash.clone();
    {
        let mut server = TestServer::start_in(root.path()).await;
        let mut c = server.client().await;
        c.ok(
            "session.setLimits",
            json!({"download_bps": 4096, "upload_bps": 1024}),
        )
        .await;
        c.add_torrent(&torrent).await;
        c.poll_state(&id, 1).await;
        c.ok("task.setFiles", json!({"task_id": id, "files": [0]}))
            .await;
        server.stop().await;
    }
    let server = TestServer::start_in(root.path()).await;
    let mut c = server.client().await;
    let info = c.ok("session.info", Value::Null).await;
    assert_eq!(
        (info["download_bps"].clone(), info["upload_bps"].clone()),
        (json!(4096), json!(1024))
    );
    let status = c.ok("task.getStatus", json!({"task_id": id})).await;
    assert_eq!(status["selected"], json!([true, false]));
}

/// `task.add` with `paused: true` [Magnetar]: the task is announced, goes 0→4 before the answer,
/// and stays paused across a restart; librqbit still checks data already on disk (so the user
/// sees what is there), and a paused magnet fetches nothing until it is resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_can_start_paused() {
    let root = tempfile::tempdir().unwrap();
    let torrent = multi_file_torrent();
    let id = torrent.info_hash.clone();
    // A magnet whose only peer is a dead port: fetching would fail it (state 5) at once.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let magnet_id = "0123456789abcdef0123456789abcdef01234567";
    let magnet = format!("magnet:?xt=urn:btih:{magnet_id}&dn=later&x.pe=127.0.0.1:{dead_port}");
    {
        let mut server = TestServer::start_in(root.path()).await;
        torrent.write_content(&server.download_dir);
        let mut c = server.client().await;
        let mut watcher = server.client().await;
        let answer = c
            .call(
                "task.add",
                json!({"type": "torrent", "uri": torrent.base64(), "paused": true}),
            )
            .await;
        assert_eq!(answer["error"], 0, "{answer}");
        c.ok(
            "task.add",
            json!({"type": "magnet", "uri": magnet, "paused": true}),
        )
        .await;
        for task in [id.as_str(), magnet_id] {
            let paused = watcher.wait_state(task, 4).await;
            assert_eq!(paused["data"]["old_state"], 0, "{paused}");
        }
        // The data on disk is checked while the task stays paused.
        support::poll_until(
            "the paused task's data checked",
            std::time::Duration::from_secs(20),
            std::time::Duration::from_millis(100),
            async || {
                let summary = c.summary(&id).await;
                assert_eq!(summary["state"], 4, "{summary}");
                if summary["dl_bytes"] == 123_000 {
                    Ok(())
                } else {
                    Err(summary)
                }
            },
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        // Whatever the watcher client was sent meanwhile is read before this answer.
        watcher.ok("session.info", Value::Null).await;
        for task in [id.as_str(), magnet_id] {
            assert_eq!(c.summary(task).await["state"], 4);
            assert_eq!(
                watcher.transitions(task),
                vec![],
                "no state change after 0→4"
            );
        }
        let wrong = c
            .call(
                "task.add",
                json!({"type": "torrent", "uri": torrent.base64(), "paused": "yes"}),
            )
            .await;
        assert_eq!(wrong["error"], -2, "{wrong}");
        server.stop().await;
    }
    let server = TestServer::start_in(root.path()).await;
    let mut c = server.client().await;
    for task in [id.as_str(), magnet_id] {
        assert_eq!(c.summary(task).await["state"], 4);
    }
    c.ok("task.resume", json!({"task_id": id})).await;
    c.wait_state(&id, 2).await;
    // The magnet fetches once resumed: its only peer is dead, so it fails.
    c.ok("task.resume", json!({"task_id": magnet_id})).await;
    c.poll_state(magnet_id, 5).await;
}

/// A torrent added paused and resumed before librqbit has it runs; one added running and
/// paused at once stays paused (the two races of an add).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_racing_an_add() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let mut ids = Vec::new();
    for seed in 0..10u64 {
        let name = format!("race-{seed}");
        let torrent = TestTorrent::build(TorrentSpec {
            name: &name,
            files: vec![("r.bin", 40_000)],
            single: false,
            seed: 500 + seed,
            ..Default::default()
        });
        torrent.write_content(&server.download_dir);
        let paused = seed % 2 == 0;
        c.ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "paused": paused}),
        )
        .await;
        let flip = if paused { "task.resume" } else { "task.pause" };
        c.ok(flip, json!({"task_id": torrent.info_hash})).await;
        ids.push((torrent.info_hash.clone(), paused));
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    for (id, added_paused) in ids {
        let want = if added_paused { 2 } else { 4 };
        let summary = c.poll_state(&id, want).await;
        assert_eq!(summary["dl_bytes"], 40_000, "{summary}");
    }
}

/// A torrent added paused is still checking its data on disk when the user resumes it: the
/// resume must hold (librqbit alone forgets an unpause that arrives during the check: the task
/// stayed paused for good), and so must a pause that follows. The check of 48 MiB is short, so
/// the requests come at several moments after the add; one of them lands inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_or_pause_during_the_check_of_data_on_disk() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let mut cases = Vec::new();
    let moments_ms = [0u64, 5, 10, 20, 40];
    for (seed, delay_ms, then_pause) in moments_ms
        .iter()
        .map(|&ms| (ms, false))
        .chain([(10, true), (20, true)])
        .enumerate()
        .map(|(i, (ms, pause))| (900 + i as u64, ms, pause))
    {
        let name = format!("checked-{seed}");
        let torrent = TestTorrent::build(TorrentSpec {
            name: &name,
            files: vec![("big.bin", 48 * 1024 * 1024)],
            single: false,
            piece_length: 256 * 1024,
            seed,
            ..Default::default()
        });
        torrent.write_content(&server.download_dir);
        c.ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "paused": true}),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        c.ok("task.resume", json!({"task_id": torrent.info_hash}))
            .await;
        if then_pause {
            c.ok("task.pause", json!({"task_id": torrent.info_hash}))
                .await;
        }
        cases.push((torrent.info_hash.clone(), delay_ms, then_pause));
    }
    for (id, delay_ms, then_pause) in cases {
        let want = if then_pause { 4 } else { 2 };
        c.poll_state(&id, want).await;
        // And it stays there once every check is long over.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert_eq!(c.summary(&id).await["state"], want, "{delay_ms} ms");
        // A pause during the check may stop it where it was (CI saw 20 and 34 of 48 MiB
        // counted) or let it end: either way, resumed, the task counts every byte it has.
        if then_pause {
            c.ok("task.resume", json!({"task_id": id})).await;
        }
        let what = format!("{delay_ms} ms: seeding with all 48 MiB counted");
        c.poll_summary(&id, &what, |s| {
            s["state"] == 2 && s["dl_bytes"] == 48 * 1024 * 1024
        })
        .await;
    }
}

/// A client gets every event published after its connection opened, even one published the
/// instant after (the server used to subscribe it a moment later: CI once saw a watcher miss a
/// `task.created`). Another client acts right after each new connection opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_a_client_from_the_moment_its_connection_opens() {
    let server = TestServer::start().await;
    let mut actor = server.client().await;
    for seed in 0..60u64 {
        let torrent = TestTorrent::build(TorrentSpec {
            name: &format!("opened-{seed}"),
            files: vec![("o.bin", 1000)],
            single: false,
            seed: 3_000 + seed,
            ..Default::default()
        });
        let mut newcomer = server.client().await;
        let params = json!({"type": "torrent", "uri": torrent.base64(), "paused": true});
        actor.ok("task.add", params).await;
        let id = torrent.info_hash.clone();
        newcomer.wait_event("task.created", |d| d["id"] == id).await;
    }
}

/// The row of task `id` in the first `task.updated` whose row for it satisfies `pred`.
async fn updated_row(
    client: &mut support::Client,
    id: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let row_of = |data: &Value| {
        data["tasks"]
            .as_array()
            .and_then(|rows| rows.iter().find(|t| t["id"] == id))
            .cloned()
    };
    let event = client
        .wait_event("task.updated", |d| row_of(d).is_some_and(|row| pred(&row)))
        .await;
    row_of(&event["data"]).unwrap()
}

/// A paused task's `task.list` row is exactly the summary last announced for it, and it follows
/// what changes a paused task: a file choice, a resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_tasks_list_row_is_its_last_announced_summary() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let mut watcher = server.client().await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "pair",
        files: vec![("a.bin", 3000), ("b.bin", 1000)],
        single: false,
        seed: 91,
        ..Default::default()
    });
    let id = torrent.info_hash.clone();
    c.add_torrent(&torrent).await;
    c.wait_state(&id, 1).await;
    c.ok("task.pause", json!({"task_id": id})).await;
    let row = updated_row(&mut c, &id, |t| t["state"] == 4).await;
    // Asked many times, the row stays the one announced, field for field.
    for _ in 0..3 {
        assert_eq!(c.summary(&id).await, row);
    }
    assert_eq!(row["total_bytes"], 4000);

    // A file choice changes a paused task's total, to the byte (both files share one piece):
    // the list shows it at once...
    c.ok("task.setFiles", json!({"task_id": id, "files": [1]}))
        .await;
    let chosen = c.summary(&id).await;
    assert_eq!(
        (chosen["total_bytes"].clone(), chosen["state"].clone()),
        (json!(1000), json!(4))
    );
    // ... and every client hears of it in `task.updated`.
    let announced = updated_row(&mut watcher, &id, |t| t["total_bytes"] == 1000).await;
    assert_eq!(announced, chosen);
    assert_eq!(c.summary(&id).await, chosen);

    c.ok("task.resume", json!({"task_id": id})).await;
    c.wait_state(&id, 1).await;
    let resumed = c.summary(&id).await;
    assert_eq!(
        (resumed["total_bytes"].clone(), resumed["state"].clone()),
        (json!(1000), json!(1))
    );
}

/// `task.openFolder` on the headless server: there is no desktop to show a folder on, said as
/// -2 (after the task is known: an unknown one is -4), and `session.info` says so beforehand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_folder_is_refused_by_the_headless_server() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(info["can_open_folders"], false, "{info}");
    let torrent = TestTorrent::build(TorrentSpec {
        name: "folder.bin",
        files: vec![("folder.bin", 16 * 1024)],
        seed: 97,
        ..Default::default()
    });
    client.add_torrent(&torrent).await;
    let refused = client
        .call("task.openFolder", json!({"task_id": torrent.info_hash}))
        .await;
    assert_eq!(refused["error"], -2, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("headless"),
        "{refused}"
    );
    assert_eq!(
        client
            .error_code("task.openFolder", json!({"task_id": "0".repeat(40)}))
            .await,
        -4
    );
}
