//! The desktop app, the real binary in a real window (Xvfb, WebKitGTK, its own session bus),
//! driven as a user drives it: a magnet link and a relative `.torrent` path handed over by second
//! launches, the tray menu read and clicked over dbusmenu as a panel does, notifications received
//! by a notification daemon, Quit, and the data folder checked afterwards by `magnetar serve`.
//! Screenshots go to `target/desktop-screenshots/`.

#![cfg(feature = "desktop")]

#[path = "support/desktop.rs"]
mod desktop;
mod support;

use std::collections::HashMap;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use desktop::{Desktop, MenuEntry};
use serde_json::{json, Value};
use support::peers::{ChildGuard, LibrqbitSeeder};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{Client, PATIENCE};
use tokio_tungstenite::tungstenite::Message;

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/desktop-screenshots")
}

fn torrent(name: &str, size: usize, seed: u64) -> TestTorrent {
    TestTorrent::build(TorrentSpec {
        name,
        files: vec![(name, size)],
        seed,
        ..Default::default()
    })
}

fn labels(menu: &[MenuEntry]) -> Vec<String> {
    menu.iter()
        .map(|e| {
            if e.separator {
                "---".into()
            } else {
                e.label.clone()
            }
        })
        .collect()
}

/// A rate as the tray writes it (1024-based units, one decimal): `0 B/s`, `750.3 KiB/s`.
fn rate(bps: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let (mut value, mut unit) = (bps as f64, 0);
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bps} B/s"),
        _ => format!("{value:.1} {}/s", units[unit]),
    }
}

/// The tray's speed line, as the panel reads it.
async fn speed_line(app: &Desktop) -> String {
    let menu = app.tray_menu().await;
    menu.into_iter()
        .find(|e| e.label.starts_with('↓'))
        .expect("a speed line")
        .label
}

