//! The user's files, answered adds and hostile metadata, against the real `magnetar serve`
//! binary (security issue #21):
//!
//! - a file of the user's that a new torrent names (`~/Downloads/notes.txt`) is never written
//!   over nor deleted: the .torrent add is refused (-2, naming the path), a magnet's task fails
//!   (state 5); an empty file in the way is used but kept on a remove with `delete_files`; the
//!   torrent's own data already in place (complete or partial) is used, and deletable;
//! - an add that was answered survives a `kill -9` that comes 0-50 ms after the answer;
//! - an info dictionary of millions of tiny values from a peer fails its task without the
//!   server's memory growing with the count of values.
//!
//! Every expectation comes from the rule (ARCHITECTURE.md, "Trust boundaries": write only into
//! files Magnetar created or verified as the torrent's own data), not from the code.

mod support;

use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use support::metadata_peer::MetadataPeer;
use support::peers::{ChildGuard, LibrqbitSeeder, Tracker};
use support::torrent::{Bencode, TestTorrent, TorrentSpec};
use support::Client;

/// The real binary on loopback (DHT, UPnP, LSD off) in `root/data` and `root/downloads`.
struct Server {
    child: ChildGuard,
    url: String,
}

impl Server {
    fn start(root: &Path) -> Server {
        let mut child = support::serve_command(&root.join("data"), &root.join("downloads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("magnetar starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (line, _) = support::read_line_within(stdout);
        Server {
            child: ChildGuard(child),
            url: support::url_in_ready_line(&line),
        }
    }

    async fn client(&self) -> Client {
        Client::connect(&self.url).await
    }

    /// SIGKILL: nothing of the server's runs after this.
    fn kill9(mut self) {
        self.child.0.kill().unwrap();
        self.child.0.wait().unwrap();
    }

    /// The server's peak resident set so far (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }
}

/// A fresh root with an empty download folder.
fn root() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let downloads = root.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    (root, downloads)
}

const USERS_NOTES: &[u8] = b"My own notes. Not a torrent. Do not overwrite, do not delete.\n";

fn notes_torrent(seed: u64, trackers: Vec<String>) -> TestTorrent {
    TestTorrent::build(TorrentSpec {
        name: "notes.txt",
        files: vec![("notes.txt", 200 * 1024)],
        piece_length: 16 * 1024,
        trackers,
        seed,
        ..Default::default()
    })
}

/// The torrent `build` makes, listing a local tracker (the info hash is the same with or
/// without it), so that a .torrent task finds its seeder; and the tracker.
fn tracked(build: impl Fn(Vec<String>) -> TestTorrent) -> (TestTorrent, Tracker) {
    let probe = build(Vec::new());
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = build(vec![tracker.announce.clone()]);
    assert_eq!(torrent.info_hash, probe.info_hash);
    (torrent, tracker)
}

/// Polls `task.list` until the task leaves states 0 and 1 (done, failed or paused), or
/// `patience` passes; returns its last summary.
async fn settle(c: &mut Client, id: &str, patience: Duration) -> Value {
    leave(c, id, &[0, 1], patience).await
}

/// Polls `task.list` until the task's state is none of `states`, or `patience` passes;
/// returns its last summary.
async fn leave(c: &mut Client, id: &str, states: &[i64], patience: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let summary = c.summary(id).await;
        let state = summary["state"].as_i64().unwrap_or(-1);
        if !states.contains(&state) || tokio::time::Instant::now() >= deadline {
            return summary;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Does the file at `path` hold exactly `content`?
fn holds(path: &Path, content: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|now| now == content)
}

/// What became of the user's file, for failure messages.
fn fate(path: &Path, original: &[u8]) -> String {
    match std::fs::read(path) {
        Ok(now) if now == original => "still byte-identical".into(),
        Ok(now) => format!(
            "OVERWRITTEN (now {} bytes instead of {})",
            now.len(),
            original.len()
        ),
        Err(e) => format!("GONE ({e})"),
    }
}

async fn task_ids(c: &mut Client) -> BTreeSet<String> {
    let list = c.ok("task.list", Value::Null).await;
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect()
}

/// A .torrent whose single file `notes.txt` would land on the user's `notes.txt` is refused
/// with -2 naming the path; the file is untouched and no task exists, though a seeder of the
/// torrent's data is right there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_naming_the_users_file_is_refused() {
    let (root, downloads) = root();
    let notes = downloads.join("notes.txt");
    std::fs::write(&notes, USERS_NOTES).unwrap();
    let (torrent, _tracker) = tracked(|t| notes_torrent(2101, t));
    let _seeder = LibrqbitSeeder::start(&torrent).await;
    let server = Server::start(root.path());
    let mut c = server.client().await;
    let params = json!({"type": "torrent", "uri": torrent.base64()});
    let response = c.call("task.add", params).await;
    if response["error"] == 0 {
        // The old behaviour: see what it does to the file before failing.
        let summary = settle(&mut c, &torrent.info_hash, Duration::from_secs(20)).await;
        panic!(
            "the add was accepted ({response}); the task went to state {}; notes.txt is {}",
            summary["state"],
            fate(&notes, USERS_NOTES)
        );
    }
    assert_eq!(response["error"], -2, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains(&notes.display().to_string()),
        "the refusal does not name {}: {message}",
        notes.display()
    );
    assert_eq!(std::fs::read(&notes).unwrap(), USERS_NOTES);
    assert!(task_ids(&mut c).await.is_empty());
    // And nothing was kept of it: a restart brings no task back.
    server.kill9();
    let server = Server::start(root.path());
    let mut c = server.client().await;
    assert!(task_ids(&mut c).await.is_empty());
    assert_eq!(std::fs::read(&notes).unwrap(), USERS_NOTES);
}

/// The same torrent as a magnet, its metadata from a real seeder: the task fails (state 5)
/// naming the path, the file is untouched, and a remove with `delete_files` leaves it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_naming_the_users_file_fails_and_its_remove_keeps_the_file() {
    let (root, downloads) = root();
    let notes = downloads.join("notes.txt");
    std::fs::write(&notes, USERS_NOTES).unwrap();
    let torrent = notes_torrent(2102, Vec::new());
    let seeder = LibrqbitSeeder::start(&torrent).await;
    let server = Server::start(root.path());
    let mut c = server.client().await;
    c.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    let summary = settle(&mut c, &torrent.info_hash, Duration::from_secs(30)).await;
    assert_eq!(
        summary["state"],
        5,
        "the magnet did not fail: {summary}; notes.txt is {}",
        fate(&notes, USERS_NOTES)
    );
    let error = summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&notes.display().to_string()),
        "the task's error does not name {}: {summary}",
        notes.display()
    );
    assert_eq!(std::fs::read(&notes).unwrap(), USERS_NOTES);
    c.ok(
        "task.remove",
        json!({"task_id": torrent.info_hash, "delete_files": true}),
    )
    .await;
    assert!(task_ids(&mut c).await.is_empty());
    assert!(
        holds(&notes, USERS_NOTES),
        "the remove with delete_files took the user's file: it is {}",
        fate(&notes, USERS_NOTES)
    );
}

