//! `task.add`'s options (a folder, a label, a choice of files) and labels with folders, against
//! the real `magnetar serve` binary with real seeders (aria2c through a local tracker, a second
//! librqbit session by magnet): only the chosen files are ever written, in the chosen folder,
//! and the row carries its label; refused folders create nothing; a client on another machine
//! (a network namespace) is held to the download roots; labels and folders survive a kill -9.

mod support;

use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::netns::{try_connect, RemoteServer};
use support::peers::{Aria2, ChildGuard, LibrqbitSeeder, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::Client;

/// Starts the real binary on loopback with DHT, UPnP and LSD off; returns it and its URL.
fn serve(root: &Path) -> (ChildGuard, String) {
    let mut child = ChildGuard::spawn(
        support::serve_command(&root.join("data"), &root.join("downloads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "magnetar serve",
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (line, _) = support::read_line_within(stdout);
    (child, support::url_in_ready_line(&line))
}

/// Five files whose sizes are whole pieces: no piece spans two files, so a chosen file's
/// pieces never touch a skipped one.
fn five_files(trackers: Vec<String>, seed: u64) -> TorrentSpec<'static> {
    TorrentSpec {
        name: "five",
        files: vec![
            ("a.bin", 64 * 1024),
            ("sub/b.bin", 96 * 1024),
            ("c.bin", 32 * 1024),
            ("sub/d.bin", 128 * 1024),
            ("e.bin", 64 * 1024),
        ],
        single: false,
        piece_length: 32 * 1024,
        trackers,
        seed,
        ..Default::default()
    }
}

/// Every path ever seen under `root` (files and folders, relative), looked at every few
/// milliseconds by a thread until the returned flag is set.
fn watch_tree(root: PathBuf) -> (Arc<AtomicBool>, std::thread::JoinHandle<BTreeSet<PathBuf>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let handle = std::thread::spawn(move || {
        let seen = Mutex::new(BTreeSet::new());
        loop {
            let last = stopping.load(Ordering::SeqCst);
            for entry in walk(&root) {
                seen.lock().unwrap().insert(entry);
            }
            if last {
                return seen.into_inner().unwrap();
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    (stop, handle)
}

/// Every path under `root`, relative to it.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(root).unwrap().to_owned());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

fn paths(list: &[&str]) -> BTreeSet<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

/// What the chosen files [1, 3] of [`five_files`] leave under the folder: the torrent's
/// folder, `sub/`, and the two files; nothing of a, c or e.
fn chosen_tree() -> BTreeSet<PathBuf> {
    paths(&["five", "five/sub", "five/sub/b.bin", "five/sub/d.bin"])
}

fn assert_chosen_content(torrent: &TestTorrent, folder: &Path) {
    for index in [1, 3] {
        let (path, data) = &torrent.files[index];
        let got = std::fs::read(folder.join("five").join(path)).unwrap();
        assert!(got == *data, "{path} differs from the seeded content");
    }
}

/// The `task.add` of a .torrent, seeded by aria2c through a local tracker: into a chosen
/// folder (not the label's: `download_dir` wins), with a label, two files of five.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_goes_into_its_folder_with_its_label_and_only_two_of_five_files() {
    let probe = TestTorrent::build(five_files(Vec::new(), 41));
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = TestTorrent::build(five_files(vec![tracker.announce.clone()], 41));
    let seed_dir = tempfile::tempdir().unwrap();
    let aria2 = Aria2::seed(&torrent, seed_dir.path());
    support::peers::wait_for_port(aria2.port);

    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let (_server, url) = serve(&root);
    let mut client = Client::connect(&url).await;
    let label_folder = root.join("tv-label");
    let chosen = root.join("chosen/deeper");
    let set = client
        .ok(
            "session.setLabels",
            json!({"labels": [{"name": "tv", "folder": label_folder}]}),
        )
        .await;
    assert_eq!(
        set["labels"][0]["folder"],
        label_folder.display().to_string()
    );
    let (stop, watcher) = watch_tree(root.join("chosen"));
    let id = torrent.info_hash.clone();
    let added = client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "download_dir": chosen,
                   "label": "tv", "files": [1, 3]}),
        )
        .await;
    assert_eq!(added, Value::Null);
    let row = client
        .poll_summary(&id, "the two files downloaded", |s| {
            s["dl_bytes"].as_u64() == Some(224 * 1024) && s["state"] == 2
        })
        .await;
    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert_eq!(row["label"], "tv", "{row}");
    assert_eq!(row["total_bytes"], 224 * 1024, "{row}");
    let metadata = client.ok("task.getMetadata", json!({"task_id": id})).await;
    assert_eq!(metadata["download_dir"], chosen.display().to_string());
    let selected: Vec<bool> = metadata["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["selected"].as_bool().unwrap())
        .collect();
    assert_eq!(selected, [false, true, false, true, false]);
    assert_chosen_content(&torrent, &chosen);
    // Only the two files ever appeared: a, c and e never existed, not even empty.
    let expected: BTreeSet<PathBuf> = paths(&["deeper"])
        .into_iter()
        .chain(
            chosen_tree()
                .into_iter()
                .map(|p| Path::new("deeper").join(p)),
        )
        .collect();
    assert_eq!(seen, expected);
    // Nothing went to the download folder or the label's folder.
    assert!(walk(&root.join("downloads")).is_empty());
    assert!(!label_folder.exists());
    drop(aria2);
}

/// The same for a magnet from a librqbit seeder (`x.pe`): the file choice waits for the
/// metadata and is in place before a byte is written. The label's folder is used (no
/// `download_dir`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_gets_its_file_choice_before_a_byte_is_written() {
    let torrent = TestTorrent::build(five_files(Vec::new(), 42));
    // Slow enough that the watcher sees the download as it happens.
    let seeder = LibrqbitSeeder::start_limited(&torrent, Some(512 * 1024)).await;
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let (_server, url) = serve(&root);
    let mut client = Client::connect(&url).await;
    let label_folder = root.join("films");
    client
        .ok(
            "session.setLabels",
            json!({"labels": [{"name": "films", "folder": label_folder,
                               "seed_goal": {"ratio_limit": 2.0}}]}),
        )
        .await;
    let (stop, watcher) = watch_tree(root.clone());
    let id = torrent.info_hash.clone();
    client
        .ok(
            "task.add",
            json!({"type": "magnet", "uri": torrent.magnet(&[seeder.addr]),
                   "label": "films", "files": [3, 1]}),
        )
        .await;
    let created = client.wait_event("task.created", |d| d["id"] == id).await;
    assert_eq!(
        created["data"]["download_dir"],
        label_folder.display().to_string()
    );
    assert_eq!(created["data"]["ready"], false);
    let received = client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    let selected: Vec<&Value> = received["data"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["selected"])
        .collect();
    assert_eq!(selected, [false, true, false, true, false]);
    let row = client
        .poll_summary(&id, "the two files downloaded", |s| {
            s["dl_bytes"].as_u64() == Some(224 * 1024) && s["state"] == 2
        })
        .await;
    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert_eq!(row["label"], "films");
    assert_chosen_content(&torrent, &label_folder);
    let in_label_folder: BTreeSet<PathBuf> = seen
        .iter()
        .filter_map(|p| p.strip_prefix("films").ok())
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_owned)
        .collect();
    assert_eq!(in_label_folder, chosen_tree());
    for skipped in ["a.bin", "c.bin", "e.bin"] {
        assert!(
            !seen.iter().any(|p| p.ends_with(skipped)),
            "{skipped} appeared: {seen:?}"
        );
    }
    assert!(walk(&root.join("downloads")).is_empty());
    drop(seeder);
}

/// A magnet whose chosen file index is past its files fails once the metadata comes, and
/// writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_with_a_file_index_past_its_files_fails_writing_nothing() {
    let torrent = TestTorrent::build(five_files(Vec::new(), 43));
    let seeder = LibrqbitSeeder::start(&torrent).await;
    let root = tempfile::tempdir().unwrap();
    let (_server, url) = serve(root.path());
    let mut client = Client::connect(&url).await;
    let id = torrent.info_hash.clone();
    client
        .ok(
            "task.add",
            json!({"type": "magnet", "uri": torrent.magnet(&[seeder.addr]), "files": [1, 5]}),
        )
        .await;
    let row = client.poll_state(&id, 5).await;
    let error = row["error"].as_str().unwrap();
    assert!(error.contains("files") && error.contains('5'), "{row}");
    assert!(walk(&root.path().join("downloads")).is_empty());
}

/// Folders that are not folders, or lead out of a root, are refused with -2 on loopback,
/// and nothing is created; a folder of the user's outside the roots is fine from loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_folders_are_refused_and_create_nothing() {
    let torrent = TestTorrent::build(five_files(Vec::new(), 44));
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let (_server, url) = serve(&root);
    let mut client = Client::connect(&url).await;
    let downloads = root.join("downloads");
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(downloads.join("a-file"), b"x").unwrap();
    std::os::unix::fs::symlink(&elsewhere, downloads.join("escape")).unwrap();
    let before = walk(&root);
    let add = |dir: String| json!({"type": "torrent", "uri": torrent.base64(), "download_dir": dir, "paused": true});
    let cases = [
        ("relative/folder".to_owned(), "absolute"),
        ("".to_owned(), "empty"),
        (format!("{}/new/../x", downloads.display()), ".."),
        (format!("{}/a-file", downloads.display()), "not a folder"),
        (
            format!("{}/a-file/below", downloads.display()),
            "not a folder",
        ),
        (format!("{}/escape/x", downloads.display()), "symlink"),
    ];
    for (dir, why) in cases {
        let response = client.call("task.add", add(dir.clone())).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], -2, "{dir}: {response}");
        let message = response["message"].as_str().unwrap();
        assert!(
            message.contains("download_dir") && message.contains(why),
            "{dir}: {message}"
        );
        assert_eq!(client.ok("task.list", Value::Null).await, json!([]));
    }
    assert_eq!(walk(&root), before, "a refused add changed the disk");
    // Loopback may name a folder outside the roots.
    client
        .ok("task.add", add(elsewhere.display().to_string()))
        .await;
    let metadata = client
        .ok("task.getMetadata", json!({"task_id": torrent.info_hash}))
        .await;
    assert_eq!(metadata["download_dir"], elsewhere.display().to_string());
}

