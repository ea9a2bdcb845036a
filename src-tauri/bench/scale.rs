//! Scale: what a library of N tasks costs, for N = 100, 1,000 and 10,000 (a quick run: 10 and
//! 40), Magnetar and Transmission (the daemon) measured with the same N in the same run. The
//! tasks are the API table's generated torrents (one 16 KiB file each, their only tracker a
//! dead local port), added paused; then half of them are resumed, so they stay stalled (live,
//! no peer).
//!
//! For each N: adds until answered and until the daemon is quiet again; `task.list` p50/p99;
//! idle CPU, RSS and descriptors with every task paused, then with half of them stalled; the
//! stop (SIGTERM to exit); and the start-up: to the ready line, to a listing of all N, and
//! until no task is still being restored (state 0); and the web UI's first full render of the
//! library in chromium (`browser.rs`).

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::torrent_bytes;
use crate::browser;
use crate::procs::{self, WorkDir};
use crate::report::{self, percentile, Report, Table};
use crate::rivals::{self, Kind};
use crate::ws::{Server, Ws};
use crate::Scale;

/// How long anything one library size takes may last (adds, quiet, restores).
const PATIENCE: Duration = Duration::from_secs(600);

/// Magnetar's figures for one N.
struct Figures {
    answered_s: f64,
    quiet_s: f64,
    list_p50_ms: f64,
    list_p99_ms: f64,
    paused: Idle,
    stalled: Idle,
    stop_ms: f64,
    ready_ms: f64,
    listing_ms: f64,
    restored_ms: f64,
    /// The web UI's first full render, after the navigation's start (None: no chromium).
    ui_ms: Option<f64>,
}

/// A quiet server's cost.
struct Idle {
    cpu_percent: f64,
    rss: u64,
    descriptors: usize,
}

