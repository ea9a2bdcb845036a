//! The web UI in a real browser (Debian's chromium, headless, through chromedriver), against a
//! real server and real seeders on loopback, clicking and typing as a person would: add a
//! .torrent through the file input and a magnet through the paste box, watch rows progress and
//! complete, pause and resume from the context menu, skip a file, set a global download limit,
//! remove with data, see another client's task appear, and answer the token prompt. Then 1,000
//! tasks, measured with the Performance API (figures printed, nothing asserted about time), whose
//! counts, rows and totals agree. The bugs of issue 23, each seen: a magnet's real name shown
//! when its metadata arrives, a limit set elsewhere kept, a stopped server seen as reconnecting,
//! and the UI behind a reverse proxy at a sub-path.
//! Screenshots go to target/ui-screenshots/ (docs/ui.png is refreshed from its table.png by
//! hand: the suite never rewrites a tracked file). And where tokens
//! go: a page's token only to its own server, saved only when asked; and no other site frames
//! the UI.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::browser::{row, Browser};
use support::netns::RemoteServer;
use support::peers::{LibrqbitSeeder, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{poll_until, ServeProcess, TestServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_drives_the_web_ui() {
    // Two files, the second large and slowly seeded, so that it can be skipped in time.
    let spec = |trackers| TorrentSpec {
        name: "album",
        files: vec![
            ("disc/keep.bin", 96 * 1024),
            ("disc/extra/skip.bin", 4 * 1024 * 1024),
        ],
        single: false,
        piece_length: 32 * 1024,
        trackers,
        seed: 41,
        ..Default::default()
    };
    let probe = TestTorrent::build(spec(Vec::new()));
    let tracker = Tracker::start(&[&probe.info_hash]);
    let album = TestTorrent::build(spec(vec![tracker.announce.clone()]));
    let album_seeder = LibrqbitSeeder::start_limited(&album, Some(256 * 1024)).await;
    let movie = TestTorrent::build(TorrentSpec {
        name: "movie.mkv",
        files: vec![("movie.mkv", 1024 * 1024)],
        seed: 42,
        ..Default::default()
    });
    let movie_seeder = LibrqbitSeeder::start(&movie).await;
    let limited = TestTorrent::build(TorrentSpec {
        name: "limited.bin",
        files: vec![("limited.bin", 512 * 1024)],
        seed: 43,
        ..Default::default()
    });
    let limited_seeder = LibrqbitSeeder::start(&limited).await;

    let server = TestServer::start().await;
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    browser
        .wait_until(
            "document.getElementById('connection').dataset.state === 'connected'",
            PATIENCE,
        )
        .await;

    // A .torrent through the file input.
    let file = tempfile::Builder::new()
        .suffix(".torrent")
        .tempfile()
        .unwrap();
    album.save(file.path());
    browser
        .js("document.getElementById('file-input').hidden = false; return true;")
        .await;
    let input = browser
        .client
        .find(fantoccini::Locator::Css("#file-input"))
        .await
        .unwrap();
    input
        .send_keys(&file.path().display().to_string())
        .await
        .unwrap();
    browser
        .wait_until(
            &format!("document.querySelector(\"{}\")", row(&album.info_hash)),
            PATIENCE,
        )
        .await;
    browser
        .js("document.getElementById('file-input').hidden = true; return true;")
        .await;

    // Skip the big file in the Files tab, while it is still downloading.
    let album_row = browser
        .client
        .find(fantoccini::Locator::Css(&row(&album.info_hash)))
        .await
        .unwrap();
    album_row.click().await.unwrap();
    open_details(&browser, &album.info_hash).await;
    browser.click("[data-tab=files]").await;
    // A tree: disc/ (extra/ (skip.bin), keep.bin); a folder closes and opens by its name.
    let visible = "document.querySelectorAll('#files-body .file:not([hidden])').length";
    browser
        .wait_until(&format!("{visible} === 4"), PATIENCE)
        .await;
    browser
        .click("#files-body .file.dir[data-dir='disc'] .file-toggle")
        .await;
    browser
        .wait_until(&format!("{visible} === 1"), PATIENCE)
        .await;
    browser
        .click("#files-body .file.dir[data-dir='disc'] .file-toggle")
        .await;
    browser
        .wait_until(&format!("{visible} === 4"), PATIENCE)
        .await;
    browser
        .click("#files-body .file[data-index='1'] input")
        .await;
    let mut api = server.client().await;
    let status = support::poll_until(
        "the file choice made in the page",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let status = api
                .ok("task.getStatus", json!({"task_id": album.info_hash}))
                .await;
            if status["selected"] == json!([true, false]) {
                Ok(status)
            } else {
                Err(status)
            }
        },
    )
    .await;
    browser.screenshot("detail-files").await;
    browser.click("[data-tab=overview]").await;
    browser.screenshot("detail").await;

    // A magnet through the paste box: its row appears, progresses and completes.
    browser
        .type_into("#add-input", &movie.magnet(&[movie_seeder.addr]))
        .await;
    browser.click("#add-button").await;
    let movie_row = row(&movie.info_hash);
    browser
        .wait_until(
            &format!(
                "document.querySelector(\"{movie_row} .td-state\")?.textContent === 'Seeding'"
            ),
            PATIENCE,
        )
        .await;
    browser
        .wait_until(
            &format!("document.querySelector(\"{movie_row} .pct\")?.textContent === '100.0%'"),
            PATIENCE,
        )
        .await;
    movie.assert_downloaded(&server.download_dir);

    // The album completes with its one chosen file; the skipped one is not downloaded.
    browser
        .wait_until(
            &format!(
                "document.querySelector(\"{} .td-state\")?.textContent === 'Seeding'",
                row(&album.info_hash)
            ),
            PATIENCE,
        )
        .await;
    let downloads = &server.download_dir;
    assert_eq!(
        std::fs::read(downloads.join("album/disc/keep.bin")).unwrap(),
        album.files[0].1
    );
    let skipped = std::fs::read(downloads.join("album/disc/extra/skip.bin")).unwrap_or_default();
    assert_ne!(
        skipped, album.files[1].1,
        "the skipped file was downloaded anyway ({status})"
    );
    drop(album_seeder);

    // Pause and resume from the context menu.
    for (action, state) in [("pause", "Paused"), ("resume", "Seeding")] {
        browser
            .js(&format!(
                "const r = document.querySelector(\"{movie_row}\").getBoundingClientRect();
                 document.querySelector(\"{movie_row}\").dispatchEvent(new MouseEvent('contextmenu',
                   {{bubbles: true, clientX: r.left + 40, clientY: r.top + 10}}));
                 return true;"
            ))
            .await;
        browser
            .click(&format!("#context-menu [data-action={action}]"))
            .await;
        browser
            .wait_until(
                &format!(
                    "document.querySelector(\"{movie_row} .td-state\")?.textContent === '{state}'"
                ),
                PATIENCE,
            )
            .await;
    }

    // A global download limit, set from the status bar: a 512 KiB download at 64 KiB/s takes
    // several seconds (a behaviour bound with wide slack: about 8 s expected, more than 4 s
    // required; unlimited it takes well under one).
    browser.type_into("#limit-down", "64").await;
    browser.click("#limits-form button").await;
    support::poll_until(
        "the limit set in the page",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let info = api.ok("session.info", Value::Null).await;
            if info["download_bps"] == 64 * 1024 {
                Ok(())
            } else {
                Err(info)
            }
        },
    )
    .await;
    let started = Instant::now();
    browser
        .type_into("#add-input", &limited.magnet(&[limited_seeder.addr]))
        .await;
    browser.click("#add-button").await;
    browser
        .wait_until(
            &format!(
                "document.querySelector(\"{} .td-state\")?.textContent === 'Seeding'",
                row(&limited.info_hash)
            ),
            PATIENCE,
        )
        .await;
    let took = started.elapsed();
    eprintln!("512 KiB at a 64 KiB/s limit took {took:?}");
    assert!(
        took > Duration::from_secs(4),
        "the limit was not respected: {took:?}"
    );
    browser.type_into("#limit-down", "").await;
    browser.click("#limits-form button").await;

    // A task added by another WebSocket client appears without a reload.
    let other =
        "magnet:?xt=urn:btih:7777777777777777777777777777777777777777&dn=from-another-client";
    api.add_magnet(other).await;
    browser
        .wait_until("[...document.querySelectorAll('.row .td-name')].some(c => c.textContent === 'from-another-client')", PATIENCE)
        .await;
    // Let the once-a-second numbers and the filter counts catch up with the states.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    browser.screenshot("table").await;

    // Remove with data, from the keyboard, confirmed.
    browser
        .client
        .find(fantoccini::Locator::Css(&movie_row))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The Delete key, pressed in the task grid (its shortcuts live there only).
    browser
        .client
        .find(fantoccini::Locator::Css("#task-grid"))
        .await
        .unwrap()
        .send_keys("\u{E017}")
        .await
        .unwrap();
    browser
        .wait_until("document.getElementById('remove-dialog').open", PATIENCE)
        .await;
    browser.click("#remove-data").await;
    browser.click("#remove-confirm").await;
    browser
        .wait_until(
            &format!("!document.querySelector(\"{movie_row}\")"),
            PATIENCE,
        )
        .await;
    let gone = downloads.join("movie.mkv");
    support::poll_until(
        "the removed task's data deleted",
        PATIENCE,
        Duration::from_millis(100),
        async || match gone.exists() {
            false => Ok(()),
            true => Err("movie.mkv is still there"),
        },
    )
    .await;

    // The phone layout: cards.
    browser.client.set_window_size(390, 800).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.screenshot("phone").await;
    drop((movie_seeder, limited_seeder));
}