/// A multi-file torrent whose folder already holds a user's file at one of its paths: refused
/// with -2 naming that path; the user's file is untouched and none of the torrent's other files
/// is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_file_torrent_over_a_users_file_is_refused() {
    let (root, downloads) = root();
    let (torrent, _tracker) = tracked(|trackers| {
        TestTorrent::build(TorrentSpec {
            name: "album",
            files: vec![
                ("cd1/track 1.flac", 96 * 1024),
                ("notes.txt", 40 * 1024),
                ("cover.jpg", 20 * 1024),
            ],
            single: false,
            piece_length: 16 * 1024,
            trackers,
            seed: 2103,
            ..Default::default()
        })
    });
    let paths = torrent.file_paths(&downloads);
    let users = &paths[1];
    std::fs::create_dir_all(users.parent().unwrap()).unwrap();
    std::fs::write(users, USERS_NOTES).unwrap();
    let _seeder = LibrqbitSeeder::start(&torrent).await;
    let server = Server::start(root.path());
    let mut c = server.client().await;
    let response = c
        .call(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64()}),
        )
        .await;
    if response["error"] == 0 {
        let summary = settle(&mut c, &torrent.info_hash, Duration::from_secs(20)).await;
        panic!(
            "the add was accepted ({response}); the task went to state {}; album/notes.txt is {}",
            summary["state"],
            fate(users, USERS_NOTES)
        );
    }
    assert_eq!(response["error"], -2, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains(&users.display().to_string()),
        "the refusal does not name {}: {message}",
        users.display()
    );
    assert_eq!(std::fs::read(users).unwrap(), USERS_NOTES);
    for other in [&paths[0], &paths[2]] {
        assert!(!other.exists(), "{} was created", other.display());
    }
    assert!(task_ids(&mut c).await.is_empty());
}

