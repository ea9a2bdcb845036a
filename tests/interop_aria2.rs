//! Interoperability with a third-party client from Debian: aria2c seeding to Magnetar, and
//! Magnetar seeding to aria2c. Byte-for-byte checks on both sides.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::peers::{Aria2, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

fn spec(trackers: Vec<String>, seed: u64) -> TorrentSpec<'static> {
    TorrentSpec {
        name: "interop",
        files: vec![
            ("docs/readme.txt", 200_000),
            ("data.bin", 4 * 1024 * 1024 + 5),
        ],
        single: false,
        piece_length: 256 * 1024,
        trackers,
        seed,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2_seeds_to_magnetar_by_magnet_with_x_pe() {
    let torrent = TestTorrent::build(spec(Vec::new(), 21));
    let seed_dir = tempfile::tempdir().unwrap();
    let aria2 = Aria2::seed(&torrent, seed_dir.path());
    support::peers::wait_for_port(aria2.port);

    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    let started = Instant::now();
    client.add_magnet(&torrent.magnet(&[aria2.addr()])).await;
    client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    client.poll_state(&id, 2).await;
    let elapsed = started.elapsed();
    torrent.assert_downloaded(&server.download_dir);
    eprintln!(
        "downloaded {} bytes from aria2c in {elapsed:?}",
        torrent.total_len()
    );
    let metadata = client.ok("task.getMetadata", json!({"task_id": id})).await;
    assert_eq!(metadata["files"][0]["path"], "docs/readme.txt");
    drop(aria2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnetar_seeds_to_aria2_through_a_local_tracker() {
    let probe = TestTorrent::build(spec(Vec::new(), 22));
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = TestTorrent::build(spec(vec![tracker.announce.clone()], 22));

    let root = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(root.path()).await;
    torrent.write_content(&server.download_dir);
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;

    let leech_dir = tempfile::tempdir().unwrap();
    let mut aria2 = Aria2::download(&torrent, leech_dir.path());
    let finished = aria2.wait_exit(Duration::from_secs(120)).await;
    assert!(finished, "aria2c did not finish downloading from Magnetar");
    torrent.assert_downloaded(leech_dir.path());
    // Our upload counter saw it, and keeps it across a restart.
    let summary = client.poll_ul_bytes(&id, torrent.total_len()).await;
    let uploaded = summary["ul_bytes"].as_u64().unwrap();
    assert!(uploaded >= torrent.total_len(), "{summary}");
    drop(client);
    server.stop().await;
    let server = TestServer::start_in(root.path()).await;
    let mut client = server.client().await;
    assert_eq!(client.summary(&id).await["ul_bytes"], uploaded);
}