/// From another host (a network namespace), the server answers -6: the page asks for the token,
/// and with it connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_asks_for_the_token_when_the_server_wants_one() {
    let token = "ui-browser-token-0123456789abcdef";
    let Some(server) = RemoteServer::start(&json!({"token": token}).to_string(), &[]) else {
        return;
    };
    let page = server.url.replace("ws://", "http://").replace("/ws", "/");
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&page).await.unwrap();
    // CI once saw seven of the page's modules fail to load together (status 0, 21 ms each:
    // chromium's side gave up, the server logged nothing), leaving no app to ask. A person
    // would reload: so does the test, once, saying why; a page that fails twice fails.
    let started = tokio::time::timeout(
        Duration::from_secs(20),
        browser.wait_until("window.magnetar !== undefined", PATIENCE),
    )
    .await;
    if started.is_err() {
        eprintln!(
            "the app did not start; reloading once. The page: {}",
            browser.report().await
        );
        browser.client.refresh().await.unwrap();
    }
    let asked = tokio::time::timeout(
        PATIENCE,
        browser.wait_until("document.getElementById('token-dialog').open", PATIENCE * 2),
    )
    .await;
    if asked.is_err() {
        panic!(
            "no token prompt within {PATIENCE:?}\nthe page: {}\nthe server's log:\n{}",
            browser.report().await,
            server.log()
        );
    }
    browser.screenshot("token-prompt").await;
    browser.type_into("#token-input", token).await;
    browser.click("#token-remember").await;
    browser.click("#token-ok").await;
    browser
        .wait_until(
            "document.getElementById('connection').dataset.state === 'connected'",
            PATIENCE,
        )
        .await;
    let saved = browser
        .js("return Object.keys(localStorage).filter(k => k.startsWith('magnetar.token.')).length;")
        .await;
    assert_eq!(
        saved, 1,
        "the token is remembered for this server, as asked"
    );
}

/// 1,000 paused tasks: time to a rendered table, time to apply one task.updated of 50 rows, and
/// how many rows are in the DOM. Measurements, printed; only the row count is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_measured() {
    let server = TestServer::start().await;
    let mut api = server.client().await;
    for i in 0..1000u64 {
        let name = format!("generated-{i:04}.bin");
        let torrent = TestTorrent::build(TorrentSpec {
            name: &name,
            files: vec![(&name, 16 * 1024)],
            piece_length: 16 * 1024,
            seed: 1000 + i,
            ..Default::default()
        });
        api.add_torrent(&torrent).await;
        api.ok("task.pause", json!({"task_id": torrent.info_hash}))
            .await;
        api.events.clear();
    }
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    let rendered = browser.js("return window.magnetarRenderedAt;").await;
    let apply = browser
        .js("const { store, table } = window.magnetar;
             const rows = table.view.slice(0, 50).map(id => store.get(id))
               .map(t => ({ ...t, dl_speed: 12345, dl_bytes: t.dl_bytes + 1 }));
             const t0 = performance.now();
             store.push({ name: 'task.updated', data: { tasks: rows } });
             store.flush();
             return performance.now() - t0;")
        .await;
    let dom_rows = browser
        .js("return document.querySelectorAll('.row:not([hidden])').length;")
        .await;
    let tasks = browser.js("return window.magnetar.store.tasks.size;").await;
    eprintln!(
        "1,000 tasks: table rendered {rendered} ms after navigation start; one task.updated of \
         50 rows applied in {apply} ms; {dom_rows} rows in the DOM for {tasks} tasks"
    );
    assert_eq!(tasks, 1000);
    let dom_rows = dom_rows.as_u64().unwrap();
    assert!(
        dom_rows > 0 && dom_rows < 100,
        "rows are not virtualized: {dom_rows}"
    );
    // Every figure on the screen comes from the same state in the same frame: the sidebar's
    // counts, the rows and the status bar, read in the frame that applied the events. The
    // task.updated above gave 50 paused tasks a speed: a paused task shows none.
    let seen = "const { store, table } = window.magnetar;
        const count = (key) => Number(document.querySelector(`#filters [data-filter=${key}] .count`)?.textContent.replace(/[^0-9]/g, ''));
        const seen = () => ({
          all: count('all'), paused: count('paused'), preparing: count('preparing'),
          rows: table.view.length, tasks: store.tasks.size,
          speeds: [...document.querySelectorAll('.row:not([hidden])')]
            .filter(r => r.querySelector('.td-down')?.textContent || r.querySelector('.td-up')?.textContent)
            .map(r => r.dataset.id),
          totals: document.getElementById('totals').textContent,
        });";
    let at_rest = browser.js(&format!("{seen} return seen();")).await;
    let expected = |paused: u64, preparing: u64| {
        json!({"all": 1000, "paused": paused, "preparing": preparing, "rows": 1000, "tasks": 1000,
               "speeds": [], "totals": "↓ 0 B/s  ↑ 0 B/s  ·  1,000 tasks, 0 downloading"})
    };
    assert_eq!(at_rest, expected(1000, 0), "after a task.updated");
    // One task leaves Paused and comes back: the counts follow in the same frame.
    let frames = browser
        .js(&format!(
            "{seen}
             const id = table.view[0];
             store.push({{ name: 'task.stateUpdated', data: {{ task_id: id, old_state: 4, new_state: 0 }} }});
             store.flush();
             const away = seen();
             store.push({{ name: 'task.stateUpdated', data: {{ task_id: id, old_state: 0, new_state: 4 }} }});
             store.flush();
             return [away, seen()];"
        ))
        .await;
    assert_eq!(frames[0], expected(999, 1), "a task out of Paused");
    assert_eq!(frames[1], expected(1000, 0), "back in Paused");
    browser.screenshot("thousand").await;
    let shot = browser.js(&format!("{seen} return seen();")).await;
    assert_eq!(shot, expected(1000, 0), "at the screenshot");

    // All 1,000 selected (Ctrl+A in the grid), resumed, then paused from the toolbar: the
    // requests go in order with a few in flight, none times out, and one summary says so.
    press_in(&browser, "#task-grid", "\u{E009}a\u{E000}").await;
    browser
        .wait_until(
            "window.magnetar.table.selection().length === 1000",
            PATIENCE,
        )
        .await;
    for (button, summary, paused) in [
        ("#resume-selected", "Resumed 1,000 tasks.", false),
        ("#pause-selected", "Paused 1,000 tasks.", true),
    ] {
        let started = Instant::now();
        browser.click(button).await;
        browser
            .wait_until(
                &format!("document.getElementById('toast').textContent === '{summary}'"),
                Duration::from_secs(300),
            )
            .await;
        let list = api.ok("task.list", Value::Null).await;
        let still_paused = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|task| task["state"] == json!(4))
            .count();
        eprintln!(
            "1,000 tasks: {button} answered in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(
            still_paused,
            if paused { 1000 } else { 0 },
            "after {button}"
        );
    }
}