/// The torrent's own data already in place is used: complete, the task seeds at once with no
/// peer; partial (its first half), the rest comes from a seeder. Both are the torrent's data,
/// so a remove with `delete_files` deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_torrents_own_data_in_place_is_used_and_deletable() {
    let (root, downloads) = root();
    let complete = TestTorrent::build(TorrentSpec {
        name: "complete.bin",
        files: vec![("complete.bin", 300 * 1024)],
        piece_length: 16 * 1024,
        seed: 2104,
        ..Default::default()
    });
    complete.write_content(&downloads);
    let partial = TestTorrent::build(TorrentSpec {
        name: "partial",
        files: vec![("a.bin", 200 * 1024), ("b.bin", 100 * 1024)],
        single: false,
        piece_length: 16 * 1024,
        seed: 2105,
        ..Default::default()
    });
    // The first half of a.bin as a partial download leaves it: good pieces, then zeros.
    let partial_paths = partial.file_paths(&downloads);
    let mut half = partial.files[0].1.clone();
    half[100 * 1024..].fill(0);
    std::fs::create_dir_all(partial_paths[0].parent().unwrap()).unwrap();
    std::fs::write(&partial_paths[0], &half).unwrap();
    let seeder = LibrqbitSeeder::start(&partial).await;

    let server = Server::start(root.path());
    let mut c = server.client().await;
    c.add_torrent(&complete).await;
    c.add_magnet(&partial.magnet(&[seeder.addr])).await;
    let summary = c.poll_state(&complete.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], complete.total_len(), "{summary}");
    let summary = c.poll_state(&partial.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], partial.total_len(), "{summary}");
    complete.assert_downloaded(&downloads);
    partial.assert_downloaded(&downloads);

    for torrent in [&complete, &partial] {
        c.ok(
            "task.remove",
            json!({"task_id": torrent.info_hash, "delete_files": true}),
        )
        .await;
        for path in torrent.file_paths(&downloads) {
            assert!(
                !path.exists(),
                "{} is the torrent's verified data, yet delete_files left it",
                path.display()
            );
        }
    }
}