/// A client on another machine may name only folders under the download roots: anything else
/// is -6 and creates nothing; a folder under a root is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_client_is_held_to_the_download_roots() {
    if !support::root_or_skip("a network namespace for a remote client") {
        return;
    }
    let token = "remote-add-options-token-0123456789";
    let outer = tempfile::tempdir().unwrap();
    let outer = outer.path().canonicalize().unwrap();
    let library = outer.join("library");
    std::fs::create_dir(&library).unwrap();
    let secret = outer.join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::os::unix::fs::symlink(&secret, library.join("leak")).unwrap();
    let settings = json!({"token": token, "download_roots": [library]}).to_string();
    let Some(server) = RemoteServer::start(&settings, &[]) else {
        return;
    };
    let downloads = server.data_dir.parent().unwrap().join("downloads");
    let mut client = try_connect(
        &server.url,
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await
    .unwrap_or_else(|status| panic!("refused with HTTP {status}"));
    let torrent = TestTorrent::build(five_files(Vec::new(), 45));
    let add = |dir: &Path| {
        json!({"type": "torrent", "uri": torrent.base64(), "paused": true,
               "download_dir": dir})
    };
    let before = (walk(&outer), walk(&downloads));
    for outside in [
        secret.join("new"),
        secret.clone(),
        PathBuf::from("/tmp/magnetar-remote"),
    ] {
        let response = client.call("task.add", add(&outside)).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], -6, "{}: {response}", outside.display());
        assert!(
            response["message"]
                .as_str()
                .unwrap()
                .contains("download roots"),
            "{response}"
        );
    }
    // Through a symlink in a root to outside it: -2.
    let response = client.call("task.add", add(&library.join("leak/x"))).await;
    assert_eq!(response["error"], -2, "{response}");
    // A label folder outside the roots cannot be set remotely either (remote_admin is off:
    // the method itself is refused).
    let response = client
        .call(
            "session.setLabels",
            json!({"labels": [{"name": "x", "folder": secret}]}),
        )
        .await;
    assert_eq!(response["error"], -6, "{response}");
    assert_eq!(client.ok("task.list", Value::Null).await, json!([]));
    assert_eq!(
        (walk(&outer), walk(&downloads)),
        before,
        "a refused add changed the disk"
    );
    assert!(!Path::new("/tmp/magnetar-remote").exists());
    // Under a root, and under the download folder: fine.
    client.ok("task.add", add(&library.join("tv"))).await;
    let metadata = client
        .ok("task.getMetadata", json!({"task_id": torrent.info_hash}))
        .await;
    assert_eq!(
        metadata["download_dir"],
        library.join("tv").display().to_string()
    );
    let other = TestTorrent::build(five_files(Vec::new(), 46));
    let params = json!({"type": "torrent", "uri": other.base64(), "paused": true,
                        "download_dir": downloads.canonicalize().unwrap().join("sub")});
    client.ok("task.add", params).await;
}

