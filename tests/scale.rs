//! Large libraries in the real `magnetar serve` binary (issue 27): thousands of paused tasks
//! under the usual desktop descriptor limit, and a restart that lists every task at once while
//! librqbit is still being given them. No timing is asserted here: the figures live in
//! `magnetar-bench scale`.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::peers::ChildGuard;
use support::torrent::{TestTorrent, TorrentSpec};
use support::{poll_until, read_line_within, serve_command, url_in_ready_line, Client};

/// A `magnetar serve` on `root`, optionally under a descriptor limit (soft and hard, as
/// `ulimit -n` sets it: the server cannot raise it).
struct Server {
    url: String,
    child: ChildGuard,
}

impl Server {
    fn start(root: &Path, descriptors: Option<u64>) -> Server {
        let mut command = serve_command(&root.join("data"), &root.join("downloads"));
        command
            .env_remove("MAGNETAR_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(limit) = descriptors {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = ChildGuard::spawn(&mut command, "magnetar serve");
        let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let (line, _) = read_line_within(stdout);
        Server {
            url: url_in_ready_line(&line),
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The descriptors the server holds now.
    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// SIGTERM, and the exit: it must be clean, within a minute.
    fn stop(mut self) {
        // SAFETY: kill with a pid we own.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let status = support::poll_until_blocking(
            "the server exits after SIGTERM",
            Duration::from_secs(60),
            Duration::from_millis(50),
            || match self.child.0.try_wait() {
                Ok(Some(status)) => Ok(status),
                _ => Err("still running"),
            },
        );
        assert!(status.success(), "the server's exit: {status}");
    }
}

/// `n` one-file torrents of 32 KiB (two pieces), all different.
fn library(n: usize) -> Vec<TestTorrent> {
    (0..n)
        .map(|i| {
            let name = format!("item-{i:05}.bin");
            TestTorrent::build(TorrentSpec {
                name: &name,
                files: vec![(&name, 32 * 1024)],
                piece_length: 16 * 1024,
                seed: 10_000 + i as u64,
                ..Default::default()
            })
        })
        .collect()
}

/// Every task's state and bytes on disk, by id.
async fn states(client: &mut Client) -> std::collections::HashMap<String, (i64, u64)> {
    let list = client.ok("task.list", Value::Null).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let id = row["id"].as_str().unwrap().to_owned();
            (
                id,
                (
                    row["state"].as_i64().unwrap(),
                    row["dl_bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// Waits until all `n` tasks are listed in state `state`, but for those in `except`; panics at
/// once on a failed one.
async fn wait_all(client: &mut Client, n: usize, state: i64, except: &[&str]) {
    poll_until(
        &format!("all {n} tasks in state {state}"),
        Duration::from_secs(600),
        Duration::from_millis(500),
        async || {
            let all = states(client).await;
            let failed: Vec<_> = all.iter().filter(|(_, (s, _))| *s == 5).collect();
            assert!(failed.is_empty(), "tasks failed: {failed:?}");
            let there = all
                .iter()
                .filter(|(id, (s, _))| *s == state || except.contains(&id.as_str()))
                .count();
            if all.len() == n && there == n {
                Ok(())
            } else {
                Err(format!("{} listed, {there} in state {state}", all.len()))
            }
        },
    )
    .await
}

/// `n` paused tasks under a limit of 1,024 descriptors: every other one has its data on disk
/// already (librqbit checks it, then the task rests out of librqbit), the rest have nothing.
/// All are listed, none fails, a new client is served, the server stops cleanly, and after a
/// restart under the same limit every task is listed again with what it had on disk; resumed,
/// a checked one seeds from its kept bitfield (there is no peer to get data from).
async fn paused_library_under_a_descriptor_limit(n: usize) {
    const LIMIT: u64 = 1024;
    let root = tempfile::tempdir().unwrap();
    let torrents = library(n);
    for torrent in torrents.iter().step_by(2) {
        torrent.write_content(&root.path().join("downloads"));
    }
    let server = Server::start(root.path(), Some(LIMIT));
    let mut client = Client::connect(&server.url).await;
    for torrent in &torrents {
        let params = json!({"type": "torrent", "uri": torrent.base64(), "paused": true});
        client.ok("task.add", params).await;
    }
    wait_all(&mut client, n, 4, &[]).await;
    // The tasks whose bytes on disk are not what was written: (index, state, bytes).
    let wrong = |all: &std::collections::HashMap<String, (i64, u64)>| {
        torrents
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let expected = if i % 2 == 0 { 32 * 1024 } else { 0 };
                let (state, bytes) = all[&t.info_hash];
                (bytes != expected).then_some((i, state, bytes))
            })
            .collect::<Vec<_>>()
    };
    // The checks of data on disk end, each task then rests.
    poll_until(
        "every task with data on disk counts it",
        Duration::from_secs(300),
        Duration::from_millis(500),
        async || {
            let all = states(&mut client).await;
            let wrong = wrong(&all);
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} of {n} wrong: {:?}",
                    wrong.len(),
                    &wrong[..wrong.len().min(8)]
                ))
            }
        },
    )
    .await;
    let held = server.descriptors();
    println!("{n} paused tasks: the server holds {held} descriptors (limit {LIMIT})");
    assert!(
        held < 128,
        "paused tasks hold descriptors: {held} for {n} tasks"
    );
    let mut newcomer = Client::connect(&server.url).await;
    newcomer.ok("session.info", Value::Null).await;
    drop(newcomer);
    drop(client);
    server.stop();