/// An empty file in the way holds nothing to lose: it is used and the download completes into
/// it. But Magnetar did not create it, and it verified as nothing: a remove with
/// `delete_files` keeps it (now full), even after a kill -9 and a restart, and deletes only the
/// files it created. Single-file (.torrent) and multi-file (magnet from a real seeder).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_in_the_way_is_filled_but_never_deleted() {
    let (root, downloads) = root();
    let (single, _tracker) = tracked(|t| notes_torrent(2106, t));
    let notes = downloads.join("notes.txt");
    std::fs::write(&notes, b"").unwrap();
    let multi = TestTorrent::build(TorrentSpec {
        name: "project",
        files: vec![("notes.txt", 50 * 1024), ("data.bin", 150 * 1024)],
        single: false,
        piece_length: 16 * 1024,
        seed: 2107,
        ..Default::default()
    });
    let multi_paths = multi.file_paths(&downloads);
    std::fs::create_dir_all(multi_paths[0].parent().unwrap()).unwrap();
    std::fs::write(&multi_paths[0], b"").unwrap();
    let _single_seeder = LibrqbitSeeder::start(&single).await;
    let multi_seeder = LibrqbitSeeder::start(&multi).await;

    let server = Server::start(root.path());
    let mut c = server.client().await;
    let params = json!({"type": "torrent", "uri": single.base64()});
    let response = c.call("task.add", params).await;
    assert_eq!(
        response["error"], 0,
        "an empty file refused the add: {response}"
    );
    c.add_magnet(&multi.magnet(&[multi_seeder.addr])).await;
    let summary = c.poll_state(&multi.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], multi.total_len(), "{summary}");
    multi.assert_downloaded(&downloads);

    let summary = c.poll_state(&single.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], single.total_len(), "{summary}");
    single.assert_downloaded(&downloads);

    // A kill -9 and a restart: what was kept must still be known.
    server.kill9();
    let server = Server::start(root.path());
    let mut c = server.client().await;
    for torrent in [&single, &multi] {
        c.poll_state(&torrent.info_hash, 2).await;
        c.ok(
            "task.remove",
            json!({"task_id": torrent.info_hash, "delete_files": true}),
        )
        .await;
    }
    assert!(
        holds(&notes, &single.files[0].1),
        "notes.txt was the user's (empty) file: delete_files must keep it, full; it is {}",
        fate(&notes, &single.files[0].1)
    );
    assert!(
        holds(&multi_paths[0], &multi.files[0].1),
        "project/notes.txt was the user's (empty) file: delete_files must keep it, full; it is {}",
        fate(&multi_paths[0], &multi.files[0].1)
    );
    assert!(
        !multi_paths[1].exists(),
        "project/data.bin was created by Magnetar: delete_files must delete it"
    );
}

/// A small torrent with no peer anywhere: it only has to be remembered.
fn quick_torrent(i: usize) -> TestTorrent {
    let name = format!("answered-{i}.bin");
    TestTorrent::build(TorrentSpec {
        name: &name,
        files: vec![(&name, 16 * 1024)],
        piece_length: 16 * 1024,
        seed: 2200 + i as u64,
        ..Default::default()
    })
}

/// Waits until every task of `paused` that is listed reports paused (4) and every other one
/// does not (a restored task may show 0 for a moment); returns the ids listed and the tasks
/// whose state is wrong at the deadline.
async fn listed_after_restart(
    c: &mut Client,
    paused: &BTreeSet<String>,
) -> (BTreeSet<String>, Vec<String>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = c.ok("task.list", Value::Null).await;
        let rows = list.as_array().unwrap();
        let ids = rows
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        let wrong: Vec<String> = rows
            .iter()
            .filter(|t| {
                let want_paused = paused.contains(t["id"].as_str().unwrap_or_default());
                (t["state"] == 4) != want_paused || t["state"] == 5
            })
            .map(|t| format!("{} state {}", t["id"], t["state"]))
            .collect();
        if wrong.is_empty() || tokio::time::Instant::now() >= deadline {
            return (ids, wrong);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 20 rounds: add a .torrent (paused in half the rounds), kill -9 the server 0-50 ms after
/// the answer (at once in half the rounds: the old code lost adds in the first millisecond or
/// so, and a uniform spread hit that window once in 20), restart it on the same folders. Every task added so far must be listed, paused as
/// added. An answer promises the task exists; a kill right after it must not take that back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_within_50_ms_of_each_answered_add_loses_nothing() {
    const ROUNDS: usize = 20;
    let root = tempfile::tempdir().unwrap();
    let mut server = Server::start(root.path());
    let mut expected = BTreeSet::new();
    let mut paused = BTreeSet::new();
    let (mut rounds_lost, mut tasks_lost, mut wrong_states) = (0, 0, Vec::new());
    for round in 0..ROUNDS {
        let torrent = quick_torrent(round);
        let pause = round % 4 >= 2;
        let mut c = server.client().await;
        let params = json!({"type": "torrent", "uri": torrent.base64(), "paused": pause});
        c.ok("task.add", params).await;
        // Even rounds at once; odd ones 14, 40, 16, 42, ... ms: spread over 1-50 ms, the same
        // in every run.
        let delay = if round % 2 == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis((round as u64 * 13) % 50 + 1)
        };
        tokio::time::sleep(delay).await;
        server.kill9();
        drop(c);
        expected.insert(torrent.info_hash.clone());
        if pause {
            paused.insert(torrent.info_hash.clone());
        }
        server = Server::start(root.path());
        let mut c = server.client().await;
        let (listed, wrong) = listed_after_restart(&mut c, &paused).await;
        let missing: Vec<&String> = expected.difference(&listed).collect();
        if !missing.is_empty() {
            rounds_lost += 1;
            tasks_lost += missing.len();
            eprintln!(
                "round {round} (kill {delay:?} after the answer, paused {pause}): lost {missing:?}"
            );
        }
        wrong_states.extend(wrong.into_iter().map(|w| format!("round {round}: {w}")));
        // What is lost stays lost: count each loss once.
        expected = expected.intersection(&listed).cloned().collect();
    }
    eprintln!(
        "kill -9 0-50 ms after an answered add: {rounds_lost} of {ROUNDS} rounds lost a task \
         ({tasks_lost} tasks); wrong states: {wrong_states:?}"
    );
    assert_eq!(
        (rounds_lost, tasks_lost),
        (0, 0),
        "answered adds were lost to a kill -9"
    );
    assert!(wrong_states.is_empty(), "{wrong_states:?}");
}

