//! The watch folder, a task's trackers (`task.getTrackers`, `task.reannounce`), `task.recheck`
//! and the magnet link in a task's metadata, against the real server with real peers on
//! loopback (librqbit seeders, Debian's opentracker).

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::peers::{free_port, LibrqbitSeeder, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{poll_until, Client, ServeProcess, TestServer, PATIENCE};

fn spec(name: &str, seed: u64, trackers: Vec<String>) -> TorrentSpec<'_> {
    TorrentSpec {
        name,
        files: vec![(name, 512 * 1024 + 77)],
        single: true,
        piece_length: 32 * 1024,
        trackers,
        seed,
        ..Default::default()
    }
}

/// A torrent announced to a fresh local tracker, and the tracker.
fn tracked(name: &str, seed: u64) -> (TestTorrent, Tracker) {
    let probe = TestTorrent::build(spec(name, seed, Vec::new()));
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = TestTorrent::build(spec(name, seed, vec![tracker.announce.clone()]));
    assert_eq!(torrent.info_hash, probe.info_hash);
    (torrent, tracker)
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The number of `task.created` events for `id` among those the client kept.
fn created_count(client: &Client, id: &str) -> usize {
    client
        .events
        .iter()
        .filter(|e| e["name"] == "task.created" && e["data"]["id"] == id)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_folder_adds_good_files_refuses_junk_and_waits_for_whole_files() {
    let (good, _tracker) = tracked("good.bin", 31);
    let seeder = LibrqbitSeeder::start(&good).await;
    let via_magnet = TestTorrent::build(spec("via-magnet.bin", 32, Vec::new()));
    let magnet_seeder = LibrqbitSeeder::start(&via_magnet).await;
    let slow = TestTorrent::build(spec("slow.bin", 33, Vec::new()));

    let server = TestServer::start().await;
    let mut client = server.client().await;
    let root = server
        .download_dir
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap();
    let watch = root.join("watch");
    std::fs::create_dir_all(watch.join("tv")).unwrap();
    let tv_folder = root.join("tv-downloads");
    std::fs::create_dir_all(&tv_folder).unwrap();
    client
        .ok(
            "session.setLabels",
            json!({"labels": [{"name": "tv", "folder": tv_folder}]}),
        )
        .await;
    // Live: no restart.
    let set = client
        .ok("session.setSettings", json!({"watch_dir": watch}))
        .await;
    assert_eq!(set["settings"]["watch_dir"], watch.display().to_string());
    assert!(
        !set["pending_restart"]
            .as_array()
            .unwrap()
            .contains(&json!("watch_dir")),
        "{set}"
    );

    // A good .torrent in the label's sub folder: added with the label, into its folder,
    // downloaded, renamed .added.
    good.save(&watch.join("tv/good.torrent"));
    let created = client
        .wait_event("task.created", |d| d["id"] == good.info_hash)
        .await;
    assert_eq!(
        created["data"]["download_dir"],
        tv_folder.display().to_string()
    );
    client.wait_state(&good.info_hash, 2).await;
    good.assert_downloaded(&tv_folder);
    assert_eq!(client.summary(&good.info_hash).await["label"], "tv");
    poll_until(
        "good.torrent renamed .added",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            if exists(&watch.join("tv/good.torrent.added"))
                && !exists(&watch.join("tv/good.torrent"))
            {
                Ok(())
            } else {
                Err("not yet")
            }
        },
    )
    .await;

    // Junk: renamed .invalid, the reason beside it, and announced.
    std::fs::write(watch.join("junk.torrent"), b"this is not bencode").unwrap();
    let failed = client
        .wait_event("session.watchFailed", |d| {
            d["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("junk.torrent"))
        })
        .await;
    assert!(!failed["data"]["message"].as_str().unwrap().is_empty());
    poll_until(
        "junk.torrent renamed .invalid",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            if exists(&watch.join("junk.torrent.invalid")) {
                Ok(())
            } else {
                Err("not yet")
            }
        },
    )
    .await;
    assert!(!exists(&watch.join("junk.torrent")));
    let note = std::fs::read_to_string(watch.join("junk.torrent.invalid.txt")).unwrap();
    assert_eq!(note.trim(), failed["data"]["message"].as_str().unwrap());

    // A label that does not exist: refused, named.
    let unlabelled = TestTorrent::build(spec("unlabelled.bin", 34, Vec::new()));
    unlabelled.save(&watch.join("nolabel-dir.torrent.tmp"));
    std::fs::create_dir_all(watch.join("movies")).unwrap();
    std::fs::rename(
        watch.join("nolabel-dir.torrent.tmp"),
        watch.join("movies/x.torrent"),
    )
    .unwrap();
    let failed = client
        .wait_event("session.watchFailed", |d| {
            d["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("movies/x.torrent"))
        })
        .await;
    assert!(
        failed["data"]["message"]
            .as_str()
            .unwrap()
            .contains("movies"),
        "{failed}"
    );

    // A .magnet file: comments and blank lines skipped, its link added.
    std::fs::write(
        watch.join("one.magnet"),
        format!(
            "# from a browser\n\n{}\n",
            via_magnet.magnet(&[magnet_seeder.addr])
        ),
    )
    .unwrap();
    client.wait_state(&via_magnet.info_hash, 2).await;
    via_magnet.assert_downloaded(&server.download_dir);
    assert_eq!(
        client.summary(&via_magnet.info_hash).await["label"],
        Value::Null
    );

    // A .torrent written slowly, in parts: never read half-way (no .invalid), added once.
    let path = watch.join("slow.torrent");
    let parts: Vec<&[u8]> = slow.bytes.chunks(slow.bytes.len() / 4 + 1).collect();
    assert!(parts.len() >= 4);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&path).unwrap();
        for part in parts {
            file.write_all(part).unwrap();
            file.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
    }
    client
        .wait_event("task.created", |d| d["id"] == slow.info_hash)
        .await;
    poll_until(
        "slow.torrent renamed .added",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            if exists(&watch.join("slow.torrent.added")) {
                Ok(())
            } else {
                Err("not yet")
            }
        },
    )
    .await;
    assert!(!exists(&watch.join("slow.torrent.invalid")));
    // The added file is the whole torrent.
    assert_eq!(
        std::fs::read(watch.join("slow.torrent.added")).unwrap(),
        slow.bytes
    );
    let meta = client
        .ok("task.getMetadata", json!({"task_id": slow.info_hash}))
        .await;
    assert_eq!(meta["files"][0]["size"], slow.total_len());
    // A few more looks: still one task, one task.created.
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.ok("task.list", Value::Null).await;
    assert_eq!(
        created_count(&client, &slow.info_hash),
        0,
        "already taken once"
    );
    let list = client.ok("task.list", Value::Null).await;
    let count = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == slow.info_hash)
        .count();
    assert_eq!(count, 1);
    assert!(client
        .events
        .iter()
        .all(|e| !(e["name"] == "session.watchFailed"
            && e["data"]["path"].as_str().unwrap_or("").contains("slow"))));

    // The same torrent dropped again: a duplicate, refused and renamed .invalid.
    slow.save(&watch.join("again.torrent"));
    let failed = client
        .wait_event("session.watchFailed", |d| {
            d["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("again.torrent"))
        })
        .await;
    assert!(
        failed["data"]["message"]
            .as_str()
            .unwrap()
            .contains(&slow.info_hash),
        "{failed}"
    );
    drop((seeder, magnet_seeder));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_watches_a_folder_set_live_and_saves_the_setting() {
    let torrent = TestTorrent::build(spec("watched.bin", 41, Vec::new()));
    let process = ServeProcess::start();
    let mut client = Client::connect(&process.url).await;
    let watch = tempfile::tempdir().unwrap();
    let watch = watch.path().canonicalize().unwrap();
    client
        .ok("session.setSettings", json!({"watch_dir": watch}))
        .await;
    let settings = client.ok("session.getSettings", Value::Null).await;
    assert_eq!(
        settings["settings"]["watch_dir"],
        watch.display().to_string()
    );
    let file = process
        .download_dir
        .parent()
        .unwrap()
        .join("data/settings.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["watch_dir"], watch.display().to_string());
    torrent.save(&watch.join("a.torrent"));
    client
        .wait_event("task.created", |d| d["id"] == torrent.info_hash)
        .await;
    poll_until(
        "a.torrent renamed .added",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            if exists(&watch.join("a.torrent.added")) {
                Ok(())
            } else {
                Err("not yet")
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackers_reannounce_recheck_and_the_magnet_link() {
    let probe = TestTorrent::build(spec("checked.bin", 51, Vec::new()));
    let tracker_port = free_port();
    let announce = format!("http://127.0.0.1:{tracker_port}/announce");
    let mut tracker = Tracker::start_on(tracker_port, &[&probe.info_hash]);
    let torrent = TestTorrent::build(spec("checked.bin", 51, vec![announce.clone()]));
    let seeder = LibrqbitSeeder::start(&torrent).await;
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;
    torrent.assert_downloaded(&server.download_dir);

    // The tracker, as librqbit lets it be known.
    let trackers = client.ok("task.getTrackers", json!({"task_id": id})).await;
    assert_eq!(
        trackers,
        json!({"trackers": [{
            "url": announce, "tier": 0, "supported": true, "announcing": true,
            "last_announce": null, "last_peers": null, "last_error": null
        }]})
    );

    // The magnet link parses back to the same hash, name and tracker.
    let meta = client.ok("task.getMetadata", json!({"task_id": id})).await;
    let link = url::Url::parse(meta["magnet"].as_str().unwrap()).unwrap();
    assert_eq!(link.scheme(), "magnet");
    let pairs: Vec<(String, String)> = link
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(
        pairs.contains(&("xt".into(), format!("urn:btih:{id}"))),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("dn".into(), "checked.bin".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("tr".into(), announce.clone())),
        "{pairs:?}"
    );

    // A reannounce of a seeding task: answered, and no state change for clients.
    client.events.clear();
    client.ok("task.reannounce", json!({"task_id": id})).await;
    client.poll_state(&id, 2).await;
    assert!(client.transitions(&id).is_empty(), "{:?}", client.events);

    // The seeder goes away; a byte of the file is corrupted on disk.
    let old_port = seeder.addr.port();
    seeder.session.stop().await;
    drop(seeder);
    let before = client.summary(&id).await;
    let file = server.download_dir.join("checked.bin");
    let corrupt_piece = 3;
    let offset = corrupt_piece * torrent.piece_length + 5;
    {
        let mut data = std::fs::read(&file).unwrap();
        data[offset] ^= 0xff;
        std::fs::write(&file, data).unwrap();
    }
    client.ok("task.recheck", json!({"task_id": id})).await;
    // Checked (state 0), then the piece is missing: downloading, with nobody to ask.
    client.wait_state(&id, 0).await;
    client.wait_state(&id, 1).await;
    let status = client.status(&id).await;
    let pieces: Vec<bool> = status["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_bool().unwrap())
        .collect();
    assert_eq!(pieces.len(), torrent.piece_count());
    let missing: Vec<usize> = (0..pieces.len()).filter(|i| !pieces[*i]).collect();
    assert_eq!(missing, vec![corrupt_piece], "{status}");
    let after_check = client.summary(&id).await;
    assert_eq!(after_check["label"], before["label"]);
    assert_eq!(after_check["added"], before["added"]);
    assert!(after_check["downloaded_ever"].as_u64() >= before["downloaded_ever"].as_u64());
    let meta_after = client.ok("task.getMetadata", json!({"task_id": id})).await;
    assert_eq!(meta_after["download_dir"], meta["download_dir"]);

    // The tracker restarts, forgetting every peer (the task announced to the old one when it
    // was added again); a new seeder announces to it and learns of nobody. The task hears of
    // the seeder only when asked to reannounce: the tracker's interval is far longer than this
    // test, and the seeder does not know the task.
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(tracker);
    tracker = Tracker::start_on(tracker_port, &[&torrent.info_hash]);
    // On another port than the first: the task cannot find it by retrying the old address.
    let port = std::iter::repeat_with(free_port)
        .find(|p| *p != old_port)
        .unwrap();
    let seeder = LibrqbitSeeder::start_on(&torrent, None, port).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    client.ok("task.reannounce", json!({"task_id": id})).await;
    client.wait_state(&id, 2).await;
    torrent.assert_downloaded(&server.download_dir);
    let done = client.summary(&id).await;
    assert!(
        done["downloaded_ever"].as_u64().unwrap()
            >= before["downloaded_ever"].as_u64().unwrap() + torrent.piece_length as u64,
        "{before} {done}"
    );
    drop((seeder, tracker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_of_the_new_methods_on_one_connection() {
    let torrent = TestTorrent::build(spec("quiet.bin", 61, Vec::new()));
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "paused": true}),
        )
        .await;
    let unknown = "0".repeat(40);
    for method in ["task.getTrackers", "task.reannounce", "task.recheck"] {
        for params in [
            Value::Null,
            json!([]),
            json!("x"),
            json!({}),
            json!({"task_id": 7}),
            json!({"task_id": null}),
        ] {
            let response = client.call(method, params.clone()).await;
            support::assert_error_shape(&response);
            assert_eq!(response["error"], -2, "{method} {params}: {response}");
            assert!(
                response["message"].as_str().unwrap().contains("task_id")
                    || response["message"].as_str().unwrap().contains("params"),
                "{method} {params}: {response}"
            );
        }
        assert_eq!(
            client.error_code(method, json!({"task_id": unknown})).await,
            -4,
            "{method}"
        );
    }
    // A task without trackers: listed as none; reannounce refused (paused, no tracker).
    let trackers = client.ok("task.getTrackers", json!({"task_id": id})).await;
    assert_eq!(trackers, json!({"trackers": []}));
    let response = client.call("task.reannounce", json!({"task_id": id})).await;
    assert_eq!(response["error"], -2, "{response}");
    assert!(
        response["message"]
            .as_str()
            .unwrap()
            .contains("not running"),
        "{response}"
    );
    // The magnet link of a task without trackers: hash and name only.
    let meta = client.ok("task.getMetadata", json!({"task_id": id})).await;
    assert_eq!(
        meta["magnet"],
        format!("magnet:?xt=urn:btih:{id}&dn=quiet.bin")
    );
    // A magnet waiting for metadata (paused): nothing to check yet.
    let other = TestTorrent::build(spec("later.bin", 62, Vec::new()));
    client
        .ok(
            "task.add",
            json!({"type": "magnet", "uri": other.magnet(&[]), "paused": true}),
        )
        .await;
    let response = client
        .call("task.recheck", json!({"task_id": other.info_hash}))
        .await;
    assert_eq!(response["error"], -2, "{response}");
    // watch_dir: not absolute, not a folder.
    for bad in [
        json!("relative/dir"),
        json!(12),
        json!("/nonexistent/watch"),
    ] {
        let response = client
            .call("session.setSettings", json!({"watch_dir": bad}))
            .await;
        assert_eq!(response["error"], -2, "{bad}: {response}");
        assert!(response["message"].as_str().unwrap().contains("watch_dir"));
    }
    // The connection still works.
    let list = client.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let _ = client.ok("task.recheck", json!({"task_id": id})).await;
    client.poll_state(&id, 4).await;
}
