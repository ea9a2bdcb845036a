//! Tasks, their progress and their paused state survive a restart in the same data folder.

mod support;

use serde_json::{json, Value};
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_survive_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let finished = TestTorrent::build(TorrentSpec {
        name: "finished.bin",
        files: vec![("finished.bin", 3 * 1024 * 1024)],
        comment: Some("kept across restarts"),
        seed: 31,
        ..Default::default()
    });
    let paused = TestTorrent::build(TorrentSpec {
        name: "paused.bin",
        files: vec![("paused.bin", 512 * 1024)],
        seed: 32,
        ..Default::default()
    });
    // Half of it is on disk already: its progress must survive too.
    let partial = TestTorrent::build(TorrentSpec {
        name: "partial",
        files: vec![("have.bin", 256 * 1024), ("missing.bin", 256 * 1024)],
        single: false,
        seed: 33,
        ..Default::default()
    });
    let paused_magnet = "1111111111111111111111111111111111111111";
    let waiting_magnet = "2222222222222222222222222222222222222222";

    let mut first = TestServer::start_in(root.path()).await;
    finished.write_content(&first.download_dir);
    let mut c = first.client().await;
    c.add_torrent(&finished).await;
    c.add_torrent(&paused).await;
    let have = &partial.files[0];
    let have_path = first.download_dir.join("partial").join(&have.0);
    std::fs::create_dir_all(have_path.parent().unwrap()).unwrap();
    std::fs::write(&have_path, &have.1).unwrap();
    c.add_torrent(&partial).await;
    let magnet = |hash: &str, name: &str| json!({"type": "magnet", "uri": format!("magnet:?xt=urn:btih:{hash}&dn={name}&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce")});
    c.ok("task.add", magnet(paused_magnet, "later")).await;
    c.ok("task.add", magnet(waiting_magnet, "waiting")).await;
    c.wait_state(&finished.info_hash, 2).await;
    c.poll_state(&paused.info_hash, 1).await;
    let partial_before = c.poll_state(&partial.info_hash, 1).await;
    assert_eq!(partial_before["dl_bytes"], 256 * 1024, "{partial_before}");
    c.ok("task.pause", json!({"task_id": paused.info_hash}))
        .await;
    c.ok("task.pause", json!({"task_id": paused_magnet})).await;
    c.poll_state(&paused.info_hash, 4).await;
    c.poll_state(paused_magnet, 4).await;
    drop(c);
    first.stop().await;

    let second = TestServer::start_in(root.path()).await;
    let mut c = second.client().await;
    let list = c.ok("task.list", Value::Null).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    for id in [
        finished.info_hash.as_str(),
        paused.info_hash.as_str(),
        paused_magnet,
        waiting_magnet,
    ] {
        assert!(ids.contains(&id), "{id} lost in the restart: {list}");
    }
    // No peer exists any more: the finished task can only be finished from what it kept.
    let summary = c.poll_state(&finished.info_hash, 2).await;
    assert_eq!(summary["dl_bytes"], finished.total_len());
    let metadata = c
        .ok("task.getMetadata", json!({"task_id": finished.info_hash}))
        .await;
    assert_eq!(metadata["comment"], "kept across restarts");
    assert_eq!(metadata["name"], "finished.bin");
    finished.assert_downloaded(&second.download_dir);

    assert_eq!(c.summary(&paused.info_hash).await["state"], 4);
    let partial_now = c.poll_state(&partial.info_hash, 1).await;
    assert_eq!(partial_now["dl_bytes"], 256 * 1024);
    let status = c
        .ok("task.getStatus", json!({"task_id": partial.info_hash}))
        .await;
    assert_eq!(status["files"], json!([256 * 1024, 0]));
    let pending = c.summary(paused_magnet).await;
    assert_eq!(
        (pending["state"].clone(), pending["name"].clone()),
        (json!(4), json!("later"))
    );
    assert_eq!(c.summary(waiting_magnet).await["state"], 0);

    // And the restored tasks still work.
    c.ok("task.resume", json!({"task_id": paused.info_hash}))
        .await;
    c.poll_state(&paused.info_hash, 1).await;
    let partial_before = c.poll_state(&partial.info_hash, 1).await;
    assert_eq!(partial_before["dl_bytes"], 256 * 1024, "{partial_before}");
}

/// Every answered add survives a quit that comes right after the answers: librqbit stores a
/// torrent only once its background add has run, and a shutdown used to cancel the adds still
/// in flight (1,100 paused adds and an immediate quit kept 162 of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_adds_survive_an_immediate_quit() {
    const ADDS: usize = 300;
    let root = tempfile::tempdir().unwrap();
    let mut first = TestServer::start_in(root.path()).await;
    let mut c = first.client().await;
    let torrents: Vec<TestTorrent> = (0..ADDS)
        .map(|i| {
            let name = format!("quick-{i}.bin");
            TestTorrent::build(TorrentSpec {
                name: &name,
                files: vec![(&name, 16 * 1024)],
                piece_length: 16 * 1024,
                seed: 7_000 + i as u64,
                ..Default::default()
            })
        })
        .collect();
    // Pipelined, as a client adding a folder of torrents would.
    for (i, torrent) in torrents.iter().enumerate() {
        let params = json!({"type": "torrent", "uri": torrent.base64(), "paused": true});
        let request = json!({"id": i, "method": "task.add", "params": params});
        c.send_text(request.to_string()).await;
    }
    for i in 0..ADDS {
        let response = c.response_to(&json!(i)).await;
        assert_eq!(response["error"], 0, "{response}");
    }
    first.stop().await;

    let second = TestServer::start_in(root.path()).await;
    let mut c = second.client().await;
    let list = c.ok("task.list", Value::Null).await;
    let ids: std::collections::HashSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let lost = torrents
        .iter()
        .filter(|t| !ids.contains(t.info_hash.as_str()))
        .count();
    assert_eq!(lost, 0, "{lost} of {ADDS} answered adds were lost");
    for torrent in &torrents[..5] {
        assert_eq!(c.summary(&torrent.info_hash).await["state"], 4);
    }
}