/// One desktop session at a time: each runs Xvfb, WebKit and the engine, and two at once on a
/// 2-core machine slow each other down and make every timing race likelier.
static ONE_SESSION_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    support::poll_until(what, PATIENCE, Duration::from_millis(200), async || {
        if check() {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_takes_links_from_second_launches_and_works_from_its_tray() {
    let _alone = ONE_SESSION_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().unwrap();
    // Limited upload, so that the download lasts several seconds and the tray's speed line moves.
    let payload = torrent("desktop-demo.bin", 6 * 1024 * 1024, 21);
    let seeder = LibrqbitSeeder::start_limited(&payload, Some(768 * 1024)).await;
    let mut app = Desktop::start(root.path()).await;

    // The window's UI connects to its own server (the first client, before the test's).
    app.wait_log("client connected").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.screenshot(&screenshots().join("window.png"));
    assert!(app.window_visible(), "the main window is mapped");

    // The tray registered with the panel's watcher; its menu holds every action.
    let menu = app.tray_menu().await;
    std::fs::write(
        screenshots().join("tray-menu.txt"),
        labels(&menu).join("\n"),
    )
    .unwrap();
    let expected = [
        "Show/Hide window",
        "---",
        "Add magnet from clipboard",
        "Add torrent file…",
        "---",
        "Pause all",
        "Resume all",
        "---",
        "↓ 0 B/s   ↑ 0 B/s",
        "---",
        "Quit",
    ];
    assert_eq!(labels(&menu), expected);
    let speed = menu.iter().find(|e| e.label.starts_with('↓')).unwrap();
    assert!(
        !speed.enabled,
        "the speed line is information, not an action"
    );

    let mut client = Client::connect(&app.url).await;

    // A second launch with a magnet link: the running app takes it, the launch exits 0.
    let magnet = payload.magnet(&[seeder.addr]);
    let status = app.second_launch(root.path(), &[&magnet]);
    assert!(status.success(), "second launch: {status:?}");
    let id = payload.info_hash.clone();
    client.wait_event("task.created", |d| d["id"] == id).await;

    // The speed line follows task.updated, and nothing else: each new total the events announce
    // is in the tray at once (within half a second). A line polled every second, from the
    // engine's live numbers (session.info), matched one only by luck.
    let mut speeds: HashMap<String, (u64, u64)> = HashMap::new();
    let (mut followed, mut missed, mut previous) = (Vec::new(), Vec::new(), String::new());
    let deadline = Instant::now() + PATIENCE;
    while followed.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) = tokio::time::timeout(left, client.next_json()).await else {
            panic!("the speed line followed {followed:?}, missed {missed:?}");
        };
        if event["name"] != "task.updated" {
            continue;
        }
        for task in event["data"]["tasks"].as_array().unwrap() {
            let speed = |key: &str| task[key].as_u64().unwrap();
            let id = task["id"].as_str().unwrap().to_owned();
            speeds.insert(id, (speed("dl_speed"), speed("ul_speed")));
        }
        let (dl, ul) = speeds
            .values()
            .fold((0, 0), |(dl, ul), (d, u)| (dl + d, ul + u));
        let expected = format!("↓ {}   ↑ {}", rate(dl), rate(ul));
        // (A download that ends first runs into the deadline above.)
        if dl == 0 || expected == previous {
            continue;
        }
        previous = expected.clone();
        let shown_by = Instant::now() + Duration::from_millis(500);
        loop {
            let line = speed_line(&app).await;
            if line == expected {
                followed.push(line);
                break;
            }
            if Instant::now() > shown_by {
                missed.push((expected, line));
                break;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    assert!(
        missed.len() <= 1,
        "followed {followed:?}, missed {missed:?}"
    );
    let live = followed[0].clone();
    assert!(live.contains("/s"), "{live}");
    tokio::time::sleep(Duration::from_millis(1500)).await; // the UI's next task.updated
    app.screenshot(&screenshots().join("window-downloading.png"));
    eprintln!("tray speed line during the download: {live}");

    client.poll_state(&id, 2).await;
    payload.assert_downloaded(&app.download_dir);
    let done = app
        .wait_notice(|n| n.summary == "Download complete" && n.body == "desktop-demo.bin")
        .await;
    assert!(
        std::path::Path::new(&done.icon).is_file(),
        "the notification carries the app icon: {done:?}"
    );

    // "Open folder": the desktop shows the task's folder in the file manager (the fake xdg-open
    // records it), and says so in session.info; the same call from the headless server is -2.
    let info = client.ok("session.info", Value::Null).await;
    assert_eq!(info["can_open_folders"], true, "{info}");
    client.ok("task.openFolder", json!({"task_id": id})).await;
    let opened = support::poll_until_blocking(
        "the file manager asked to open the download folder",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let opened = std::fs::read_to_string(&app.opened).unwrap_or_default();
            if opened
                .lines()
                .any(|line| std::path::Path::new(line) == app.download_dir)
            {
                Ok(opened)
            } else {
                Err(opened)
            }
        },
    );
    eprintln!("opened: {opened}");
    // "Open in player": the opener plugin is handed a playlist with the file's stream link.
    let player = client
        .ok(
            "stream.openInPlayer",
            json!({"task_id": id, "file_index": 0}),
        )
        .await;
    let playlist = player["playlist"].as_str().unwrap().to_owned();
    assert!(playlist.ends_with(".m3u"), "{player}");
    support::poll_until_blocking(
        "the desktop asked to open the playlist",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let opened = std::fs::read_to_string(&app.opened).unwrap_or_default();
            if opened.lines().any(|line| line == playlist) {
                Ok(())
            } else {
                Err(opened)
            }
        },
    );
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(text.contains(player["url"].as_str().unwrap()), "{text}");

    // A file the watch folder cannot add (junk named .torrent): a desktop notification says so.
    let watch = root.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    client
        .ok("session.setSettings", json!({"watch_dir": watch}))
        .await;
    std::fs::write(watch.join("junk.torrent"), b"not a torrent at all").unwrap();
    let refused = app
        .wait_notice(|n| n.summary == "Watch folder: not added")
        .await;
    assert!(refused.body.contains("junk.torrent"), "{refused:?}");

    // A second launch with a path relative to *its* working directory.
    let other = torrent("other.bin", 64 * 1024, 22);
    let launch_dir = root.path().join("launch");
    std::fs::create_dir_all(launch_dir.join("sub")).unwrap();
    other.save(&launch_dir.join("sub/other.torrent"));
    let status = app.second_launch(&launch_dir, &["sub/other.torrent"]);
    assert!(status.success(), "second launch: {status:?}");
    let created = client
        .wait_event("task.created", |d| d["id"] == other.info_hash)
        .await;
    assert_eq!(created["data"]["name"], "other.bin");

    // Closing the window hides it to the tray; the app runs on, and the first time (only) a
    // notification says so.
    app.request_close();
    eventually("the window hides on close", || !app.window_visible()).await;
    assert!(app.is_running(), "closing the window must not quit");
    let hint = |n: &desktop::Notice| n.summary == "Magnetar is still running";
    app.wait_notice(hint).await;
    app.click_tray("Show/Hide window").await;
    eventually("the window shows from the tray", || app.window_visible()).await;
    app.request_close();
    eventually("the window hides again", || !app.window_visible()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.notices().iter().filter(|n| hint(n)).count(), 1);
    app.click_tray("Show/Hide window").await;
    eventually("the window shows again", || app.window_visible()).await;

    // Add magnet from clipboard, through the real clipboard: a magnet, then garbage.
    let clipped = torrent("clipped.bin", 32 * 1024, 23);
    // Its only peer accepts connections and never says a word: the task stays looking for
    // metadata (state 0) until paused. (A closed port would fail each metadata attempt at
    // once, and the task after its retries, ~15 s, which a loaded machine can outlast.)
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in silent.incoming() {
            held.push(connection);
        }
    });
    app.set_clipboard(&format!("  {}\n", clipped.magnet(&[mute])));
    app.click_tray("Add magnet from clipboard").await;
    client
        .wait_event("task.created", |d| d["id"] == clipped.info_hash)
        .await;
    // A magnet with no way to find peers fails, and the failure is notified with its reason.
    let lost = torrent("lost.bin", 16 * 1024, 24);
    app.set_clipboard(&lost.magnet(&[]));
    app.click_tray("Add magnet from clipboard").await;
    client.wait_state(&lost.info_hash, 5).await;
    let failed = app
        .wait_notice(|n| n.summary == "Download failed" && n.body.starts_with("lost.bin: "))
        .await;
    assert!(failed.body.len() > "lost.bin: ".len(), "{failed:?}");

    app.set_clipboard("just some text");
    app.click_tray("Add magnet from clipboard").await;
    let refused = app
        .wait_notice(|n| n.summary == "Add magnet from clipboard" && n.body.contains("no magnet"))
        .await;
    eprintln!("clipboard garbage: {}", refused.body);

    // Show/Hide from the tray.
    app.click_tray("Show/Hide window").await;
    eventually("the window hides", || !app.window_visible()).await;
    app.click_tray("Show/Hide window").await;
    eventually("the window shows again", || app.window_visible()).await;

    // Pause all from the tray: every running task (a magnet still looking for its metadata
    // too; not the failed one, which the outcome's notice names), seen through the API.
    app.click_tray("Pause all").await;
    for task in [&id, &other.info_hash, &clipped.info_hash] {
        client.poll_state(task, 4).await;
    }
    app.wait_notice(|n| {
        n.summary == "Pause all" && n.body == "3 tasks paused; skipped: lost.bin (failed)"
    })
    .await;
    app.screenshot(&screenshots().join("window-paused.png"));

    // Quit from the tray: clients are closed with 1001, the process exits 0.
    app.click_tray("Quit").await;
    let close = loop {
        match client.next_raw().await {
            Message::Close(frame) => break frame,
            _ => continue,
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    let status = app.wait_exit(PATIENCE).expect("the app exits after Quit");
    assert!(status.success(), "exit status after Quit: {status:?}");

    // The data folder holds the tasks, the paused ones paused as they were left.
    let mut serve = ChildGuard::spawn(
        support::serve_command(&app.data_dir, &app.download_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "magnetar serve",
    );
    let (line, _) = support::read_line_within(BufReader::new(serve.0.stdout.take().unwrap()));
    let mut client = Client::connect(&support::url_in_ready_line(&line)).await;
    for task in [&id, &other.info_hash, &clipped.info_hash] {
        let summary = client.poll_state(task, 4).await;
        assert_eq!(summary["state"], 4, "{summary}");
    }
    let list = client.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 4, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tray_library_the_window_runs_alone_and_closing_it_quits() {
    let _alone = ONE_SESSION_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().unwrap();
    let mut app = Desktop::start_with(root.path(), true).await;
    let warning = app.wait_log("no tray icon").await;
    assert!(warning.contains("closing it quits"), "{warning}");
    // The engine and the window work as usual.
    app.wait_log("client connected").await;
    let mut client = Client::connect(&app.url).await;
    let payload = torrent("no-tray.bin", 64 * 1024, 31);
    let status = app.second_launch(root.path(), &[&payload.magnet(&[])]);
    assert!(status.success(), "second launch: {status:?}");
    client
        .wait_event("task.created", |d| d["id"] == payload.info_hash)
        .await;
    assert!(app.window_visible());
    // With no tray to come back from, closing the window is quitting: exit 0, gracefully.
    app.request_close();
    let status = app
        .wait_exit(PATIENCE)
        .expect("the app quits when its window closes");
    assert!(status.success(), "exit status: {status:?}");
    assert!(
        app.log_lines()
            .iter()
            .any(|l| l.contains("quitting: closing clients")),
        "the graceful path ran"
    );
}