/// Sends `keys` (WebDriver key codes: \u{E007} Enter, \u{E008} Shift, \u{E009} Control,
/// \u{E000} releases them) to the element `css`, which takes the focus first.
async fn press_in(browser: &Browser, css: &str, keys: &str) {
    browser
        .client
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .send_keys(keys)
        .await
        .unwrap();
}

/// Sends `keys` to whatever has the focus, as a keyboard does.
async fn press(browser: &Browser, keys: &str) {
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

/// Presses Tab until the element with id `id` has the focus; returns how many presses.
async fn tab_to(browser: &Browser, id: &str) -> usize {
    for presses in 1..=60 {
        press(browser, "\u{E004}").await;
        let at = browser.js("return document.activeElement?.id ?? '';").await;
        if at == json!(id) {
            return presses;
        }
    }
    panic!("Tab never reached #{id}");
}

/// The whole flow without a mouse: add a magnet from the paste box, reach the grid, select with
/// the arrows, pause and resume with Space, open the actions menu with Shift+F10 and the details
/// from it, switch tabs with the arrows, close with Escape, and remove with Delete and Enter.
/// Also the browser notification when the download completes while the user is away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_with_the_keyboard_alone() {
    let movie = TestTorrent::build(TorrentSpec {
        name: "keys.mkv",
        files: vec![("keys.mkv", 2 * 1024 * 1024)],
        seed: 61,
        ..Default::default()
    });
    // Slow enough to pause it while it downloads.
    let seeder = LibrqbitSeeder::start_limited(&movie, Some(256 * 1024)).await;
    let server = TestServer::start().await;
    let mut api = server.client().await;
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    // Notifications: this browser allows them when asked (the Notification API, recorded), and
    // the user is away from the page.
    browser
        .js("window.shown = [];
             window.Notification = class {
               static permission = 'default';
               static async requestPermission() { Notification.permission = 'granted'; return 'granted'; }
               constructor(title, options) { window.shown.push({ title, body: options.body }); }
               close() {}
             };
             document.hasFocus = () => false;
             return true;")
        .await;
    tab_to(&browser, "notify-button").await;
    press(&browser, "\u{E007}").await;
    browser
        .wait_until(
            "document.getElementById('notify-button').getAttribute('aria-pressed') === 'true'",
            PATIENCE,
        )
        .await;

    // Add: the paste box, typed into, Enter.
    let presses = tab_to(&browser, "add-input").await;
    eprintln!("the paste box is {presses} Tab presses from the notify button");
    press(
        &browser,
        &format!("{}\u{E007}", movie.magnet(&[seeder.addr])),
    )
    .await;
    let movie_row = row(&movie.info_hash);
    browser
        .wait_until(
            &format!("document.querySelector(\"{movie_row}\")"),
            PATIENCE,
        )
        .await;

    // The grid: one Tab stop; Down selects the first row, and the focus ring shows where.
    tab_to(&browser, "task-grid").await;
    press(&browser, "\u{E015}").await;
    browser
        .wait_until(
            &format!(
                "document.querySelector(\"{movie_row}\").getAttribute('aria-selected') === 'true' && \
                 document.getElementById('task-grid').getAttribute('aria-activedescendant') === 'row-{}'",
                movie.info_hash
            ),
            PATIENCE,
        )
        .await;
    let ring = browser
        .js(&format!(
            "return getComputedStyle(document.querySelector(\"{movie_row}\")).outlineWidth;"
        ))
        .await;
    assert_eq!(ring, json!("2px"), "the current row shows a focus ring");
    browser.screenshot("keyboard-focus").await;

    // Space pauses, Space resumes.
    press(&browser, "\u{E00D}").await;
    api.poll_state(&movie.info_hash, 4).await;
    press(&browser, "\u{E00D}").await;
    support::poll_until(
        "the task running again",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let state = api.summary(&movie.info_hash).await["state"].clone();
            if state != json!(4) {
                Ok(())
            } else {
                Err(state)
            }
        },
    )
    .await;

    // It completes while the user is away: one notification, with its name.
    api.poll_state(&movie.info_hash, 2).await;
    browser
        .wait_until("window.shown.length === 1", PATIENCE)
        .await;
    let shown = browser.js("return window.shown;").await;
    assert_eq!(
        shown,
        json!([{"title": "Download complete", "body": "keys.mkv"}])
    );

    // Shift+F10: the actions menu, its first item focused; Down twice is Details.
    press(&browser, "\u{E008}\u{E03A}\u{E000}").await;
    browser
        .wait_until(
            "!document.getElementById('context-menu').hidden && document.activeElement.dataset.action === 'resume'",
            PATIENCE,
        )
        .await;
    press(&browser, "\u{E015}\u{E015}").await;
    assert_eq!(
        browser
            .js("return document.activeElement.dataset.action;")
            .await,
        json!("details")
    );
    press(&browser, "\u{E007}").await;
    browser
        .wait_until(
            "!document.getElementById('detail').hidden && document.activeElement.getAttribute('role') === 'tab'",
            PATIENCE,
        )
        .await;
    // Right arrow: the Files tab, selected and shown.
    press(&browser, "\u{E014}").await;
    browser
        .wait_until(
            "document.activeElement.dataset.tab === 'files' && \
             document.activeElement.getAttribute('aria-selected') === 'true' && \
             !document.getElementById('tab-files').hidden",
            PATIENCE,
        )
        .await;
    // Escape closes the pane and gives the focus back to the grid.
    press(&browser, "\u{E00C}").await;
    browser
        .wait_until(
            "document.getElementById('detail').hidden && document.activeElement.id === 'task-grid'",
            PATIENCE,
        )
        .await;

    // Delete asks; Enter confirms.
    press(&browser, "\u{E017}").await;
    browser
        .wait_until("document.getElementById('remove-dialog').open", PATIENCE)
        .await;
    press(&browser, "\u{E007}").await;
    support::poll_until(
        "the task removed",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let list = api.ok("task.list", Value::Null).await;
            if list == json!([]) {
                Ok(())
            } else {
                Err(list)
            }
        },
    )
    .await;
    browser
        .wait_until(
            &format!("!document.querySelector(\"{movie_row}\") && document.activeElement.id === 'task-grid'"),
            PATIENCE,
        )
        .await;
}

