//! Every task owns its own files. Same-named files in different torrents land at their own BEP 3
//! paths (a torrent with a `files` list is a folder, even with one file); a torrent whose files
//! would land on another task's is refused before it writes a byte, whether it came as a
//! .torrent (at once, -2) or as a magnet (state 5 once its metadata shows it); a file that no
//! task owns is hash-checked and reused.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::peers::{LibrqbitSeeder, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

const SIZE: usize = 300 * 1024 + 7;

/// A torrent holding one file `data.bin`: in a folder `name` (multi-file mode) or, with
/// `single`, as the file `data.bin` itself.
fn data_torrent(name: &str, single: bool, seed: u64, trackers: Vec<String>) -> TestTorrent {
    TestTorrent::build(TorrentSpec {
        name,
        files: vec![("data.bin", SIZE)],
        single,
        piece_length: 32 * 1024,
        trackers,
        seed,
        ..Default::default()
    })
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_named_files_each_complete_at_their_own_path_and_survive_a_restart() {
    let specs = [
        ("alpha", false, 1),
        ("beta", false, 2),
        ("data.bin", true, 3),
    ];
    let probes: Vec<TestTorrent> = specs
        .iter()
        .map(|(name, single, seed)| data_torrent(name, *single, *seed, Vec::new()))
        .collect();
    let hashes: Vec<&str> = probes.iter().map(|t| t.info_hash.as_str()).collect();
    let tracker = Tracker::start(&hashes);
    let torrents: Vec<TestTorrent> = specs
        .iter()
        .map(|(name, single, seed)| {
            data_torrent(name, *single, *seed, vec![tracker.announce.clone()])
        })
        .collect();
    let mut seeders = Vec::new();
    for torrent in &torrents {
        seeders.push(LibrqbitSeeder::start(torrent).await);
    }

    let root = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(root.path()).await;
    let mut client = server.client().await;
    for torrent in &torrents {
        client.add_torrent(torrent).await;
    }
    for torrent in &torrents {
        client.wait_state(&torrent.info_hash, 2).await;
    }
    let downloads = server.download_dir.clone();
    // BEP 3: the two one-file folders and the single file, each with its own content.
    assert_eq!(
        read(&downloads.join("alpha/data.bin")),
        torrents[0].files[0].1
    );
    assert_eq!(
        read(&downloads.join("beta/data.bin")),
        torrents[1].files[0].1
    );
    assert_eq!(read(&downloads.join("data.bin")), torrents[2].files[0].1);
    for torrent in &torrents {
        torrent.assert_downloaded(&downloads);
    }
    let metadata = client
        .ok(
            "task.getMetadata",
            json!({"task_id": torrents[0].info_hash}),
        )
        .await;
    assert_eq!(
        metadata["files"],
        json!([{"path": "data.bin", "size": SIZE, "selected": true}])
    );

    // After a restart every task is still complete: nothing overwrote anything.
    server.stop().await;
    drop(seeders);
    let server = TestServer::start_in(root.path()).await;
    let mut client = server.client().await;
    for torrent in &torrents {
        let summary = client.poll_state(&torrent.info_hash, 2).await;
        assert_eq!(summary["dl_bytes"], torrent.total_len(), "{summary}");
        torrent.assert_downloaded(&downloads);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colliding_torrent_or_magnet_is_refused_and_the_live_file_stays_intact() {
    let probe = data_torrent("alpha", false, 21, Vec::new());
    let tracker = Tracker::start(&[&probe.info_hash]);
    let alpha = data_torrent("alpha", false, 21, vec![tracker.announce.clone()]);
    let alpha_seeder = LibrqbitSeeder::start(&alpha).await;
    let server = TestServer::start().await;
    let mut client = server.client().await;
    client.add_torrent(&alpha).await;
    client.wait_state(&alpha.info_hash, 2).await;
    let live_file = server.download_dir.join("alpha/data.bin");
    assert_eq!(read(&live_file), alpha.files[0].1);

    // Another torrent with the same folder and file name: refused at once, naming the owner
    // and the path.
    let impostor = data_torrent("alpha", false, 22, Vec::new());
    let response = client
        .call(
            "task.add",
            json!({"type": "torrent", "uri": impostor.base64()}),
        )
        .await;
    assert_eq!(response["error"], -2, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(message.contains(&alpha.info_hash), "{message}");
    assert!(message.contains("alpha/data.bin"), "{message}");

    // A single file named like the other task's folder: refused too.
    let file_on_folder = TestTorrent::build(TorrentSpec {
        name: "alpha",
        files: vec![("alpha", 1000)],
        single: true,
        seed: 23,
        ..Default::default()
    });
    let code = client
        .error_code(
            "task.add",
            json!({"type": "torrent", "uri": file_on_folder.base64()}),
        )
        .await;
    assert_eq!(code, -2);

    // A magnet whose metadata, once it arrives, shows the same path: state 5 with the reason,
    // and not one byte written.
    let magnet_impostor = data_torrent("alpha", false, 24, Vec::new());
    let impostor_seeder = LibrqbitSeeder::start(&magnet_impostor).await;
    client
        .add_magnet(&magnet_impostor.magnet(&[impostor_seeder.addr]))
        .await;
    let failed = client.poll_state(&magnet_impostor.info_hash, 5).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains(&alpha.info_hash), "{failed}");
    assert!(error.contains("alpha/data.bin"), "{failed}");
    assert_eq!(read(&live_file), alpha.files[0].1, "the live file changed");
    let alpha_now = client.summary(&alpha.info_hash).await;
    assert_eq!(alpha_now["state"], 2, "{alpha_now}");
    assert_eq!(alpha_now["dl_bytes"], alpha.total_len(), "{alpha_now}");

    // Same folder, other file name: no shared path, accepted.
    let neighbour = TestTorrent::build(TorrentSpec {
        name: "alpha",
        files: vec![("other.bin", 1000)],
        single: false,
        seed: 25,
        ..Default::default()
    });
    client.add_torrent(&neighbour).await;

    // A file that no task owns any more is hash-checked and reused: remove alpha but keep its
    // data, add it again, and it is complete without a peer.
    drop(alpha_seeder);
    client
        .ok(
            "task.remove",
            json!({"task_id": alpha.info_hash, "delete_files": false}),
        )
        .await;
    let readded = TestTorrent::build(TorrentSpec {
        trackers: Vec::new(),
        ..spec_of(&alpha)
    });
    assert_eq!(readded.info_hash, alpha.info_hash);
    client.add_torrent(&readded).await;
    let summary = client.poll_state(&alpha.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], alpha.total_len(), "{summary}");
    assert_eq!(read(&live_file), alpha.files[0].1);
    let list = client.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
}

/// The spec `data_torrent` used for `torrent` (same name, content and layout).
fn spec_of(torrent: &TestTorrent) -> TorrentSpec<'_> {
    TorrentSpec {
        name: &torrent.name,
        files: vec![("data.bin", SIZE)],
        single: torrent.single,
        piece_length: 32 * 1024,
        trackers: Vec::new(),
        seed: 21,
        ..Default::default()
    }
}