pub async fn run(
    work: &WorkDir,
    scale: Scale,
    sizes: Option<&[usize]>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let sizes: &[usize] = match sizes {
        Some(sizes) => sizes,
        None if scale.install => &[100, 1_000, 10_000],
        None => &[10, 40],
    };
    let dead_tracker = format!("http://127.0.0.1:{}/announce", procs::free_port());
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for &n in sizes {
        let torrents: Vec<Vec<u8>> = (0..n).map(|i| torrent_bytes(i, &dead_tracker)).collect();
        let ours = magnetar(work, &torrents, scale).await?;
        eprintln!("scale {n}: Magnetar measured");
        let theirs = rivals::measure(
            Kind::Transmission,
            &work.fresh(&format!("scale-transmission-{n}")),
            Scale { tasks: n, ..scale },
            &torrents,
            true,
        )
        .await
        .unwrap_or_else(|e| {
            eprintln!("Transmission at {n}: {e:#}");
            None
        });
        eprintln!("scale {n}: Transmission measured");
        rows.push(magnetar_row(n, &ours));
        rows.push(transmission_row(n, theirs.as_ref()));
        figures.push(json!({
            "tasks": n,
            "Magnetar": magnetar_json(&ours),
            "Transmission": theirs.as_ref().map(transmission_json),
        }));
    }
    report.tables.push(Table {
        title: "Scale: a library of N tasks, Magnetar and transmission-daemon".into(),
        header: [
            "N",
            "client",
            "adds answered / quiet",
            "list p50 / p99",
            "paused: CPU, RSS, fds",
            "half stalled: CPU, RSS, fds",
            "stop",
            "restart: ready / listed / restored",
            "web UI: first full render",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        notes: vec![
            "release builds, loopback, one run; the same generated torrents for both, added \
             paused (Magnetar pipelines its adds on one WebSocket, Transmission gets 16 HTTP \
             requests in flight)"
                .into(),
            "adds: seconds until every add was answered, then until the daemon was quiet \
             again; CPU in percent of one core over the idle window; fds: /proc/PID/fd"
                .into(),
            "half stalled: every other task resumed, live with no peer to find (its only \
             tracker is a dead local port), measured after 30 s + 10 ms per task (every resumed \
             task live in the engine by then); Transmission with its queues turned off, as \
             Magnetar has none; both restart with that library. Transmission's restart is to a \
             listing of every torrent"
                .into(),
            "web UI: milliseconds from the navigation's start to the first frame showing all N \
             tasks (\"All N\"), Debian's chromium headless, every task paused"
                .into(),
        ],
        json: Value::Array(figures),
    });
    Ok(())
}

async fn magnetar(work: &WorkDir, torrents: &[Vec<u8>], scale: Scale) -> anyhow::Result<Figures> {
    let n = torrents.len();
    let root = work.fresh(&format!("scale-magnetar-{n}"));
    let server = Server::start(&root)?;
    let mut ws = Ws::connect(&server.url).await?;
    let uris: Vec<String> = torrents
        .iter()
        .map(|t| base64::engine::general_purpose::STANDARD.encode(t))
        .collect();
    let started = Instant::now();
    for uri in &uris {
        ws.send(
            "task.add",
            json!({"type": "torrent", "uri": uri, "paused": true}),
        )
        .await?;
    }
    answers(&mut ws, n, "task.add").await?;
    let answered = started.elapsed();
    let busy = procs::settle(server.pid(), PATIENCE).await;

    let mut latencies = Vec::new();
    for _ in 0..50 {
        let asked = Instant::now();
        let list = ws.call("task.list", Value::Null).await?;
        latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            list.as_array().map(Vec::len) == Some(n),
            "task.list is short"
        );
    }
    let paused = idle(server.pid(), scale.idle_seconds).await;
    let page = server.url.replacen("ws://", "http://", 1);
    let page = page.strip_suffix("/ws").unwrap_or(&page);
    let ui_ms = browser::first_full_render(page, n, &root.join("chromium")).await?;
    if ui_ms.is_none() {
        eprintln!("scale {n}: no chromium, the web UI is not measured");
    }

    // Half of them resumed: live, with no peer to find.
    let list = ws.call("task.list", Value::Null).await?;
    let ids: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    for id in ids.iter().step_by(2) {
        ws.send("task.resume", json!({"task_id": id})).await?;
    }
    answers(&mut ws, ids.len().div_ceil(2), "task.resume").await?;
    tokio::time::sleep(procs::stalled_wait(n, !scale.install)).await;
    let stalled = idle(server.pid(), scale.idle_seconds).await;

    drop(ws);
    let stopping = Instant::now();
    server.stop()?;
    let stop_ms = stopping.elapsed().as_secs_f64() * 1000.0;

    let started = Instant::now();
    let server = Server::start(&root)?;
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut ws = Ws::connect(&server.url).await?;
    let mut listing_ms = None;
    let restored_ms = loop {
        let list = ws.call("task.list", Value::Null).await?;
        let rows = list.as_array().map(Vec::as_slice).unwrap_or_default();
        if rows.len() == n {
            listing_ms.get_or_insert(started.elapsed().as_secs_f64() * 1000.0);
            if rows.iter().all(|t| t["state"] != 0) {
                break started.elapsed().as_secs_f64() * 1000.0;
            }
        }
        anyhow::ensure!(
            started.elapsed() < PATIENCE,
            "{n} tasks not restored in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(ws);
    server.stop()?;
    Ok(Figures {
        answered_s: answered.as_secs_f64(),
        quiet_s: (answered + busy).as_secs_f64(),
        list_p50_ms: percentile(&latencies, 50.0),
        list_p99_ms: percentile(&latencies, 99.0),
        paused,
        stalled,
        stop_ms,
        ready_ms,
        listing_ms: listing_ms.unwrap_or(restored_ms),
        restored_ms,
        ui_ms,
    })
}

/// Reads `count` answers of pipelined `method` calls, each a success.
async fn answers(ws: &mut Ws, count: usize, method: &str) -> anyhow::Result<()> {
    let mut answered = 0;
    while answered < count {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await??;
        if message.get("id").is_some() {
            anyhow::ensure!(message["error"] == 0, "{method}: {}", message["message"]);
            answered += 1;
        }
    }
    Ok(())
}

/// CPU over `seconds`, then RSS and descriptors, of a server left alone.
async fn idle(pid: u32, seconds: u64) -> Idle {
    let before = procs::cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Idle {
        cpu_percent: (procs::cpu_seconds(pid) - before) / seconds as f64 * 100.0,
        rss: procs::memory(pid).0,
        descriptors: procs::descriptors(pid),
    }
}

fn idle_cell(idle: &Idle) -> String {
    format!(
        "{:.1} %, {}, {}",
        idle.cpu_percent,
        report::mib(idle.rss),
        idle.descriptors
    )
}

fn magnetar_row(n: usize, f: &Figures) -> Vec<String> {
    vec![
        n.to_string(),
        "Magnetar".into(),
        format!("{:.2} / {:.2} s", f.answered_s, f.quiet_s),
        format!("{:.2} / {:.2} ms", f.list_p50_ms, f.list_p99_ms),
        idle_cell(&f.paused),
        idle_cell(&f.stalled),
        format!("{:.0} ms", f.stop_ms),
        format!(
            "{:.0} / {:.0} / {:.0} ms",
            f.ready_ms, f.listing_ms, f.restored_ms
        ),
        f.ui_ms
            .map_or_else(|| "no chromium".into(), |ms| format!("{ms:.0} ms")),
    ]
}

fn transmission_row(n: usize, f: Option<&rivals::Figures>) -> Vec<String> {
    let Some(f) = f else {
        let mut row = vec![n.to_string(), "Transmission".into()];
        row.extend(std::iter::repeat_n("not installed or failed".to_owned(), 7));
        return row;
    };
    let answered = n as f64 / f.adds_per_second;
    let quiet = n as f64 / f.adds_until_quiet;
    vec![
        n.to_string(),
        "Transmission".into(),
        format!("{answered:.2} / {quiet:.2} s"),
        format!("{:.2} / {:.2} ms", f.list_p50_ms, f.list_p99_ms),
        format!(
            "{:.1} %, {}, {}",
            f.idle_cpu,
            report::mib(f.idle_rss),
            f.descriptors
        ),
        f.stalled.map_or_else(
            || "-".into(),
            |(cpu, rss, fds)| format!("{cpu:.1} %, {}, {fds}", report::mib(rss)),
        ),
        format!("{:.0} ms", f.stop_ms),
        format!("- / {:.0} ms / -", f.startup_ms),
        "-".into(),
    ]
}

fn idle_json(idle: &Idle) -> Value {
    json!({"cpu_percent": idle.cpu_percent, "rss": idle.rss, "descriptors": idle.descriptors})
}

fn magnetar_json(f: &Figures) -> Value {
    json!({
        "adds_answered_s": f.answered_s,
        "adds_quiet_s": f.quiet_s,
        "list_p50_ms": f.list_p50_ms,
        "list_p99_ms": f.list_p99_ms,
        "paused": idle_json(&f.paused),
        "stalled": idle_json(&f.stalled),
        "stop_ms": f.stop_ms,
        "ready_ms": f.ready_ms,
        "listing_ms": f.listing_ms,
        "restored_ms": f.restored_ms,
        "ui_first_render_ms": f.ui_ms,
    })
}

fn transmission_json(f: &rivals::Figures) -> Value {
    json!({
        "adds_per_second": f.adds_per_second,
        "adds_until_quiet_per_second": f.adds_until_quiet,
        "list_p50_ms": f.list_p50_ms,
        "list_p99_ms": f.list_p99_ms,
        "idle_cpu_percent": f.idle_cpu,
        "idle_rss": f.idle_rss,
        "descriptors": f.descriptors,
        "stalled": f.stalled.map(|(cpu, rss, fds)| {
            json!({"cpu_percent": cpu, "rss": rss, "descriptors": fds})
        }),
        "stop_ms": f.stop_ms,
        "startup_ms": f.startup_ms,
    })
}
