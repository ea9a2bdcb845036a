//! What a task costs in file descriptors, counted from outside in the real binary's
//! `/proc/PID/fd`: a paused task holds none of its data files open, nor its fastresume
//! bitfield (a library of thousands of paused tasks must not run the process out of
//! descriptors), and a resumed one opens them again when it needs them.

mod support;

use std::path::Path;

use serde_json::json;
use support::torrent::{TestTorrent, TorrentSpec};
use support::{Client, ServeProcess};

/// The descriptors of process `pid` open on files under `folder`, and those on librqbit's
/// fast-resume bitfields (`.bitv`).
fn descriptors(pid: u32, folder: &Path) -> (usize, usize) {
    let links: Vec<std::path::PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .collect();
    let data = links.iter().filter(|l| l.starts_with(folder)).count();
    let bitv = links
        .iter()
        .filter(|l| l.extension().is_some_and(|e| e == "bitv"))
        .count();
    (data, bitv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_task_holds_none_of_its_data_files_open() {
    const TASKS: u64 = 40;
    let server = ServeProcess::start();
    let folder = server
        .download_dir
        .canonicalize()
        .unwrap_or(server.download_dir.clone());
    let mut client = Client::connect(&server.url).await;
    let torrents: Vec<TestTorrent> = (0..TASKS)
        .map(|i| {
            let name = format!("held-{i:02}");
            TestTorrent::build(TorrentSpec {
                name: &name,
                files: vec![("a.bin", 48 * 1024), ("b.bin", 40 * 1024)],
                single: false,
                piece_length: 16 * 1024,
                seed: 300 + i,
                ..Default::default()
            })
        })
        .collect();
    // The data is there already: each task checks it, completes and seeds.
    for torrent in &torrents {
        torrent.write_content(&server.download_dir);
        client.add_torrent(torrent).await;
    }
    for torrent in &torrents {
        client.poll_state(&torrent.info_hash, 2).await;
    }
    let info = client.ok("session.info", serde_json::Value::Null).await;
    let mut peer: std::net::SocketAddr = info["peer_listen_addresses"][0]
        .as_str()
        .expect("session.info names the peer address")
        .parse()
        .unwrap();
    if peer.ip().is_unspecified() {
        peer.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // A leecher downloads the first task: the seeder reads its files, and keeps them open
    // while it seeds.
    let download_from_it = async |torrent: &TestTorrent| {
        let other = ServeProcess::start();
        let mut leecher = Client::connect(&other.url).await;
        leecher.add_magnet(&torrent.magnet(&[peer])).await;
        leecher.poll_state(&torrent.info_hash, 2).await;
        torrent.assert_downloaded(&other.download_dir);
    };
    download_from_it(&torrents[0]).await;
    let seeding = descriptors(server.pid(), &folder);
    for torrent in &torrents {
        client
            .ok("task.pause", json!({"task_id": torrent.info_hash}))
            .await;
    }
    for torrent in &torrents {
        client.poll_state(&torrent.info_hash, 4).await;
    }
    let paused = descriptors(server.pid(), &folder);
    println!(
        "{TASKS} tasks of 2 files, one uploaded: seeding, {} data files and {} .bitv open; \
         paused, {} and {}",
        seeding.0, seeding.1, paused.0, paused.1
    );
    assert!(seeding.0 >= 1, "uploading opened the files: {seeding:?}");
    assert_eq!(paused.0, 0, "paused tasks hold data files open");
    assert_eq!(paused.1, 0, "paused tasks hold their .bitv open");

    // Resumed, the task opens its files again when a leecher asks.
    client
        .ok("task.resume", json!({"task_id": torrents[0].info_hash}))
        .await;
    client.poll_state(&torrents[0].info_hash, 2).await;
    download_from_it(&torrents[0]).await;
}
