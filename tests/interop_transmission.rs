//! Interoperability with Transmission (Debian's transmission-daemon): Transmission seeding to
//! Magnetar by magnet with `x.pe`, and Magnetar seeding to Transmission through a local tracker.
//!
//! Transmission never dials a loopback address it learns from a tracker (it treats 127/8 as
//! "martian"), so on loopback Magnetar must be the one that connects: Transmission announces
//! first, then Magnetar's announce returns it.

mod support;

use std::time::Duration;

use serde_json::json;
use support::peers::{Tracker, Transmission};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

fn spec(trackers: Vec<String>, seed: u64) -> TorrentSpec<'static> {
    TorrentSpec {
        name: "shared folder",
        files: vec![
            ("notes.txt", 123_456),
            ("sub/video.bin", 3 * 1024 * 1024 + 1),
        ],
        single: false,
        piece_length: 64 * 1024,
        trackers,
        seed,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transmission_seeds_to_magnetar() {
    let torrent = TestTorrent::build(spec(Vec::new(), 41));
    let transmission = Transmission::start();
    torrent.write_content(&transmission.download_dir);
    transmission.add(&torrent);
    transmission
        .wait_done(&torrent.info_hash, Duration::from_secs(60))
        .await;

    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client
        .add_magnet(&torrent.magnet(&[transmission.addr()]))
        .await;
    client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    client.poll_state(&id, 2).await;
    torrent.assert_downloaded(&server.download_dir);
    let metadata = client.ok("task.getMetadata", json!({"task_id": id})).await;
    assert_eq!(metadata["name"], "shared folder");
    assert_eq!(metadata["files"][1]["path"], "sub/video.bin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnetar_seeds_to_transmission() {
    let probe = TestTorrent::build(spec(Vec::new(), 42));
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = TestTorrent::build(spec(vec![tracker.announce.clone()], 42));

    let transmission = Transmission::start();
    transmission.add(&torrent);
    transmission.wait_announced(&torrent.info_hash).await;

    let server = TestServer::start().await;
    torrent.write_content(&server.download_dir);
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_torrent(&torrent).await;
    transmission
        .wait_done(&torrent.info_hash, Duration::from_secs(120))
        .await;
    torrent.assert_downloaded(&transmission.download_dir);
    let summary = client.poll_ul_bytes(&id, torrent.total_len()).await;
    assert!(
        summary["ul_bytes"].as_u64().unwrap() >= torrent.total_len(),
        "{summary}"
    );
}