/// Labels (the session's and each task's) and a task's folder survive a kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_folders_survive_a_kill() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let torrent = TestTorrent::build(five_files(Vec::new(), 47));
    let magnet_only = TestTorrent::build(five_files(Vec::new(), 48));
    let folder = root.join("mine");
    let labels = json!([{"name": "tv", "folder": root.join("tv")}, {"name": "music"}]);
    {
        let (mut server, url) = serve(&root);
        let mut client = Client::connect(&url).await;
        client
            .ok("session.setLabels", json!({"labels": labels}))
            .await;
        client
            .ok(
                "task.add",
                json!({"type": "torrent", "uri": torrent.base64(), "paused": true,
                       "label": "tv", "download_dir": folder, "files": [0]}),
            )
            .await;
        // A magnet waiting for its metadata (paused: nothing is fetched), with its options.
        client
            .ok(
                "task.add",
                json!({"type": "magnet", "uri": magnet_only.magnet(&[]), "paused": true,
                       "label": "tv", "files": [0]}),
            )
            .await;
        client
            .ok(
                "task.setLabel",
                json!({"task_id": torrent.info_hash, "label": "music"}),
            )
            .await;
        server.0.kill().unwrap();
        server.0.wait().unwrap();
    }
    let (_server, url) = serve(&root);
    let mut client = Client::connect(&url).await;
    let got = client.ok("session.getLabels", Value::Null).await;
    assert_eq!(got["labels"][0]["name"], "tv");
    assert_eq!(
        got["labels"][0]["folder"],
        root.join("tv").display().to_string()
    );
    assert_eq!(
        got["labels"][1],
        json!({"name": "music", "folder": null, "seed_goal": null})
    );
    assert_eq!(client.summary(&torrent.info_hash).await["label"], "music");
    let metadata = client
        .ok("task.getMetadata", json!({"task_id": torrent.info_hash}))
        .await;
    assert_eq!(metadata["download_dir"], folder.display().to_string());
    // Paused, with nothing on disk, it rests out of librqbit and has made nothing. Resumed, the
    // restored torrent creates only its chosen file, in its folder (both from Magnetar's own
    // store: librqbit is given the task again).
    assert_eq!(client.summary(&torrent.info_hash).await["state"], 4);
    assert!(walk(&folder).is_empty(), "{:?}", walk(&folder));
    client
        .ok("task.resume", json!({"task_id": torrent.info_hash}))
        .await;
    let chosen_file = folder.join("five/a.bin");
    support::poll_until(
        "the chosen file made at its length",
        support::PATIENCE,
        Duration::from_millis(50),
        async || match std::fs::metadata(&chosen_file) {
            Ok(m) if m.len() == 64 * 1024 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    assert_eq!(
        walk(&folder),
        paths(&["five", "five/a.bin"])
            .into_iter()
            .collect::<Vec<_>>()
    );
    let pending = client.summary(&magnet_only.info_hash).await;
    assert_eq!(pending["label"], "tv", "{pending}");
    let metadata = client
        .ok(
            "task.getMetadata",
            json!({"task_id": magnet_only.info_hash}),
        )
        .await;
    assert_eq!(
        metadata["download_dir"],
        root.join("tv").display().to_string()
    );
    // Clearing a label, and deleting a label that a task carries: both leave no label.
    client
        .ok(
            "task.setLabel",
            json!({"task_id": torrent.info_hash, "label": null}),
        )
        .await;
    assert_eq!(
        client.summary(&torrent.info_hash).await["label"],
        Value::Null
    );
    client
        .ok("session.setLabels", json!({"labels": [{"name": "music"}]}))
        .await;
    let event = client.wait_event("session.labelsUpdated", |_| true).await;
    assert_eq!(
        event["data"]["labels"],
        json!([{"name": "music", "folder": null, "seed_goal": null}])
    );
    client
        .poll_summary(&magnet_only.info_hash, "the deleted label gone", |s| {
            s["label"].is_null()
        })
        .await;
}

/// Every bad input of the new methods and fields, on one connection that keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_on_a_connection_that_keeps_working() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let (_server, url) = serve(&root);
    let mut client = Client::connect(&url).await;
    let torrent = TestTorrent::build(five_files(Vec::new(), 49));
    std::fs::write(root.join("a-file"), b"x").unwrap();
    client
        .ok("session.setLabels", json!({"labels": [{"name": "tv"}]}))
        .await;
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "paused": true}),
        )
        .await;
    // Another name: a refusal must come from the option, not from a path collision.
    let other = TestTorrent::build(TorrentSpec {
        name: "other",
        ..five_files(Vec::new(), 50)
    });
    let add = |extra: Value| {
        let mut params = json!({"type": "torrent", "uri": other.base64(), "paused": true});
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        params
    };
    let long = "x".repeat(65);
    let id = torrent.info_hash.clone();
    let cases: Vec<(&str, Value, i64, &str)> = vec![
        (
            "task.add",
            add(json!({"download_dir": 5})),
            -2,
            "download_dir",
        ),
        (
            "task.add",
            add(json!({"download_dir": ["/x"]})),
            -2,
            "download_dir",
        ),
        (
            "task.add",
            add(json!({"download_dir": "a\u{0}b"})),
            -2,
            "download_dir",
        ),
        ("task.add", add(json!({"label": 5})), -2, "label"),
        (
            "task.add",
            add(json!({"label": "nope"})),
            -2,
            "unknown label",
        ),
        ("task.add", add(json!({"label": ""})), -2, "label"),
        ("task.add", add(json!({"files": "0"})), -2, "files"),
        ("task.add", add(json!({"files": [-1]})), -2, "files"),
        ("task.add", add(json!({"files": [1.5]})), -2, "files"),
        ("task.add", add(json!({"files": [5]})), -2, "files"),
        ("task.add", add(json!({"files": [1, 1]})), -2, "twice"),
        ("task.setLabel", Value::Null, -2, "params"),
        ("task.setLabel", json!([]), -2, "params"),
        ("task.setLabel", json!({"label": "tv"}), -2, "task_id"),
        ("task.setLabel", json!({"task_id": id}), -2, "label"),
        (
            "task.setLabel",
            json!({"task_id": 7, "label": "tv"}),
            -2,
            "task_id",
        ),
        (
            "task.setLabel",
            json!({"task_id": "zz", "label": "tv"}),
            -4,
            "not found",
        ),
        (
            "task.setLabel",
            json!({"task_id": id, "label": 5}),
            -2,
            "label",
        ),
        (
            "task.setLabel",
            json!({"task_id": id, "label": "nope"}),
            -2,
            "unknown label",
        ),
        (
            "task.setLabel",
            json!({"task_id": id, "label": "tv", "move": "yes"}),
            -2,
            "move: must be a boolean",
        ),
        (
            "task.setLabel",
            json!({"task_id": id, "label": "tv", "x": 1}),
            -2,
            "unknown field",
        ),
        (
            "task.setLabel",
            json!({"task_id": "0".repeat(40), "label": "tv"}),
            -4,
            "not found",
        ),
        ("session.setLabels", Value::Null, -2, "params"),
        ("session.setLabels", json!({}), -2, "labels"),
        ("session.setLabels", json!({"labels": {}}), -2, "labels"),
        (
            "session.setLabels",
            json!({"labels": [], "x": 1}),
            -2,
            "unknown field",
        ),
        (
            "session.setLabels",
            json!({"labels": ["tv"]}),
            -2,
            "labels[0]",
        ),
        ("session.setLabels", json!({"labels": [{}]}), -2, "name"),
        (
            "session.setLabels",
            json!({"labels": [{"name": ""}]}),
            -2,
            "empty",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": long}]}),
            -2,
            "64",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "a\nb"}]}),
            -2,
            "control",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": " a"}]}),
            -2,
            "spaces",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": 5}]}),
            -2,
            "labels[0]",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "A"}, {"name": "a"}]}),
            -2,
            "twice",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "a", "x": 1}]}),
            -2,
            "unknown field",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "a", "folder": "rel"}]}),
            -2,
            "labels[0].folder",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "a", "folder": root.join("a-file")}]}),
            -2,
            "not a folder",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "a", "folder": 5}]}),
            -2,
            "labels[0]",
        ),
        (
            "session.setLabels",
            json!({"labels": [{"name": "a", "seed_goal": 5}]}),
            -2,
            "seed_goal",
        ),
        ("session.getLabels", json!([]), -2, "params"),
    ];
    for (method, params, code, why) in cases {
        let response = client.call(method, params.clone()).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], code, "{method} {params}: {response}");
        let message = response["message"].as_str().unwrap();
        assert!(message.contains(why), "{method} {params}: {message}");
        // The connection keeps working, and nothing changed.
        let labels = client.ok("session.getLabels", Value::Null).await;
        assert_eq!(
            labels,
            json!({"labels": [{"name": "tv", "folder": null, "seed_goal": null}]})
        );
        let list = client.ok("task.list", Value::Null).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["label"], Value::Null);
    }
    assert!(!root.join("downloads/other").exists());
}