/// 20 adds sent without waiting (a client adding a folder of torrents), kill -9 as soon as the
/// last answer arrives: after a restart all 20 are listed, paused as added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_20_pipelined_answers_loses_nothing() {
    const ADDS: usize = 20;
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(root.path());
    let mut c = server.client().await;
    let torrents: Vec<TestTorrent> = (100..100 + ADDS).map(quick_torrent).collect();
    let mut paused = BTreeSet::new();
    for (i, torrent) in torrents.iter().enumerate() {
        let pause = i % 2 == 1;
        if pause {
            paused.insert(torrent.info_hash.clone());
        }
        let params = json!({"type": "torrent", "uri": torrent.base64(), "paused": pause});
        let request = json!({"id": i, "method": "task.add", "params": params});
        c.send_text(request.to_string()).await;
    }
    for i in 0..ADDS {
        let response = c.response_to(&json!(i)).await;
        assert_eq!(response["error"], 0, "{response}");
    }
    server.kill9();
    drop(c);

    let server = Server::start(root.path());
    let mut c = server.client().await;
    let (listed, wrong) = listed_after_restart(&mut c, &paused).await;
    let came_back = torrents
        .iter()
        .filter(|t| listed.contains(&t.info_hash))
        .count();
    eprintln!("kill -9 right after {ADDS} pipelined answers: {came_back} of {ADDS} came back");
    assert_eq!(came_back, ADDS, "answered adds were lost to a kill -9");
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// Just under librqbit's 32 MiB cap on metadata.
const METADATA_CAP: usize = 32 * 1024 * 1024;

/// A valid single-file info dictionary plus a key `extra` holding as many `i0e` as fit in
/// just under 32 MiB (about 11 million values).
fn info_of_millions_of_values() -> (Vec<u8>, usize) {
    let piece: Vec<u8> = support::torrent::content(2300, 16 * 1024);
    let mut tail = Vec::new();
    for (key, value) in [
        ("length", Bencode::Int(piece.len() as i64)),
        ("name", Bencode::str("innocent.bin")),
        ("piece length", Bencode::Int(piece.len() as i64)),
        (
            "pieces",
            Bencode::Bytes(<sha1::Sha1 as sha1::Digest>::digest(&piece).to_vec()),
        ),
    ] {
        Bencode::str(key).encode(&mut tail);
        value.encode(&mut tail);
    }
    let head = b"d5:extral";
    let room = METADATA_CAP - 1024 - head.len() - 1 - tail.len() - 1;
    let values = room / 3;
    let mut info = Vec::with_capacity(METADATA_CAP);
    info.extend_from_slice(head);
    for _ in 0..values {
        info.extend_from_slice(b"i0e");
    }
    info.push(b'e');
    info.extend_from_slice(&tail);
    info.push(b'e');
    assert!(info.len() < METADATA_CAP);
    (info, values)
}

