//! Seeding goals and the totals they are measured on (issue 24, items 3 and 4), against real
//! peers on loopback: Magnetar seeding to aria2c until a ratio goal stops it, totals that stay
//! the same across a kill -9 and a clean restart of the real binary, the idle and seeding-time
//! goals, `task.setSeedGoal`'s bad inputs, and uploads that survive a pause and resume.
//!
//! Expectations come from the test's own knowledge: the torrent's size (what aria2c must
//! download from us), the minute the issue names, and the documented error codes.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use support::peers::{Aria2, ChildGuard, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{Client, TestServer};
use tokio_tungstenite::tungstenite::Message;

fn spec(trackers: Vec<String>, seed: u64) -> TorrentSpec<'static> {
    TorrentSpec {
        name: "goals",
        files: vec![
            ("docs/readme.txt", 100_000),
            ("data.bin", 3 * 1024 * 1024 + 7),
        ],
        single: false,
        piece_length: 256 * 1024,
        trackers,
        seed,
        ..Default::default()
    }
}

/// A torrent announced to a fresh local tracker (which tracks only its hash).
fn tracked_torrent(seed: u64) -> (TestTorrent, Tracker) {
    let probe = TestTorrent::build(spec(Vec::new(), seed));
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = TestTorrent::build(spec(vec![tracker.announce.clone()], seed));
    assert_eq!(torrent.info_hash, probe.info_hash);
    (torrent, tracker)
}

/// The real `magnetar serve` binary with its folders under `root` (kept across restarts).
struct Serve {
    url: String,
    child: ChildGuard,
}

impl Serve {
    fn start(root: &Path) -> Serve {
        let mut child = ChildGuard::spawn(
            support::serve_command(&root.join("data"), &root.join("downloads"))
                .env_remove("MAGNETAR_LOG")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null()),
            "magnetar serve",
        );
        let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let (line, _) = support::read_line_within(stdout);
        Serve {
            url: support::url_in_ready_line(&line),
            child,
        }
    }

    /// A clean stop: SIGTERM, then wait for the exit.
    fn stop(mut self) {
        let pid = self.child.0.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.0.wait().unwrap();
        assert!(status.success(), "magnetar serve exited with {status}");
    }

    /// kill -9.
    fn kill(mut self) {
        self.child.0.kill().unwrap();
        self.child.0.wait().unwrap();
    }
}

/// Waits up to `patience` for `task.stateUpdated` taking `id` to 3; returns its data. Reads the
/// socket itself: a seeding task nobody downloads from may send nothing for a minute.
async fn wait_stopped(client: &mut Client, id: &str, patience: Duration) -> Value {
    if let Some(pos) = client.events.iter().position(|e| {
        e["name"] == "task.stateUpdated"
            && e["data"]["task_id"] == id
            && e["data"]["new_state"] == 3
    }) {
        return client.events.remove(pos).unwrap()["data"].clone();
    }
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let message = match tokio::time::timeout_at(deadline, client.socket.next()).await {
            Err(_) => panic!("{id} did not stop within {patience:?}"),
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text).unwrap(),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("the connection broke: {other:?}"),
        };
        if message["name"] == "task.stateUpdated"
            && message["data"]["task_id"] == id
            && message["data"]["new_state"] == 3
        {
            return message["data"].clone();
        }
    }
}

