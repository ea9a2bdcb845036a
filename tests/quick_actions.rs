//! The desktop's quick actions (tray menu, launch links), called directly as the tray calls them,
//! against a real engine; every outcome is checked through the WebSocket API.

mod support;

use magnetar::actions::{self, ActionError, Speeds};
use magnetar::bulk::Bulk;
use serde_json::{json, Value};
use support::peers::LibrqbitSeeder;
use support::torrent::{TestTorrent, TorrentSpec};
use support::TestServer;

fn torrent(name: &str, seed: u64) -> TestTorrent {
    TestTorrent::build(TorrentSpec {
        name,
        files: vec![(name, 200 * 1024)],
        seed,
        ..Default::default()
    })
}

fn api(server: &TestServer) -> &magnetar::api::Api {
    &server.running.as_ref().unwrap().api
}

async fn task_ids(client: &mut support::Client) -> Vec<String> {
    let list = client.ok("task.list", Value::Null).await;
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_clipboard_magnet_downloads_and_garbage_or_nothing_adds_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let payload = torrent("from-clipboard.bin", 3);
    let seeder = LibrqbitSeeder::start(&payload).await;

    // Empty, blank and garbage clipboards: a clear error, nothing added.
    for text in ["", "  \n\t "] {
        let err = actions::add_from_clipboard(api(&server), text).await;
        assert!(matches!(err, Err(ActionError::EmptyClipboard)), "{err:?}");
    }
    for text in [
        "hello world",
        "https://example.org/x.torrent",
        "magnet:",
        "0123abcd",
    ] {
        let err = actions::add_from_clipboard(api(&server), text)
            .await
            .unwrap_err();
        assert!(matches!(err, ActionError::NotAMagnet(_)), "{text}: {err:?}");
        assert!(err.to_string().contains("no magnet link"), "{err}");
    }
    // A magnet-looking word the engine refuses: the API's own -2 message comes back.
    let err = actions::add_from_clipboard(api(&server), "magnet:?xt=urn:btih:nothex")
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::Refused(_)), "{err:?}");
    assert!(task_ids(&mut client).await.is_empty());

    // A real magnet, with whitespace around it as copied from a page: added and downloaded.
    let magnet = payload.magnet(&[seeder.addr]);
    let added = actions::add_from_clipboard(api(&server), &format!("\n  {magnet}  \n"))
        .await
        .unwrap();
    assert_eq!(added, 1);
    let id = payload.info_hash.clone();
    client.wait_event("task.created", |d| d["id"] == id).await;
    client.poll_state(&id, 2).await;
    payload.assert_downloaded(&server.download_dir);
}

#[tokio::test]
async fn several_links_in_one_clipboard_are_all_added() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let (a, b, c) = (
        torrent("a.bin", 4),
        torrent("b.bin", 5),
        torrent("c.bin", 6),
    );
    // The scheme in capitals is a magnet link too, for every part of Magnetar: the clipboard
    // and the launch took it, and the engine refused it (-2, "not a magnet link").
    let capitals = c.magnet(&[]).replacen("magnet:", "MAGNET:", 1);
    assert!(capitals.starts_with("MAGNET:?xt="), "{capitals}");
    let text = format!(
        "{}\n{}\n{capitals}\nsome words",
        a.magnet(&[]),
        b.info_hash.to_uppercase()
    );
    assert_eq!(
        actions::add_from_clipboard(api(&server), &text)
            .await
            .unwrap(),
        3
    );
    let mut expected = vec![
        a.info_hash.clone(),
        b.info_hash.clone(),
        c.info_hash.clone(),
    ];
    expected.sort();
    assert_eq!(task_ids(&mut client).await, expected);
}

