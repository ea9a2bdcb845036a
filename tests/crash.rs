//! Nothing is lost on a crash: the real `magnetar serve` binary is killed with SIGKILL in the
//! middle of a download, just after a magnet was added, and restarted in the same folders. Both
//! tasks come back and complete, and the files are byte-identical to the seeded content.

mod support;

use std::io::BufReader;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use support::peers::{ChildGuard, LibrqbitSeeder, Tracker};
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

fn spec(name: &str, size: usize, seed: u64, trackers: Vec<String>) -> TorrentSpec<'_> {
    TorrentSpec {
        name,
        files: vec![("part-1.bin", size), ("part-2.bin", size / 3)],
        single: false,
        piece_length: 64 * 1024,
        trackers,
        seed,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_download_then_restart_completes_byte_identical() {
    // Both torrents list a local tracker, so that after the restart their peers are found
    // whatever librqbit persisted of them.
    let probes = [
        TestTorrent::build(spec("crashed", 6 << 20, 31, Vec::new())),
        TestTorrent::build(spec("late-magnet", 1 << 20, 32, Vec::new())),
    ];
    let tracker = Tracker::start(&[&probes[0].info_hash, &probes[1].info_hash]);
    let trackers = vec![tracker.announce.clone()];
    let slow = TestTorrent::build(spec("crashed", 6 << 20, 31, trackers.clone()));
    let late = TestTorrent::build(spec("late-magnet", 1 << 20, 32, trackers.clone()));
    // 1 MiB/s: the 8 MiB download is still running when the kill comes.
    let slow_seeder = LibrqbitSeeder::start_limited(&slow, Some(1024 * 1024)).await;
    let late_seeder = LibrqbitSeeder::start(&late).await;

    let root = tempfile::tempdir().unwrap();
    let (mut first, url) = serve(root.path());
    let mut client = Client::connect(&url).await;
    client.add_torrent(&slow).await;
    client
        .poll_summary(&slow.info_hash, "over 1 MiB downloaded", |s| {
            s["dl_bytes"].as_u64().unwrap_or(0) > 1 << 20
        })
        .await;
    let magnet = format!(
        "{}&tr={}",
        late.magnet(&[late_seeder.addr]),
        tracker.announce
    );
    client.add_magnet(&magnet).await;
    // SIGKILL: no shutdown path runs, nothing is flushed by us after this point.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let partial = first_file_incomplete(&slow, root.path());
    assert!(
        partial,
        "the download had already finished: the kill came too late"
    );
    drop(client);

    let (_second, url) = serve(root.path());
    let mut client = Client::connect(&url).await;
    let list = client.ok("task.list", Value::Null).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(ids.contains(&slow.info_hash.as_str()), "{list}");
    assert!(
        ids.contains(&late.info_hash.as_str()),
        "the magnet was lost: {list}"
    );
    for torrent in [&slow, &late] {
        let summary = client.poll_state(&torrent.info_hash, 2).await;
        assert_eq!(summary["dl_bytes"], torrent.total_len(), "{summary}");
        torrent.assert_downloaded(&root.path().join("downloads"));
    }
    drop((slow_seeder, late_seeder));
}

/// True when the first file of `torrent` is not yet complete on disk.
fn first_file_incomplete(torrent: &TestTorrent, root: &Path) -> bool {
    let path = &torrent.file_paths(&root.join("downloads"))[0];
    std::fs::read(path).map_or(true, |data| data != torrent.files[0].1)
}