fn u64_of(row: &Value, field: &str) -> u64 {
    row[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a whole number: {row}"))
}

/// The totals that must not change across a restart.
fn totals(row: &Value) -> (u64, u64, u64, u64, f64) {
    (
        u64_of(row, "uploaded_ever"),
        u64_of(row, "downloaded_ever"),
        u64_of(row, "ul_bytes"),
        u64_of(row, "seconds_seeding"),
        row["ratio"].as_f64().expect("ratio is a number"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ratio_goal_stops_seeding_to_aria2_and_the_totals_survive_restarts() {
    let (torrent, _tracker) = tracked_torrent(41);
    let root = tempfile::tempdir().unwrap();
    let downloads: PathBuf = root.path().join("downloads");
    torrent.write_content(&downloads);
    let id = torrent.info_hash.clone();
    let size = torrent.total_len();

    let server = Serve::start(root.path());
    let mut client = Client::connect(&server.url).await;
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;
    let goal = client
        .ok(
            "task.setSeedGoal",
            json!({"task_id": id, "ratio_limit": 1.0}),
        )
        .await;
    assert_eq!(goal["ratio_limit"], 1.0, "{goal}");
    assert_eq!(goal["effective"]["ratio_limit"], 1.0, "{goal}");

    let leech_dir = tempfile::tempdir().unwrap();
    let aria2 = Aria2::download(&torrent, leech_dir.path());
    let stopped = wait_stopped(&mut client, &id, Duration::from_secs(180)).await;
    assert_eq!(stopped["old_state"], 2, "{stopped}");
    assert_eq!(stopped["reason"], "ratio", "{stopped}");
    drop(aria2);
    let row = client.summary(&id).await;
    assert_eq!(row["state"], 3, "{row}");
    let uploaded = u64_of(&row, "uploaded_ever");
    // It had all the data and downloaded nothing: its ratio is against what it holds.
    assert_eq!(u64_of(&row, "downloaded_ever"), 0, "{row}");
    assert!(
        uploaded >= size,
        "stopped before uploading the whole torrent: {row}"
    );
    assert_eq!(u64_of(&row, "ul_bytes"), uploaded, "{row}");
    let ratio = row["ratio"].as_f64().unwrap();
    assert!(ratio >= 1.0, "{row}");
    assert!(
        (ratio - uploaded as f64 / size as f64).abs() < 1e-9,
        "ratio is uploaded over the size held: {row}"
    );
    let before = totals(&row);
    let info = client.ok("session.info", Value::Null).await;
    assert!(u64_of(&info, "uploaded_ever") >= uploaded, "{info}");
    drop(client);

    // kill -9 right after the stop: the stop and the totals were saved before it was announced.
    server.kill();
    let server = Serve::start(root.path());
    let mut client = Client::connect(&server.url).await;
    let row = client.poll_state(&id, 3).await;
    assert_eq!(totals(&row), before, "after kill -9: {row}");
    drop(client);

    // A clean stop and start: the same again.
    server.stop();
    let server = Serve::start(root.path());
    let mut client = Client::connect(&server.url).await;
    let row = client.poll_state(&id, 3).await;
    assert_eq!(totals(&row), before, "after a clean restart: {row}");
    let goal = client.ok("task.setSeedGoal", json!({"task_id": id})).await;
    assert_eq!(goal["ratio_limit"], 1.0, "the task's goal is kept: {goal}");
    let read = client.ok("task.getSeedGoal", json!({"task_id": id})).await;
    assert_eq!(
        read, goal,
        "task.getSeedGoal reads what task.setSeedGoal answers"
    );
    let info = client.ok("session.info", Value::Null).await;
    assert!(u64_of(&info, "uploaded_ever") >= uploaded, "{info}");
    drop(client);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_goal_of_one_minute_stops_a_task_nobody_downloads_from() {
    let torrent = TestTorrent::build(spec(Vec::new(), 42));
    let root = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(root.path()).await;
    torrent.write_content(&server.download_dir);
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;
    let goal = client
        .ok(
            "task.setSeedGoal",
            json!({"task_id": id, "idle_limit_minutes": 1}),
        )
        .await;
    assert_eq!(goal["effective"]["idle_limit_minutes"], 1, "{goal}");
    assert_eq!(goal["effective"]["ratio_limit"], Value::Null, "{goal}");
    let stopped = wait_stopped(&mut client, &id, Duration::from_secs(180)).await;
    assert_eq!(stopped["reason"], "idle", "{stopped}");
    let row = client.summary(&id).await;
    assert_eq!(row["state"], 3, "{row}");
    // It seeded (idly) for the whole minute before it stopped.
    assert!(u64_of(&row, "seconds_seeding") >= 60, "{row}");
    assert_eq!(u64_of(&row, "uploaded_ever"), 0, "{row}");
}

/// The global goal from settings.json: a seeding time of one minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeding_time_goal_from_the_settings_stops_a_task() {
    let torrent = TestTorrent::build(spec(Vec::new(), 43));
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("data")).unwrap();
    std::fs::write(
        root.path().join("data/settings.json"),
        r#"{"seed_time_limit_minutes": 1}"#,
    )
    .unwrap();
    let server = TestServer::start_in(root.path()).await;
    torrent.write_content(&server.download_dir);
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;
    let goal = client.ok("task.setSeedGoal", json!({"task_id": id})).await;
    assert_eq!(goal["seed_time_limit_minutes"], Value::Null, "{goal}");
    assert_eq!(goal["effective"]["seed_time_limit_minutes"], 1, "{goal}");
    let stopped = wait_stopped(&mut client, &id, Duration::from_secs(180)).await;
    assert_eq!(stopped["reason"], "seed_time", "{stopped}");
    let row = client.summary(&id).await;
    assert!(u64_of(&row, "seconds_seeding") >= 60, "{row}");
    // Resumed, it meets the goal still: it seeds, then stops again with the reason.
    client.ok("task.resume", json!({"task_id": id})).await;
    let again = wait_stopped(&mut client, &id, Duration::from_secs(60)).await;
    assert_eq!(again["reason"], "seed_time", "{again}");
    // With the goal lifted for this task (-1: no limit), a resume seeds for good.
    client
        .ok(
            "task.setSeedGoal",
            json!({"task_id": id, "seed_time_limit_minutes": -1}),
        )
        .await;
    client.ok("task.resume", json!({"task_id": id})).await;
    client.poll_state(&id, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_seed_goal_refuses_bad_input_and_keeps_goals_across_a_restart() {
    let torrent = TestTorrent::build(spec(Vec::new(), 44));
    let root = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(root.path()).await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": torrent.base64(), "paused": true}),
        )
        .await;
    let bad: Vec<(Value, &str)> = vec![
        (json!({"task_id": id, "ratio_limit": -0.5}), "ratio_limit"),
        (json!({"task_id": id, "ratio_limit": -2}), "ratio_limit"),
        (json!({"task_id": id, "ratio_limit": 1e7}), "ratio_limit"),
        (json!({"task_id": id, "ratio_limit": "1.0"}), "ratio_limit"),
        (json!({"task_id": id, "ratio_limit": true}), "ratio_limit"),
        (
            json!({"task_id": id, "seed_time_limit_minutes": 1.5}),
            "seed_time_limit_minutes",
        ),
        (
            json!({"task_id": id, "seed_time_limit_minutes": -3}),
            "seed_time_limit_minutes",
        ),
        (
            json!({"task_id": id, "seed_time_limit_minutes": 999_999_999_999u64}),
            "seed_time_limit_minutes",
        ),
        (
            json!({"task_id": id, "idle_limit_minutes": [1]}),
            "idle_limit_minutes",
        ),
        (
            json!({"task_id": id, "idle_limit_minutes": {"m": 1}}),
            "idle_limit_minutes",
        ),
        (json!({"task_id": id, "ratio": 1.0}), "ratio"),
        (json!({"ratio_limit": 1.0}), "task_id"),
        (json!({"task_id": 7}), "task_id"),
        (json!([id]), "params"),
        (Value::Null, "params"),
    ];
    for (params, field) in bad {
        let response = client.call("task.setSeedGoal", params.clone()).await;
        support::assert_error_shape(&response);
        assert_eq!(response["error"], -2, "{params}: {response}");
        let message = response["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{params}: the message names {field}: {message}"
        );
        client.ok("task.list", Value::Null).await;
    }
    let unknown = client
        .call(
            "task.setSeedGoal",
            json!({"task_id": "0".repeat(40), "ratio_limit": 1.0}),
        )
        .await;
    assert_eq!(unknown["error"], -4, "{unknown}");
    // Nothing was changed by the refusals.
    let goal = client.ok("task.setSeedGoal", json!({"task_id": id})).await;
    let inherit = json!({
        "ratio_limit": null, "seed_time_limit_minutes": null, "idle_limit_minutes": null,
        "effective": {"ratio_limit": null, "seed_time_limit_minutes": null, "idle_limit_minutes": null}
    });
    assert_eq!(goal, inherit);
    // Set, absent (unchanged), -1 (none), null (inherit).
    client
        .ok(
            "task.setSeedGoal",
            json!({"task_id": id, "ratio_limit": 2.5, "seed_time_limit_minutes": 90}),
        )
        .await;
    let goal = client
        .ok(
            "task.setSeedGoal",
            json!({"task_id": id, "idle_limit_minutes": -1, "seed_time_limit_minutes": null}),
        )
        .await;
    assert_eq!(goal["ratio_limit"], 2.5, "{goal}");
    assert_eq!(goal["seed_time_limit_minutes"], Value::Null, "{goal}");
    assert_eq!(goal["idle_limit_minutes"], -1, "{goal}");
    assert_eq!(goal["effective"]["ratio_limit"], 2.5, "{goal}");
    assert_eq!(
        goal["effective"]["idle_limit_minutes"],
        Value::Null,
        "{goal}"
    );
    drop(client);
    server.stop().await;
    let server = TestServer::start_in(root.path()).await;
    let mut client = server.client().await;
    let after = client.ok("task.setSeedGoal", json!({"task_id": id})).await;
    assert_eq!(after, goal, "the goal survives a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_ever_survives_a_pause_and_resume() {
    let (torrent, _tracker) = tracked_torrent(45);
    let root = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(root.path()).await;
    torrent.write_content(&server.download_dir);
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_torrent(&torrent).await;
    client.wait_state(&id, 2).await;
    let leech_dir = tempfile::tempdir().unwrap();
    let mut aria2 = Aria2::download(&torrent, leech_dir.path());
    assert!(
        aria2.wait_exit(Duration::from_secs(120)).await,
        "aria2c did not finish downloading from Magnetar"
    );
    torrent.assert_downloaded(leech_dir.path());
    let row = client.poll_ul_bytes(&id, torrent.total_len()).await;
    let uploaded = u64_of(&row, "uploaded_ever");
    assert!(uploaded >= torrent.total_len(), "{row}");
    client.ok("task.pause", json!({"task_id": id})).await;
    client.ok("task.resume", json!({"task_id": id})).await;
    let row = client.poll_state(&id, 2).await;
    // librqbit counts from 0 again after the resume; the task does not.
    assert_eq!(u64_of(&row, "uploaded_ever"), uploaded, "{row}");
    assert_eq!(u64_of(&row, "ul_bytes"), uploaded, "{row}");
    assert!(row["ratio"].as_f64().unwrap() >= 1.0, "{row}");
}

/// A label's goal applies to its tasks, between the task's own goal and the global one: a
/// ratio goal of 0 on the label stops its complete task at once, with the reason; the global
/// goal set live with session.setSettings applies to an unlabelled task the same way; and a
/// task's own "-1" beats its label's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labels_goal_and_the_live_global_goal_stop_their_tasks() {
    let named = |name: &'static str, seed| {
        TestTorrent::build(TorrentSpec {
            name,
            ..spec(Vec::new(), seed)
        })
    };
    let labelled = named("labelled", 51);
    let plain = named("plain", 52);
    let exempt = named("exempt", 53);
    let server = TestServer::start().await;
    for torrent in [&labelled, &plain, &exempt] {
        torrent.write_content(&server.download_dir);
    }
    let mut client = server.client().await;
    client
        .ok(
            "session.setLabels",
            json!({"labels": [{"name": "done", "seed_goal": {"ratio_limit": 0}}]}),
        )
        .await;
    // A bad goal for a label is refused, naming the field.
    let refused = client
        .call(
            "session.setLabels",
            json!({"labels": [{"name": "x", "seed_goal": {"ratio_limit": "high"}}]}),
        )
        .await;
    assert_eq!(refused["error"], -2, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("seed_goal.ratio_limit"),
        "{refused}"
    );

    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": labelled.base64(), "label": "done"}),
        )
        .await;
    let stopped = wait_stopped(&mut client, &labelled.info_hash, Duration::from_secs(60)).await;
    assert_eq!(stopped["reason"], "ratio", "{stopped}");

    // An unlabelled task seeds until the global goal is set, live.
    client.add_torrent(&plain).await;
    client.wait_state(&plain.info_hash, 2).await;
    // A labelled task whose own goal says "no ratio limit" keeps seeding.
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": exempt.base64(), "label": "done", "paused": true}),
        )
        .await;
    client
        .ok(
            "task.setSeedGoal",
            json!({"task_id": exempt.info_hash, "ratio_limit": -1}),
        )
        .await;
    client
        .ok("task.resume", json!({"task_id": exempt.info_hash}))
        .await;
    client.poll_state(&exempt.info_hash, 2).await;
    client
        .ok("session.setSettings", json!({"seed_ratio_limit": 0}))
        .await;
    let stopped = wait_stopped(&mut client, &plain.info_hash, Duration::from_secs(60)).await;
    assert_eq!(stopped["reason"], "ratio", "{stopped}");
    // Seconds later, the exempt task still seeds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(client.summary(&exempt.info_hash).await["state"], 2);
}