#[tokio::test]
async fn a_torrent_file_path_is_added_and_bad_files_are_refused_clearly() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    let payload = torrent("from-file.bin", 6);
    let path = dir.path().join("from file.torrent");
    payload.save(&path);

    // Missing file, and a file that is no torrent: errors naming the problem, nothing added.
    let missing = dir.path().join("missing.torrent");
    let err = actions::add_torrent_file(api(&server), &missing)
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.torrent"), "{err}");
    let junk = dir.path().join("junk.torrent");
    std::fs::write(&junk, b"<html>not a torrent</html>").unwrap();
    let err = actions::add_torrent_file(api(&server), &junk)
        .await
        .unwrap_err();
    let ActionError::Refused(refusal) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refusal.code.code(), -2, "{err}");
    assert!(task_ids(&mut client).await.is_empty());

    actions::add_torrent_file(api(&server), &path)
        .await
        .unwrap();
    let id = payload.info_hash.clone();
    let created = client.wait_event("task.created", |d| d["id"] == id).await;
    assert_eq!(created["data"]["name"], "from-file.bin");
    // The same file again: the API's duplicate refusal, as any client would get it.
    let err = actions::add_torrent_file(api(&server), &path)
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::Refused(_)), "{err:?}");
    assert_eq!(task_ids(&mut client).await, vec![id]);
}

#[tokio::test]
async fn pause_all_and_resume_all_reach_every_task_and_skip_a_failed_one() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let torrents: Vec<TestTorrent> = (0..3)
        .map(|i| torrent(&format!("t{i}.bin"), 10 + i))
        .collect();
    for t in &torrents {
        client.add_torrent(t).await;
    }
    // A magnet with no way to find its metadata (no peer, no tracker, DHT off) fails.
    let lost = torrent("lost.bin", 16);
    client.add_magnet(&lost.magnet(&[])).await;
    client.poll_state(&lost.info_hash, 5).await;
    // One is paused already: pause all pauses the other two, and says it left the failed one.
    let first = torrents[0].info_hash.clone();
    client.ok("task.pause", json!({"task_id": first})).await;
    client.poll_state(&first, 4).await;
    let outcome = actions::pause_all(api(&server)).await.unwrap();
    let mut paused = outcome.done.clone();
    paused.sort();
    let mut expected = vec![torrents[1].info_hash.clone(), torrents[2].info_hash.clone()];
    expected.sort();
    assert_eq!(paused, expected);
    assert_eq!(outcome.skipped.len(), 1, "{outcome:?}");
    assert_eq!(outcome.skipped[0].id, lost.info_hash);
    assert_eq!(outcome.skipped[0].why, "failed");
    assert_eq!(
        outcome.summary(Bulk::Pause),
        "2 tasks paused; skipped: lost.bin (failed)"
    );
    for t in &torrents {
        client.poll_state(&t.info_hash, 4).await;
    }
    assert!(actions::pause_all(api(&server))
        .await
        .unwrap()
        .done
        .is_empty());

    let outcome = actions::resume_all(api(&server)).await.unwrap();
    assert_eq!(outcome.done.len(), 3, "{outcome:?}");
    assert_eq!(outcome.skipped.len(), 1, "{outcome:?}");
    for t in &torrents {
        let summary = client.summary(&t.info_hash).await;
        assert_ne!(summary["state"], 4, "{summary}");
    }
    // The failed task was left as it was, not retried.
    assert_eq!(client.summary(&lost.info_hash).await["state"], 5);
    assert!(actions::resume_all(api(&server))
        .await
        .unwrap()
        .done
        .is_empty());

    let line = Speeds::from_tasks(&api(&server).tasks()).line();
    assert!(line.starts_with("↓ ") && line.contains("   ↑ "), "{line}");
}

#[tokio::test]
async fn a_pause_right_after_an_add_sticks() {
    // A pause that lands while librqbit is still adding the torrent must not be lost (under
    // load it was: the task came back live and downloading).
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let torrents: Vec<TestTorrent> = (0..20)
        .map(|i| torrent(&format!("quick-{i}.bin"), 40 + i))
        .collect();
    for t in &torrents {
        client.add_torrent(t).await;
        client
            .ok("task.pause", json!({"task_id": t.info_hash}))
            .await;
    }
    for t in &torrents {
        client.poll_state(&t.info_hash, 4).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for t in &torrents {
        let summary = client.summary(&t.info_hash).await;
        assert_eq!(summary["state"], 4, "{summary}");
    }
}