/// The Files tab keeps a folder the user closed, and two choices made in quick succession both
/// hold: the second is built on the first, not on the status from before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_folder_stays_closed_and_two_quick_choices_both_hold() {
    let set = TestTorrent::build(TorrentSpec {
        name: "set",
        files: vec![
            ("a/1.bin", 64 * 1024),
            ("a/2.bin", 64 * 1024),
            ("b/3.bin", 64 * 1024),
            ("c.bin", 64 * 1024),
        ],
        single: false,
        seed: 62,
        ..Default::default()
    });
    let server = TestServer::start().await;
    let mut api = server.client().await;
    api.add_torrent(&set).await;
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    open_details(&browser, &set.info_hash).await;
    browser.click("[data-tab=files]").await;
    let visible = "document.querySelectorAll('#files-body .file:not([hidden])').length";
    // a/, 1.bin, 2.bin, b/, 3.bin, c.bin
    browser
        .wait_until(&format!("{visible} === 6"), PATIENCE)
        .await;
    browser
        .click("#files-body .file.dir[data-dir='a'] .file-toggle")
        .await;
    browser
        .wait_until(&format!("{visible} === 4"), PATIENCE)
        .await;
    // Two choices, one right after the other (3.bin and c.bin skipped).
    browser
        .js("const box = (i) => document.querySelector(`#files-body .file[data-index='${i}'] input`);
             box(2).click(); box(3).click(); return true;")
        .await;
    let wanted = json!([true, true, false, false]);
    support::poll_until(
        "both choices on the server",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let status = api.status(&set.info_hash).await;
            if status["selected"] == wanted {
                Ok(())
            } else {
                Err(status["selected"].clone())
            }
        },
    )
    .await;
    // Three status ticks and the metadata event later: the folder is still closed, the boxes
    // still say what the user chose, and so does the server.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = browser
        .js(&format!(
            "const box = (i) => document.querySelector(`#files-body .file[data-index='${{i}}'] input`);
             return [{visible}, box(2).checked, box(3).checked,
                     document.querySelector(\"#files-body .file.dir[data-dir='a'] .file-toggle\").getAttribute('aria-expanded')];"
        ))
        .await;
    assert_eq!(seen, json!([4, false, false, "false"]));
    assert_eq!(api.status(&set.info_hash).await["selected"], wanted);
    browser.screenshot("files-quick-choices").await;
}

/// A magnet added without a name shows its id; when its metadata arrives, its row shows the
/// real name within a second, with no click. The same with a search typed: the row appears as
/// soon as its new name matches; and sorted by name: the row moves to where its new name sorts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnets_row_shows_its_real_name_when_its_metadata_arrives() {
    let build = |name: &'static str, seed| {
        TestTorrent::build(TorrentSpec {
            name,
            files: vec![(name, 64 * 1024)],
            seed,
            ..Default::default()
        })
    };
    let server = TestServer::start().await;
    let mut api = server.client().await;
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    for (torrent, search) in [
        (build("first-real-name.bin", 51), ""),
        (build("second-real-name.bin", 52), "second-real"),
    ] {
        // The magnet's only peer comes up late, so that the page shows the task before its
        // metadata: the engine tries the peer again after 1, 3 and 10 s.
        let port = support::peers::free_port();
        let id = &torrent.info_hash;
        api.add_magnet(&format!("magnet:?xt=urn:btih:{id}&x.pe=127.0.0.1:{port}"))
            .await;
        let shown = format!("{}:not([hidden])", row(id));
        let name = format!("document.querySelector(\"{shown} .td-name\")?.textContent");
        browser
            .wait_until(&format!("{name} === '{id}'"), PATIENCE)
            .await;
        browser.type_into("#search", search).await;
        if !search.is_empty() {
            browser
                .wait_until(&format!("!document.querySelector(\"{shown}\")"), PATIENCE)
                .await;
        }
        let seeder = LibrqbitSeeder::start_on(&torrent, None, port).await;
        api.wait_event("task.metadataReceived", |data| data["id"] == json!(id))
            .await;
        let arrived = Instant::now();
        browser
            .wait_until(
                &format!("{name} === '{}'", torrent.name),
                Duration::from_secs(1),
            )
            .await;
        eprintln!(
            "{}: shown {:?} after its metadata reached another client",
            torrent.name,
            arrived.elapsed()
        );
        drop(seeder);
    }
    // Sorted by name, a task whose name changes moves: "zzz-placeholder" (its magnet's dn) sorts
    // last until its metadata names it "a-third.bin", which sorts first.
    browser
        .js("const s = document.getElementById('search'); s.value = '';
             s.dispatchEvent(new Event('input')); return true;")
        .await;
    browser.click(".th[data-key=name]").await;
    let third = build("a-third.bin", 53);
    let port = support::peers::free_port();
    let id = &third.info_hash;
    let first_row = "[...document.querySelectorAll('.row:not([hidden])')]
        .find(r => r.style.transform === 'translateY(0px)')";
    api.add_magnet(&format!(
        "magnet:?xt=urn:btih:{id}&dn=zzz-placeholder&x.pe=127.0.0.1:{port}"
    ))
    .await;
    browser
        .wait_until(
            &format!(
                "window.magnetar.table.view.length === 3 && {first_row}?.dataset.id !== '{id}'"
            ),
            PATIENCE,
        )
        .await;
    let seeder = LibrqbitSeeder::start_on(&third, None, port).await;
    api.wait_event("task.metadataReceived", |data| data["id"] == json!(id))
        .await;
    browser
        .wait_until(
            &format!(
                "{first_row}?.dataset.id === '{id}' && \
                 {first_row}.querySelector('.td-name').textContent === 'a-third.bin'"
            ),
            Duration::from_secs(1),
        )
        .await;
    drop(seeder);
    browser.screenshot("names").await;
}

/// A limit set elsewhere (1,500,000 B/s, and 300 B/s, under 1 KiB) survives a Set of the
/// other limit in the status bar, exactly; the small one does not show as 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_set_elsewhere_survives_a_set_of_the_other() {
    let server = TestServer::start().await;
    let mut api = server.client().await;
    api.ok(
        "session.setLimits",
        json!({"download_bps": 1_500_000, "upload_bps": 300}),
    )
    .await;
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    let shown = browser
        .wait_until(
            "document.getElementById('limit-up').value && [document.getElementById('limit-down').value, document.getElementById('limit-up').value]",
            PATIENCE,
        )
        .await;
    let up: f64 = shown[1].as_str().unwrap().parse().unwrap();
    assert!(up > 0.0, "300 B/s shows as {shown}");
    limits_after_set(
        &browser,
        &mut api,
        "#limit-up",
        "100",
        json!({"download_bps": 1_500_000, "upload_bps": 102_400}),
    )
    .await;
    api.ok("session.setLimits", json!({"upload_bps": 300}))
        .await;
    browser
        .wait_until(
            "Number(document.getElementById('limit-up').value) > 0 && Number(document.getElementById('limit-up').value) < 1",
            PATIENCE,
        )
        .await;
    limits_after_set(
        &browser,
        &mut api,
        "#limit-down",
        "2000",
        json!({"download_bps": 2_048_000, "upload_bps": 300}),
    )
    .await;
    browser.screenshot("limits").await;
}

/// Types `value` into the limit field `input`, presses Set, and waits for the server's limits
/// to be `want`.
async fn limits_after_set(
    browser: &Browser,
    api: &mut support::Client,
    input: &str,
    value: &str,
    want: Value,
) {
    browser.type_into(input, value).await;
    browser.click("#limits-form button").await;
    support::poll_until(
        "the limits set in the page",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let info = api.ok("session.info", Value::Null).await;
            let limits =
                json!({"download_bps": info["download_bps"], "upload_bps": info["upload_bps"]});
            if limits == want {
                Ok(())
            } else {
                Err(limits)
            }
        },
    )
    .await;
}