    let server = Server::start(root.path(), Some(LIMIT));
    let mut client = Client::connect(&server.url).await;
    let all = states(&mut client).await;
    assert_eq!(all.len(), n, "listed after the restart");
    assert!(
        all.values().all(|(s, _)| *s == 4),
        "all paused after the restart"
    );
    assert_eq!(
        wrong(&all),
        vec![],
        "what each had on disk, after the restart"
    );
    let complete = &torrents[0].info_hash;
    client.ok("task.resume", json!({"task_id": complete})).await;
    client.poll_state(complete, 2).await;
    let empty = &torrents[1].info_hash;
    client.ok("task.resume", json!({"task_id": empty})).await;
    client.poll_state(empty, 1).await;
    client.ok("task.pause", json!({"task_id": complete})).await;
    client.poll_state(complete, 4).await;
    println!(
        "after the restart and two resumes: {} descriptors",
        server.descriptors()
    );
    drop(client);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_paused_tasks_under_a_limit_of_1024_descriptors() {
    paused_library_under_a_descriptor_limit(1_000).await;
}

/// Run by the closing note: `cargo test --test scale -- --ignored --nocapture` (about 4 minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "ten thousand tasks: minutes; run by hand (see the doc)"]
async fn ten_thousand_paused_tasks_under_a_limit_of_1024_descriptors() {
    paused_library_under_a_descriptor_limit(10_000).await;
}

/// A library of 2,000 seeding tasks, restarted: the API lists all of them before librqbit has
/// been given them all (some still show state 0), and commands sent to tasks not restored
/// yet are answered and applied once each is: a pause holds, a removal removes. The rest end
/// seeding, with no data downloaded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_lists_everything_before_librqbit_has_it_all() {
    const N: usize = 2_000;
    let root = tempfile::tempdir().unwrap();
    let torrents = library(N);
    for torrent in &torrents {
        torrent.write_content(&root.path().join("downloads"));
    }
    let server = Server::start(root.path(), None);
    let mut client = Client::connect(&server.url).await;
    for torrent in &torrents {
        client.add_torrent(torrent).await;
    }
    wait_all(&mut client, N, 2, &[]).await;
    drop(client);
    server.stop();

    let server = Server::start(root.path(), None);
    let mut client = Client::connect(&server.url).await;
    let first = states(&mut client).await;
    assert_eq!(first.len(), N, "the first listing has every task");
    let restoring: Vec<&String> = torrents
        .iter()
        .rev()
        .map(|t| &t.info_hash)
        .filter(|id| first[*id].0 == 0)
        .collect();
    println!(
        "the first listing after the restart: {} of {N} tasks still being restored",
        restoring.len()
    );
    assert!(
        restoring.len() >= 2,
        "the listing waited for librqbit: {} tasks still in state 0",
        restoring.len()
    );
    let (paused, removed) = (restoring[0].clone(), restoring[1].clone());
    client.ok("task.pause", json!({"task_id": paused})).await;
    client.ok("task.remove", json!({"task_id": removed})).await;
    let summary = client.summary(&paused).await;
    assert_eq!(summary["state"], 4, "the pause holds: {summary}");
    wait_all(&mut client, N - 1, 2, &[&paused]).await;
    let all = states(&mut client).await;
    assert!(!all.contains_key(&removed), "the removed task is gone");
    assert_eq!(all[&paused].0, 4, "the paused task stays paused");
    drop(client);
    server.stop();
}
