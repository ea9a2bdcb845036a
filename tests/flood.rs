//! Flood (npm `flood`, a web front end for Transmission and other clients) pointed at
//! Magnetar's `/transmission/rpc` as if it were Transmission, and driven in chromium as a user
//! would: its torrent list shows Magnetar's tasks with their names and progress, and a magnet
//! added in Flood becomes a task that the WebSocket API sees. Flood reaches Magnetar on
//! loopback with Basic auth (the token as password), the server requiring it.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::browser::Browser;
use support::peers::{free_port, wait_for_port, ChildGuard, LibrqbitSeeder};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{poll_until, Client, TestServer, PATIENCE};

/// Flood's entry point, from `npm ci` (scripts/setup.sh).
fn flood_script() -> std::path::PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/flood/dist/index.js");
    assert!(
        script.exists(),
        "Flood is not installed: run `bash scripts/setup.sh` (npm ci installs it)"
    );
    script
}

/// Flood on 127.0.0.1 without its own users (`--auth none`), its Transmission backend being
/// Magnetar's endpoint with `token` as the password.
fn start_flood(rpc_url: &str, token: &str, rundir: &Path) -> (ChildGuard, String) {
    support::peers::require("node");
    let port = free_port();
    let flood = ChildGuard::spawn(
        Command::new("node")
            .arg(flood_script())
            .args(["--auth", "none", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--trurl", rpc_url, "--truser", "flood", "--trpass", token])
            .arg("--rundir")
            .arg(rundir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "flood",
    );
    wait_for_port(port);
    (flood, format!("http://127.0.0.1:{port}/"))
}

/// Flood's rows as the user sees them: name, the width of the progress bar (Flood's percent
/// complete) and the row's classes (its status: `torrent--is-stopped`, `--is-completed`...).
async fn flood_rows(browser: &Browser) -> Vec<(String, f64, String)> {
    let rows = browser
        .js(
            "return [...document.querySelectorAll('.torrent[role=row]')].map(r => [
               r.querySelector('span')?.textContent ?? '',
               parseFloat(r.querySelector('.progress-bar__fill')?.style.width ?? 'NaN'),
               r.className]);",
        )
        .await;
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_f64().unwrap_or(f64::NAN),
                r[2].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until Flood shows a row named `name` whose progress is within one point of
/// `percent` and whose classes include `class`.
async fn wait_flood_row(browser: &Browser, name: &str, percent: f64, class: &str) {
    poll_until(
        &format!("Flood shows {name} at {percent:.1} % ({class})"),
        PATIENCE,
        Duration::from_millis(250),
        async || {
            let rows = flood_rows(browser).await;
            match rows.iter().find(|(n, _, _)| n == name) {
                Some((_, shown, classes))
                    if (shown - percent).abs() < 1.0 && classes.contains(class) =>
                {
                    Ok(())
                }
                _ => Err(format!("{rows:?}")),
            }
        },
    )
    .await;
}

/// The percent of `id` done, from the WebSocket API (verified bytes over the total).
async fn percent_done(api: &mut Client, id: &str) -> f64 {
    let summary = api.summary(id).await;
    let total = summary["total_bytes"].as_f64().unwrap();
    summary["dl_bytes"].as_f64().unwrap() / total * 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_lists_magnetar_tasks_and_adds_a_magnet() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("settings.json"),
        json!({"loopback_needs_token": true}).to_string(),
    )
    .unwrap();
    let server = TestServer::start_in(root.path()).await;
    let token = std::fs::read_to_string(data.join("token")).unwrap();
    let token = token.trim();
    let mut api = Client::connect(&format!("{}?token={token}", server.url)).await;

    // A finished task, and one paused part of the way, from a seeder limited to 64 KiB/s.
    let film = TestTorrent::build(TorrentSpec {
        name: "flood-film.bin",
        files: vec![("flood-film.bin", 300 * 1024)],
        seed: 81,
        ..Default::default()
    });
    let half = TestTorrent::build(TorrentSpec {
        name: "flood-half.bin",
        files: vec![("flood-half.bin", 2 * 1024 * 1024)],
        piece_length: 32 * 1024,
        seed: 82,
        ..Default::default()
    });
    let film_seeder = LibrqbitSeeder::start(&film).await;
    let half_seeder = LibrqbitSeeder::start_limited(&half, Some(64 * 1024)).await;
    api.add_magnet(&film.magnet(&[film_seeder.addr])).await;
    api.add_magnet(&half.magnet(&[half_seeder.addr])).await;
    api.poll_state(&film.info_hash, 2).await;
    poll_until(
        "flood-half.bin is a quarter done",
        PATIENCE,
        Duration::from_millis(200),
        async || match percent_done(&mut api, &half.info_hash).await {
            p if p >= 25.0 => Ok(()),
            p => Err(p),
        },
    )
    .await;
    api.ok("task.pause", json!({"task_id": half.info_hash}))
        .await;
    api.poll_state(&half.info_hash, 4).await;
    let half_done = percent_done(&mut api, &half.info_hash).await;
    assert!(
        half_done < 100.0,
        "the pause came too late to test a partial task"
    );

    let rpc = format!("{}/transmission/rpc", server.http_base());
    let (_flood, flood_url) = start_flood(&rpc, token, &root.path().join("flood"));
    let browser = Browser::start(1280, 800).await;
    browser.client.goto(&flood_url).await.unwrap();
    wait_flood_row(&browser, "flood-film.bin", 100.0, "torrent--is-completed").await;
    wait_flood_row(&browser, "flood-half.bin", half_done, "torrent--is-stopped").await;
    browser.screenshot("flood-list").await;

    // A magnet added in Flood, into a folder of its own: a task that the WebSocket API sees,
    // downloaded there.
    let new = TestTorrent::build(TorrentSpec {
        name: "flood-new.bin",
        files: vec![("flood-new.bin", 200 * 1024)],
        seed: 83,
        ..Default::default()
    });
    let new_seeder = LibrqbitSeeder::start(&new).await;
    let destination = root.path().join("from-flood");
    browser.click(".action--add-torrent").await;
    browser
        .wait_until("document.querySelector('input[name=\"urls-0\"]')", PATIENCE)
        .await;
    browser
        .type_into("input[name='urls-0']", &new.magnet(&[new_seeder.addr]))
        .await;
    browser
        .type_into("input[name='destination']", destination.to_str().unwrap())
        .await;
    browser.click(".modal button[type=submit]").await;
    let added = api
        .wait_event("task.created", |d| d["id"] == new.info_hash)
        .await;
    println!("the WebSocket API saw Flood's magnet: {added}");
    api.poll_state(&new.info_hash, 2).await;
    new.assert_downloaded(&destination);
    wait_flood_row(&browser, "flood-new.bin", 100.0, "torrent--is-completed").await;
    browser.screenshot("flood-added").await;
}