/// The server process stopped (SIGSTOP: its socket stays open, nothing answers): within 45 s
/// the page says it is reconnecting; continued (SIGCONT), it says connected again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_shows_as_reconnecting_then_connected_again() {
    let server = ServeProcess::start();
    let page = server.url.replace("ws://", "http://").replace("/ws", "/");
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&page).await.unwrap();
    let state =
        |state: &str| format!("document.getElementById('connection').dataset.state === '{state}'");
    browser.wait_until(&state("connected"), PATIENCE).await;
    let pid = i32::try_from(server.pid()).unwrap();
    // SAFETY: kill only sends a signal, to the server this test started (killed on drop,
    // stopped or not).
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let stopped = Instant::now();
    browser
        .wait_until(&state("reconnecting"), Duration::from_secs(45))
        .await;
    eprintln!(
        "reconnecting {:?} after the server stopped",
        stopped.elapsed()
    );
    browser.screenshot("reconnecting").await;
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let continued = Instant::now();
    browser.wait_until(&state("connected"), PATIENCE).await;
    eprintln!(
        "connected {:?} after the server continued",
        continued.elapsed()
    );
}

/// A reverse proxy that serves the server at `behind` under `/magnetar/`, the prefix stripped
/// (as nginx's `location /magnetar/ { proxy_pass http://behind/; }`), WebSocket upgrades
/// included; a path outside the prefix reaches the server as one it does not serve.
async fn sub_path_proxy(behind: std::net::SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(behind).await else {
                    return;
                };
                let (mut from_client, mut to_client) = tcp.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                // Each request head on the connection, rewritten (GETs: no bodies), until an
                // upgrade, after which the bytes are the WebSocket's.
                while let Ok(head) = read_head(&mut from_client).await {
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let Some((method, rest)) = text.split_once(' ') else {
                        return;
                    };
                    let Some((path, rest)) = rest.split_once(' ') else {
                        return;
                    };
                    let path = match path.strip_prefix("/magnetar") {
                        Some(inside) if inside.starts_with('/') => inside.to_owned(),
                        _ => format!("/outside-the-prefix{path}"),
                    };
                    let head = format!("{method} {path} {rest}");
                    if to_server.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    if text.to_ascii_lowercase().contains("upgrade: websocket") {
                        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The page served at `http://proxy/magnetar/` connects to `ws://proxy/magnetar/ws`, its own
/// address's WebSocket, not `/ws` at the proxy's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_behind_a_sub_path_reverse_proxy_connects() {
    let server = TestServer::start().await;
    let behind = server
        .http_base()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let port = sub_path_proxy(behind).await;
    let browser = Browser::start(1280, 720).await;
    browser
        .client
        .goto(&format!("http://127.0.0.1:{port}/magnetar/"))
        .await
        .unwrap();
    // The page and its scripts came through the proxy (their paths are relative), and it
    // connects through the proxy too.
    browser
        .wait_until(
            "document.title === 'Magnetar' && !!window.magnetar",
            PATIENCE,
        )
        .await;
    browser
        .wait_until(
            &format!(
                "document.getElementById('connection').dataset.state === 'connected' && \
                 document.getElementById('connection').textContent === 'Connected to 127.0.0.1:{port}'"
            ),
            PATIENCE,
        )
        .await;
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    browser.screenshot("sub-path").await;
}

/// A tiny HTTP server on 127.0.0.1 that answers every request with `html`; its port.
async fn serve_html(html: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let _ = read_head(&mut tcp).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// An HTTP request's head (up to the blank line), as sent (empty at the end of the stream).
async fn read_head(tcp: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        if tcp.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// A page of another origin frames the UI: Chromium must not show it (`frame-ancestors 'none'`).
/// The outer page also frames a page of a third origin that has no such policy, to show that
/// the check below does see a cross-origin frame that loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_site_cannot_frame_the_ui() {
    let server = TestServer::start().await;
    let control =
        serve_html("<!doctype html><title>control</title><p id=control>framed".into()).await;
    let outer = serve_html(format!(
        "<!doctype html><title>outer</title>
         <iframe id=ui src='{}/' onload='window.uiLoaded = true'></iframe>
         <iframe id=control src='http://127.0.0.1:{control}/' onload='window.controlLoaded = true'></iframe>",
        server.http_base()
    ))
    .await;
    let browser = Browser::start(1280, 720).await;
    browser
        .client
        .goto(&format!("http://127.0.0.1:{outer}/"))
        .await
        .unwrap();
    browser
        .wait_until("window.uiLoaded && window.controlLoaded", PATIENCE)
        .await;
    // Time for a framed UI to run its scripts and connect, had it loaded.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let inside = "return [location.href, document.title, \
                  !!document.getElementById('connection'), !!document.getElementById('control')];";
    browser.client.enter_frame(Some(1)).await.unwrap();
    let control_seen = browser.js(inside).await;
    browser.client.enter_parent_frame().await.unwrap();
    assert_eq!(
        control_seen[3],
        json!(true),
        "the check cannot see a framed page: {control_seen}"
    );
    browser.client.enter_frame(Some(0)).await.unwrap();
    let ui_seen = browser.js(inside).await;
    browser.client.enter_parent_frame().await.unwrap();
    eprintln!("the framed UI: {ui_seen}");
    assert_eq!(
        ui_seen[2],
        json!(false),
        "another site showed the UI in a frame: {ui_seen}"
    );
    assert_ne!(ui_seen[1], json!("Magnetar"), "{ui_seen}");
}

/// A stand-in for a second Magnetar's address: it records the head of every request (the
/// WebSocket upgrade's URL and headers, as the browser sent them) and passes the connection on
/// to the real server behind it.
struct Recorder {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(behind: std::net::SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(head) = read_head(&mut tcp).await else {
                        return;
                    };
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let Ok(mut server) = TcpStream::connect(behind).await else {
                        return;
                    };
                    if server.write_all(&head).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut server).await;
                    }
                });
            }
        });
        Recorder {
            url: format!("ws://127.0.0.1:{port}/ws"),
            heads,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Waits for the `n`th request head and returns it.
    async fn nth(&self, n: usize) -> String {
        support::poll_until(
            &format!("request {n} reaching {}", self.url),
            PATIENCE,
            Duration::from_millis(50),
            async || {
                let heads = self.heads();
                heads
                    .get(n - 1)
                    .cloned()
                    .ok_or_else(|| format!("{} requests", heads.len()))
            },
        )
        .await
    }
}