/// A peer hands out, for a magnet, an info dictionary of ~32 MiB made of about 11 million tiny
/// values. The task fails (state 5) saying there are too many values; the server's peak RSS
/// stays bounded (the values must never all become a tree); the other task and the server
/// carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_of_millions_of_tiny_values_fails_with_bounded_memory() {
    const PEAK_LIMIT_MIB: u64 = 250;
    let (root, downloads) = root();
    let other = TestTorrent::build(TorrentSpec {
        name: "other.bin",
        files: vec![("other.bin", 256 * 1024)],
        piece_length: 16 * 1024,
        seed: 2301,
        ..Default::default()
    });
    other.write_content(&downloads);
    let (info, values) = info_of_millions_of_values();
    let info_len = info.len();
    let peer = MetadataPeer::start(info).await;

    let server = Server::start(root.path());
    let mut c = server.client().await;
    c.add_torrent(&other).await;
    c.poll_state(&other.info_hash, 2).await;
    let before = server.peak_rss_kib();
    let started = std::time::Instant::now();
    c.add_magnet(&peer.magnet()).await;
    // Failed (5) at once here; accepted (1) is the old behaviour.
    let summary = leave(&mut c, &peer.info_hash, &[0], Duration::from_secs(45)).await;
    let peak = server.peak_rss_kib();
    eprintln!(
        "hostile metadata of {info_len} bytes, {values} values: task state {} after {:?}; \
         server peak RSS {} MiB before, {} MiB after; error: {}",
        summary["state"],
        started.elapsed(),
        before / 1024,
        peak / 1024,
        summary["error"]
    );
    assert_eq!(
        summary["state"], 5,
        "the hostile metadata was not refused: {summary}"
    );
    let error = summary["error"].as_str().unwrap_or_default();
    assert!(error.contains("too many values"), "{summary}");
    assert!(
        peak < PEAK_LIMIT_MIB * 1024,
        "peak RSS {} MiB, more than {PEAK_LIMIT_MIB} MiB",
        peak / 1024
    );
    // The other task is untouched and the server answers.
    let summary = c.summary(&other.info_hash).await;
    assert_eq!(
        (summary["state"].clone(), summary["dl_bytes"].clone()),
        (json!(2), json!(other.total_len())),
        "{summary}"
    );
    c.ok("session.info", Value::Null).await;
    other.assert_downloaded(&downloads);
}

/// A task removed with `delete_files: false` before any of its pieces was complete leaves its
/// files behind at full length, all zeros (librqbit creates them when a task is added, paused
/// or not): files Magnetar created, holding nothing. Adding the same torrent again is accepted
/// and completes into them. (The first fix refused it with -2, "not this torrent's data".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_removed_before_any_piece_can_be_added_again() {
    let (root, downloads) = root();
    let (torrent, _tracker) = tracked(|trackers| {
        TestTorrent::build(TorrentSpec {
            name: "again",
            files: vec![("first.bin", 64 * 1024), ("second.bin", 64 * 1024)],
            single: false,
            piece_length: 16 * 1024,
            trackers,
            seed: 2400,
            ..Default::default()
        })
    });
    let server = Server::start(root.path());
    let mut c = server.client().await;
    let paused = json!({"type": "torrent", "uri": torrent.base64(), "paused": true});
    c.ok("task.add", paused).await;
    c.poll_state(&torrent.info_hash, 4).await;
    c.ok(
        "task.remove",
        json!({"task_id": torrent.info_hash, "delete_files": false}),
    )
    .await;
    let sizes: Vec<Option<u64>> = torrent
        .file_paths(&downloads)
        .iter()
        .map(|p| std::fs::metadata(p).ok().map(|m| m.len()))
        .collect();
    let _seeder = LibrqbitSeeder::start(&torrent).await;
    let response = c
        .call(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64()}),
        )
        .await;
    assert_eq!(
        response["error"], 0,
        "re-adding a removed task's own leftovers (sizes on disk {sizes:?}) was refused: {response}"
    );
    let summary = c.poll_state(&torrent.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], torrent.total_len(), "{summary}");
    torrent.assert_downloaded(&downloads);
}