/// The page came with `?token=`: it takes it out of the address bar, saves nothing, and sends it
/// to no other server chosen in "Connect to…". A token typed there is saved only when
/// "Remember this token" is ticked, comes back after a reload, and "Forget this server" removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_goes_only_to_its_own_server_and_is_saved_only_when_asked() {
    let page_token = "page-token-0123456789abcdef";
    let typed_token = "typed-token-fedcba9876543210";
    let server = TestServer::start().await;
    // A second Magnetar that accepts this page's origin, behind a recorder.
    let other_root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other_root.path().join("data")).unwrap();
    std::fs::write(
        other_root.path().join("data/settings.json"),
        json!({"allowed_origins": [server.http_base()]}).to_string(),
    )
    .unwrap();
    let other = TestServer::start_with(other_root.path(), |_| {}).await;
    let other_addr = other
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let recorder = Recorder::start(other_addr).await;
    let other_host = recorder
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .to_owned();
    let connected_to = |host: &str| {
        format!(
            "document.getElementById('connection').dataset.state === 'connected' && \
             document.getElementById('connection').textContent === 'Connected to {host}'"
        )
    };
    let saved_tokens = "return Object.entries(localStorage)
        .filter(([k, v]) => k.startsWith('magnetar.token') || v.includes('-token-'));";

    let browser = Browser::start(1280, 720).await;
    browser
        .client
        .goto(&format!(
            "{}/?token={page_token}&x=1#here",
            server.http_base()
        ))
        .await
        .unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    let own_host = server.http_base().replace("http://", "");
    browser.wait_until(&connected_to(&own_host), PATIENCE).await;
    let address = browser.client.current_url().await.unwrap().to_string();
    assert!(
        !address.contains(page_token),
        "still in the address bar: {address}"
    );
    assert!(
        address.ends_with("/?x=1#here"),
        "other parts of the address kept: {address}"
    );
    assert_eq!(browser.js(saved_tokens).await, json!([]), "saved unasked");

    // "Connect to…" the second server, no token typed: it must not get the page's token.
    let connect = |url: String, token: &'static str, remember: bool| {
        let browser = &browser;
        async move {
            browser.click("#connect-button").await;
            browser
                .wait_until("document.getElementById('connect-dialog').open", PATIENCE)
                .await;
            browser.type_into("#connect-url", &url).await;
            browser.type_into("#connect-token", token).await;
            let ticked = browser
                .js("return document.getElementById('connect-remember')?.checked ?? false;")
                .await;
            assert_eq!(ticked, json!(false), "Remember is ticked by default");
            if remember {
                browser.click("#connect-remember").await;
            }
            browser.click("#connect-form button[value=ok]").await;
        }
    };
    connect(recorder.url.clone(), "", false).await;
    let head = recorder.nth(1).await;
    browser
        .wait_until(&connected_to(&other_host), PATIENCE)
        .await;
    assert!(
        !head.contains(page_token),
        "the other server was sent the page's token:\n{head}"
    );
    assert!(head.starts_with("GET /ws HTTP/1.1\r\n"), "{head}");

    // A token typed for it, not remembered: sent to it, saved nowhere.
    connect(recorder.url.clone(), typed_token, false).await;
    let head = recorder.nth(2).await;
    assert!(
        head.starts_with(&format!("GET /ws?token={typed_token} ")),
        "{head}"
    );
    browser
        .wait_until(&connected_to(&other_host), PATIENCE)
        .await;
    assert_eq!(browser.js(saved_tokens).await, json!([]), "saved unasked");

    // Remembered: saved for that server only, and sent to it again after a reload.
    connect(recorder.url.clone(), typed_token, true).await;
    let head = recorder.nth(3).await;
    assert!(head.contains(typed_token), "{head}");
    browser
        .wait_until(&connected_to(&other_host), PATIENCE)
        .await;
    let expected = json!([[format!("magnetar.token.ws://{other_host}"), typed_token]]);
    browser
        .wait_until(
            &format!("JSON.stringify((() => {{ {saved_tokens} }})()) === '{expected}'"),
            PATIENCE,
        )
        .await;
    browser.client.refresh().await.unwrap();
    let head = recorder.nth(4).await;
    assert!(
        head.starts_with(&format!("GET /ws?token={typed_token} ")),
        "not restored after a reload: {head}"
    );
    browser
        .wait_until(&connected_to(&other_host), PATIENCE)
        .await;
    for head in recorder.heads() {
        assert!(!head.contains(page_token), "{head}");
    }

    // "Forget this server": its token is gone, and so is it from the recent servers.
    browser.click("#connect-button").await;
    browser
        .wait_until("document.getElementById('connect-dialog').open", PATIENCE)
        .await;
    browser.type_into("#connect-url", &recorder.url).await;
    browser.click("#connect-forget").await;
    browser
        .wait_until(
            "document.getElementById('connect-status').textContent.startsWith('Forgot')",
            PATIENCE,
        )
        .await;
    assert_eq!(browser.js(saved_tokens).await, json!([]), "not forgotten");
    let recent = browser
        .js("return [...document.querySelectorAll('#recent-servers button')].map(b => b.textContent);")
        .await;
    assert!(
        !recent.to_string().contains(&other_host),
        "still a recent server: {recent}"
    );
    browser.screenshot("connect-forget").await;
    browser.click("#connect-form button[value=cancel]").await;
    // A reload now comes back to the page's own server, with no token for anyone.
    browser.client.refresh().await.unwrap();
    browser.wait_until(&connected_to(&own_host), PATIENCE).await;
    assert_eq!(browser.js(saved_tokens).await, json!([]));
    drop(other);
}

/// A server that answers every request with `-7` (an internal error): the page must not take the
/// failed first `session.info` for a connection, but try again, with back-off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_session_info_is_not_a_connection() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let server = TestServer::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let failing = listener.local_addr().unwrap();
    let connections = Arc::new(Mutex::new(0usize));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            *counted.lock().unwrap() += 1;
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(Message::Text(text))) = socket.next().await {
                    let id = serde_json::from_str::<Value>(&text).unwrap_or_default()["id"].clone();
                    let answer =
                        json!({"id": id, "error": -7, "result": null, "message": "broken"});
                    if socket
                        .send(Message::text(answer.to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let browser = Browser::start(1280, 720).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser
        .wait_until(
            "document.getElementById('connection').dataset.state === 'connected'",
            PATIENCE,
        )
        .await;
    browser.click("#connect-button").await;
    browser
        .wait_until("document.getElementById('connect-dialog').open", PATIENCE)
        .await;
    browser
        .type_into("#connect-url", &format!("ws://{failing}/ws"))
        .await;
    browser.click("#connect-form button[value=ok]").await;
    support::poll_until(
        "a second connection to the failing server",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let seen = *connections.lock().unwrap();
            if seen >= 2 {
                Ok(())
            } else {
                Err(seen)
            }
        },
    )
    .await;
    let state = browser
        .js("const c = document.getElementById('connection'); return [c.dataset.state, c.textContent];")
        .await;
    assert_ne!(state[0], json!("connected"), "{state}");
}

/// The preferences dialog: a limit and "seed when complete" changed and saved reach the server
/// (and settings.json); a value the server refuses is shown, naming the setting, and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preferences_dialog_changes_settings_on_the_server() {
    let server = TestServer::start().await;
    let mut api = server.client().await;
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    let open = async || {
        browser.click("#prefs-button").await;
        browser
            .wait_until(
                "document.getElementById('prefs-dialog').open && document.querySelector('#prefs-dialog [name=upload_bps]')",
                PATIENCE,
            )
            .await;
    };
    open().await;
    browser
        .type_into("#prefs-dialog [name=upload_bps]", "100")
        .await;
    browser.click("#prefs-dialog [name=seed]").await;
    browser.screenshot("preferences").await;
    browser.click("#prefs-save").await;
    browser
        .wait_until("!document.getElementById('prefs-dialog').open", PATIENCE)
        .await;
    let settings = api.ok("session.getSettings", Value::Null).await;
    assert_eq!(settings["settings"]["upload_bps"], json!(100 * 1024));
    assert_eq!(settings["settings"]["seed"], json!(false));
    let info = api.ok("session.info", Value::Null).await;
    assert_eq!(info["upload_bps"], json!(100 * 1024));
    // The status bar shows the new limit, from the event every client gets.
    browser
        .wait_until(
            "document.getElementById('limit-up').value === '100'",
            PATIENCE,
        )
        .await;

    // A folder the server refuses (relative): the message names the setting; nothing changes.
    open().await;
    browser
        .type_into("#prefs-dialog [name=download_roots]", "relative/folder")
        .await;
    browser.click("#prefs-save").await;
    let shown = browser
        .wait_until(
            "!document.querySelector('#prefs-dialog .preferences-error').hidden && \
             document.querySelector('#prefs-dialog .preferences-error').textContent",
            PATIENCE,
        )
        .await;
    assert!(
        shown.as_str().unwrap().contains("download_roots"),
        "the error names the setting: {shown}"
    );
    assert!(browser
        .js("return document.getElementById('prefs-dialog').open;")
        .await
        .as_bool()
        .unwrap());
    let after = api.ok("session.getSettings", Value::Null).await;
    assert_eq!(after["settings"]["download_roots"], json!([]));
    assert_eq!(after["settings"], settings["settings"]);
}

/// Labels in the UI: made in the preferences (with a folder), shown in the sidebar with counts,
/// filtering the table, and given to a row from its context menu; the statistics view says what
/// session.info says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_from_the_preferences_to_the_sidebar_and_the_statistics_view() {
    let server = TestServer::start().await;
    let mut api = server.client().await;
    let tasks: Vec<TestTorrent> = (0..3u64)
        .map(|i| {
            let name = format!("labelled-{i}.bin");
            TestTorrent::build(TorrentSpec {
                name: Box::leak(name.clone().into_boxed_str()),
                files: vec![(Box::leak(name.into_boxed_str()), 64 * 1024)],
                seed: 70 + i,
                ..Default::default()
            })
        })
        .collect();
    for torrent in &tasks {
        api.add_torrent(torrent).await;
    }
    let folder = tempfile::tempdir().unwrap();
    let folder = folder.path().canonicalize().unwrap();
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;

    // Preferences: add a label "films" with a folder.
    browser.click("#prefs-button").await;
    browser
        .wait_until(
            "document.querySelector('#prefs-dialog .add-label')",
            PATIENCE,
        )
        .await;
    browser.click("#prefs-dialog .add-label").await;
    browser
        .type_into(
            "#prefs-dialog .label-row:last-child [data-field='prefs.labelName']",
            "films",
        )
        .await;
    browser
        .type_into(
            "#prefs-dialog .label-row:last-child [data-field='prefs.labelFolder']",
            &folder.display().to_string(),
        )
        .await;
    browser.screenshot("preferences-labels").await;
    browser.click("#prefs-save").await;
    browser
        .wait_until("!document.getElementById('prefs-dialog').open", PATIENCE)
        .await;
    let labels = api.ok("session.getLabels", Value::Null).await;
    assert_eq!(
        labels["labels"],
        json!([{"name": "films", "folder": folder.display().to_string(), "seed_goal": null}])
    );

    // The sidebar shows it (every client heard session.labelsUpdated), with no task yet.
    let count = |label: &str| {
        format!(
            "document.querySelector(`#label-filters [data-label='{label}'] .count`)?.textContent"
        )
    };
    browser
        .wait_until(&format!("{} === '0'", count("films")), PATIENCE)
        .await;
    assert_eq!(
        browser.js(&format!("return {};", count(""))).await,
        json!("3")
    );

    // Two rows labelled from the context menu.
    browser.click(&row(&tasks[0].info_hash)).await;
    browser
        .js(&format!(
            "document.querySelector(\"{}\").dispatchEvent(new MouseEvent('click', {{bubbles: true, ctrlKey: true}})); return true;",
            row(&tasks[1].info_hash)
        ))
        .await;
    browser
        .js(&format!(
            "const r = document.querySelector(\"{}\").getBoundingClientRect();
             document.querySelector(\"{}\").dispatchEvent(new MouseEvent('contextmenu', {{bubbles: true, clientX: r.left + 20, clientY: r.top + 5}}));
             return true;",
            row(&tasks[1].info_hash),
            row(&tasks[1].info_hash)
        ))
        .await;
    browser.click("#context-menu [data-action=label]").await;
    browser
        .wait_until("document.getElementById('label-dialog').open", PATIENCE)
        .await;
    browser
        .js("document.getElementById('label-select').value = 'films'; return true;")
        .await;
    browser.click("#label-ok").await;
    for torrent in &tasks[..2] {
        let id = torrent.info_hash.clone();
        support::poll_until(
            "the label on the server",
            PATIENCE,
            Duration::from_millis(100),
            async || {
                let label = api.summary(&id).await["label"].clone();
                if label == json!("films") {
                    Ok(())
                } else {
                    Err(label)
                }
            },
        )
        .await;
    }
    browser
        .wait_until(
            &format!("{} === '2' && {} === '1'", count("films"), count("")),
            PATIENCE,
        )
        .await;
    // The label filter shows its two rows only.
    browser.click("#label-filters [data-label='films']").await;
    browser
        .wait_until("window.magnetar.table.view.length === 2", PATIENCE)
        .await;
    let shown = browser
        .js("return [...document.querySelectorAll('.row:not([hidden]) .td-label')].map(c => c.textContent);")
        .await;
    assert_eq!(shown, json!(["films", "films"]));
    browser.screenshot("label-sidebar").await;

    // The statistics view: the all-time figures session.info gives.
    browser.click("#stats-button").await;
    browser
        .wait_until("document.getElementById('stats-dialog').open", PATIENCE)
        .await;
    let facts = browser
        .js("return [...document.querySelectorAll('#stats-body dt')].map(d => d.textContent);")
        .await;
    assert!(facts.as_array().unwrap().len() >= 6, "{facts}");
    let tasks_shown = browser
        .js("const dt = [...document.querySelectorAll('#stats-body dt')].find(d => d.textContent === 'Tasks'); return dt.nextElementSibling.textContent;")
        .await;
    assert_eq!(tasks_shown, json!("3"));
    browser.screenshot("statistics").await;
}

/// "Add with options…" with a magnet, a label, a folder and "choose files before starting": the
/// dialog waits for the metadata, shows the tree, and only the chosen files are ever written,
/// into the chosen folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_add_dialog_chooses_a_magnets_files_before_a_byte_is_written() {
    let album = TestTorrent::build(TorrentSpec {
        name: "choose-album",
        files: vec![
            ("a/one.bin", 64 * 1024),
            ("a/two.bin", 64 * 1024),
            ("three.bin", 64 * 1024),
        ],
        single: false,
        piece_length: 64 * 1024,
        seed: 81,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start(&album).await;
    let server = TestServer::start().await;
    let mut api = server.client().await;
    api.ok("session.setLabels", json!({"labels": [{"name": "music"}]}))
        .await;
    let folder = tempfile::tempdir().unwrap();
    let folder = folder.path().canonicalize().unwrap();
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    browser.click("#add-options-button").await;
    browser
        .wait_until("document.getElementById('add-dialog').open", PATIENCE)
        .await;
    browser
        .type_into("#add-links", &album.magnet(&[seeder.addr]))
        .await;
    browser
        .type_into("#add-folder", &folder.display().to_string())
        .await;
    browser
        .js("document.getElementById('add-label').value = 'music'; return true;")
        .await;
    browser.click("#add-choose").await;
    browser.screenshot("add-dialog").await;
    browser.click("#add-dialog-ok").await;
    // The tree, once the metadata came: a/, one.bin, two.bin, three.bin.
    browser
        .wait_until(
            "document.getElementById('choose-dialog').open && document.querySelectorAll('#choose-files .choose-row').length === 4",
            PATIENCE,
        )
        .await;
    // Nothing written yet.
    let written = |root: &std::path::Path| -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        found.sort();
        found
    };
    assert_eq!(written(&folder), Vec::<String>::new());
    browser
        .click("#choose-files .choose-row[data-index='1'] input")
        .await;
    browser.screenshot("choose-files").await;
    browser.click("#choose-ok").await;
    let id = album.info_hash.clone();
    // Added with no file chosen, the task may already read as complete (state 2) before the
    // dialog's choice reaches the server: wait for the choice, then for its download.
    poll_until(
        "the dialog's choice is the task's",
        PATIENCE,
        Duration::from_millis(100),
        async || match api.status(&id).await["selected"].clone() {
            chosen if chosen == json!([true, false, true]) => Ok(()),
            other => Err(other),
        },
    )
    .await;
    let sizes: Vec<u64> = album.files.iter().map(|(_, c)| c.len() as u64).collect();
    poll_until(
        "the chosen files downloaded",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let status = api.status(&id).await;
            let held = &status["files"];
            if held[0] == sizes[0] && held[2] == sizes[2] && api.summary(&id).await["state"] == 2 {
                Ok(())
            } else {
                Err(status)
            }
        },
    )
    .await;
    let row = api.summary(&id).await;
    assert_eq!(row["label"], json!("music"));
    assert_eq!(
        written(&folder),
        vec![
            "choose-album/a/one.bin".to_string(),
            "choose-album/three.bin".to_string()
        ]
    );
}

/// The details' Trackers tab, and three actions of the context menu: copy the magnet link, move
/// the data to another folder, check the data again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackers_magnet_link_move_and_recheck_from_the_ui() {
    let probe = TestTorrent::build(TorrentSpec {
        name: "tracked.bin",
        files: vec![("tracked.bin", 256 * 1024)],
        seed: 91,
        ..Default::default()
    });
    let tracker = Tracker::start(&[&probe.info_hash]);
    let torrent = TestTorrent::build(TorrentSpec {
        name: "tracked.bin",
        files: vec![("tracked.bin", 256 * 1024)],
        seed: 91,
        trackers: vec![tracker.announce.clone()],
        ..Default::default()
    });
    let server = TestServer::start().await;
    torrent.write_content(&server.download_dir);
    let mut api = server.client().await;
    api.add_torrent(&torrent).await;
    let id = torrent.info_hash.clone();
    api.poll_state(&id, 2).await;
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    open_details(&browser, &id).await;
    browser.click("[data-tab=trackers]").await;
    browser
        .wait_until(
            &format!(
                "[...document.querySelectorAll('#trackers-body td')].some(td => td.textContent === '{}')",
                tracker.announce
            ),
            PATIENCE,
        )
        .await;
    browser.screenshot("trackers").await;

    let menu = |action: &'static str| {
        let id = id.clone();
        let browser = &browser;
        async move {
            browser
                .js(&format!(
                    "const r = document.querySelector(\"{0}\").getBoundingClientRect();
                     document.querySelector(\"{0}\").dispatchEvent(new MouseEvent('contextmenu', {{bubbles: true, clientX: r.left + 20, clientY: r.top + 5}}));
                     return true;",
                    row(&id)
                ))
                .await;
            browser
                .click(&format!("#context-menu [data-action={action}]"))
                .await;
        }
    };
    // The magnet link, to the clipboard (recorded: a headless page has no clipboard to read).
    browser
        .js("window.copied = null; navigator.clipboard.writeText = async (text) => { window.copied = text; }; return true;")
        .await;
    menu("copyMagnet").await;
    let copied = browser.wait_until("window.copied", PATIENCE).await;
    assert!(
        copied
            .as_str()
            .unwrap()
            .starts_with(&format!("magnet:?xt=urn:btih:{id}")),
        "{copied}"
    );

    // Move to another folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let elsewhere = elsewhere.path().canonicalize().unwrap();
    menu("move").await;
    browser
        .wait_until("document.getElementById('move-dialog').open", PATIENCE)
        .await;
    browser
        .type_into("#move-folder", &elsewhere.display().to_string())
        .await;
    browser.click("#move-ok").await;
    support::poll_until(
        "the data in the new folder",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let metadata = api.ok("task.getMetadata", json!({"task_id": id})).await;
            if metadata["download_dir"] == json!(elsewhere.display().to_string()) {
                Ok(())
            } else {
                Err(metadata["download_dir"].clone())
            }
        },
    )
    .await;
    assert_eq!(
        std::fs::read(elsewhere.join("tracked.bin")).unwrap().len(),
        256 * 1024
    );
    assert!(!server.download_dir.join("tracked.bin").exists());
    api.poll_state(&id, 2).await;

    // Check the data again: back to seeding, with every piece.
    menu("recheck").await;
    browser
        .wait_until(
            "document.getElementById('bulk-status').textContent === 'Checking 1 task again.'",
            PATIENCE,
        )
        .await;
    api.poll_state(&id, 2).await;
    let status = api.status(&id).await;
    let (held, total) = support::pieces_held(&status);
    assert_eq!(held, total);
}

/// Watching while it downloads: the Files tab's ▶ plays a 60 s WebM (made by ffmpeg) in the
/// page's player from a seeder limited to 256 KiB/s: it plays past 5 s while the download is
/// not complete, and a seek to 80 % plays there (the time it took is printed; nothing about
/// time is asserted). The player's link is a signed stream link, with no API token in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_plays_a_webm_while_it_downloads_and_seeks() {
    support::peers::require("ffmpeg");
    let media = tempfile::tempdir().unwrap();
    let (webm, _) = support::media::make_media(media.path());
    let torrent = TestTorrent::from_contents(
        "film.webm",
        vec![("film.webm".into(), std::fs::read(&webm).unwrap())],
        true,
        32 * 1024,
    );
    let seeder = LibrqbitSeeder::start_limited(&torrent, Some(256 * 1024)).await;
    let server = TestServer::start().await;
    let mut api = server.client().await;
    let id = torrent.info_hash.clone();
    api.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&server.http_base()).await.unwrap();
    browser.wait_until("window.magnetarReady", PATIENCE).await;
    open_details(&browser, &id).await;
    browser.click("[data-tab=files]").await;
    browser
        .wait_until(
            "document.querySelector(\"#files-body .file[data-index='0'] .file-play:not([hidden])\")",
            PATIENCE,
        )
        .await;
    browser
        .click("#files-body .file[data-index='0'] .file-play")
        .await;
    browser
        .wait_until(
            "document.getElementById('player-dialog').open && document.getElementById('player-video').currentTime > 5",
            PATIENCE,
        )
        .await;
    let src = browser
        .js("return document.getElementById('player-video').currentSrc;")
        .await;
    let src = src.as_str().unwrap();
    assert!(src.contains("/stream/") && src.contains("st="), "{src}");
    assert!(
        !src.contains("token"),
        "no API token in a stream link: {src}"
    );
    let row = api.summary(&id).await;
    assert!(
        row["dl_bytes"].as_u64().unwrap() < torrent.total_len() as u64,
        "it played past 5 s before the download completed: {row}"
    );
    browser.screenshot("player").await;

    // A seek to 80 %: it plays from there.
    let started = Instant::now();
    browser
        .js("const v = document.getElementById('player-video'); v.currentTime = v.duration * 0.8; return true;")
        .await;
    browser
        .wait_until(
            "(() => { const v = document.getElementById('player-video'); return v.currentTime > v.duration * 0.8 + 1 && !v.paused; })()",
            PATIENCE,
        )
        .await;
    eprintln!(
        "player: a seek to 80 % played on after {:.1} s (download then at {} of {} bytes)",
        started.elapsed().as_secs_f64(),
        api.summary(&id).await["dl_bytes"],
        torrent.total_len()
    );
}

/// Opens the details of task `id`, as a double click on its row does.
async fn open_details(browser: &Browser, id: &str) {
    browser
        .js(&format!(
            "document.querySelector(\"{}\").dispatchEvent(new MouseEvent('dblclick', {{bubbles: true}})); return true;",
            row(id)
        ))
        .await;
}
