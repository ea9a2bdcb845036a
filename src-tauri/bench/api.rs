//! API: a fresh Magnetar, N tasks added paused over its WebSocket API from generated torrents
//! (whose only tracker is a dead local port, so that once resumed they stay stalled), then
//! latency, throughput, fan-out, idle cost (paused, then stalled) and start-up time.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::procs::{self, WorkDir};
use crate::report::{self, percentile, Report, Table};
use crate::rivals;
use crate::ws::{Server, Ws};
use crate::Scale;

pub async fn run(work: &WorkDir, scale: Scale, report: &mut Report) -> anyhow::Result<()> {
    let root = work.fresh("api");
    let server = Server::start(&root)?;
    let mut ws = Ws::connect(&server.url).await?;
    let mut rows: Vec<(String, String, Value, Option<RivalCell>)> = Vec::new();
    let mut figures = serde_json::Map::new();
    let mut record = |name: &str, text: String, value: Value, rival: Option<RivalCell>| {
        eprintln!("{name}: {text}");
        rows.push((name.to_owned(), text, value.clone(), rival));
        figures.insert(name.to_owned(), value);
    };
    let dead_tracker = format!("http://127.0.0.1:{}/announce", procs::free_port());

    // Adds: N requests pipelined on one connection, then every answer.
    let torrents: Vec<String> = (0..scale.tasks)
        .map(|i| torrent(i, &dead_tracker))
        .collect();
    let started = Instant::now();
    for uri in &torrents {
        ws.send(
            "task.add",
            json!({"type": "torrent", "uri": uri, "paused": true}),
        )
        .await?;
    }
    let mut answered = 0;
    while answered < scale.tasks {
        let message = ws.next().await?;
        if message.get("id").is_some() {
            anyhow::ensure!(message["error"] == 0, "task.add: {}", message["message"]);
            answered += 1;
        }
    }
    let answered_in = started.elapsed();
    let adds_per_second = scale.tasks as f64 / answered_in.as_secs_f64();
    record(
        "task.add per second",
        format!("{adds_per_second:.0}"),
        json!(adds_per_second),
        Some(|f, m| {
            let vs = versus(m.as_f64(), f.adds_per_second, Better::Higher);
            format!("{:.0} ({vs})", f.adds_per_second)
        }),
    );
    // Then the work left once every add was answered (for Magnetar, librqbit creating each
    // task's files and rewriting its session file); the list is timed on a quiet server.
    let busy = procs::settle(server.pid(), Duration::from_secs(120)).await;
    let until_quiet = scale.tasks as f64 / (answered_in + busy).as_secs_f64();
    record(
        "task.add per second, until the daemon is quiet again",
        format!(
            "{until_quiet:.0} (busy {:.2} s after the last answer)",
            busy.as_secs_f64()
        ),
        json!(until_quiet),
        Some(|f, m| {
            let vs = versus(m.as_f64(), f.adds_until_quiet, Better::Higher);
            format!("{:.0} ({vs})", f.adds_until_quiet)
        }),
    );

    // task.list latency over one connection.
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let list = ws.call("task.list", Value::Null).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            list.as_array().map(Vec::len) == Some(scale.tasks),
            "task.list is short"
        );
    }
    let (p50, p99) = (percentile(&latencies, 50.0), percentile(&latencies, 99.0));
    record(
        "task.list p50 / p99 (client round trip, parsed)",
        format!("{p50:.2} / {p99:.2} ms"),
        json!({"p50_ms": p50, "p99_ms": p99}),
        Some(|f, m| {
            let vs = versus(m["p99_ms"].as_f64(), f.list_p99_ms, Better::Lower);
            format!(
                "{:.2} / {:.2} ms ({vs} at p99)",
                f.list_p50_ms, f.list_p99_ms
            )
        }),
    );

    // The server's share of a task.list: the time until its whole answer has arrived (the
    // client only looks for the answer's id, it parses nothing), and the server's CPU per call.
    let mut arrivals = Vec::new();
    let cpu_before = procs::cpu_seconds(server.pid());
    for _ in 0..200 {
        let started = Instant::now();
        let id = ws.send("task.list", Value::Null).await?;
        let prefix = format!("{{\"id\":{id},");
        while !ws.next_text().await?.starts_with(&prefix) {}
        arrivals.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu_per_call = (procs::cpu_seconds(server.pid()) - cpu_before) / 200.0 * 1000.0;
    let (p50, p99) = (percentile(&arrivals, 50.0), percentile(&arrivals, 99.0));
    record(
        "task.list p50 / p99 until the answer has arrived (unparsed)",
        format!("{p50:.2} / {p99:.2} ms"),
        json!({"p50_ms": p50, "p99_ms": p99}),
        None,
    );
    record(
        "task.list server CPU per call",
        format!("{cpu_per_call:.2} ms"),
        json!(cpu_per_call),
        None,
    );

    // Requests per second, 1 and 50 connections, for 3 s each.
    for connections in [1usize, 50] {
        let rate = list_rate(&server.url, connections, Duration::from_secs(3)).await?;
        let rival: RivalCell = if connections == 1 {
            |f, m| rate_cell(f.list_rate[0], m)
        } else {
            |f, m| rate_cell(f.list_rate[1], m)
        };
        record(
            &format!("task.list per second, {connections} connection(s)"),
            format!("{rate:.0}"),
            json!(rate),
            Some(rival),
        );
    }

    // Fan-out: task.add to task.created at the last of C clients.
    let fanout = fan_out(&server.url, &mut ws, scale, &dead_tracker).await?;
    let (p50, p99) = (percentile(&fanout, 50.0), percentile(&fanout, 99.0));
    record(
        &format!(
            "task.created at the last of {} clients, p50 / p99",
            scale.clients
        ),
        format!("{p50:.1} / {p99:.1} ms"),
        json!({"p50_ms": p50, "p99_ms": p99}),
        Some(|f, m| match f.fan_out_ms {
            Some((p50, p99)) => {
                let vs = versus(m["p99_ms"].as_f64(), p99, Better::Lower);
                format!("{p50:.1} / {p99:.1} ms ({vs} at p99)")
            }
            None => "none: clients poll".into(),
        }),
    );
    let total = scale.tasks + scale.fanout_adds;

    // Idle: paused (as added), then stalled (all resumed: live, no peer); no client connected.
    drop(ws);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let paused_cpu = idle_cpu(server.pid(), scale.idle_seconds).await;
    record(
        &format!("idle CPU, {total} paused tasks"),
        format!("{paused_cpu:.2} %"),
        json!(paused_cpu),
        Some(|f, _| format!("{:.2} %", f.idle_cpu)),
    );
    let (rss, _) = procs::memory(server.pid());
    let anonymous = procs::anonymous_memory(server.pid());
    record(
        &format!("idle RSS, {total} paused tasks (of which heap and stacks)"),
        format!("{} ({})", report::mib(rss), report::mib(anonymous)),
        json!({"rss": rss, "anonymous": anonymous}),
        Some(|f, m| {
            let vs = versus(m["rss"].as_f64(), f.idle_rss as f64, Better::Lower);
            format!("{} ({vs})", report::mib(f.idle_rss))
        }),
    );
    let mut ws = Ws::connect(&server.url).await?;
    let list = ws.call("task.list", Value::Null).await?;
    for task in list.as_array().into_iter().flatten() {
        ws.send("task.resume", json!({"task_id": task["id"]}))
            .await?;
    }
    let _ = ws.call("session.info", Value::Null).await?;
    drop(ws);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stalled_cpu = idle_cpu(server.pid(), scale.idle_seconds).await;
    record(
        &format!("idle CPU, {total} stalled tasks"),
        format!("{stalled_cpu:.2} %"),
        json!(stalled_cpu),
        None,
    );

    // The push's cost to one client while some tasks really download.
    let active = scale.active_tasks;
    let pushed = crate::updates::measure(work, &server.url, active, scale.idle_seconds / 2).await?;
    record(
        &format!("task.updated received per client, {active} of {total} tasks downloading"),
        format!(
            "{:.0} B/s ({:.1} frames/s, {:.1} tasks a frame)",
            pushed.bytes_per_second, pushed.frames_per_second, pushed.tasks_per_frame
        ),
        json!({
            "bytes_per_second": pushed.bytes_per_second,
            "frames_per_second": pushed.frames_per_second,
            "tasks_per_frame": pushed.tasks_per_frame,
        }),
        Some(|f, _| match f.fan_out_ms {
            Some(_) => "not measured".into(),
            None => "none: clients poll".into(),
        }),
    );

    // Start-up with every task restored: to a ready WebSocket that lists them all.
    server.stop()?;
    let started = Instant::now();
    let server = Server::start(&root)?;
    let mut ws = Ws::connect(&server.url).await?;
    let list = ws.call("task.list", Value::Null).await?;
    let startup = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        list.as_array().map(Vec::len) == Some(total),
        "tasks lost on restart"
    );
    record(
        &format!("start-up to a listing of {total} restored tasks"),
        format!("{startup:.0} ms"),
        json!(startup),
        Some(|f, m| {
            let vs = versus(m.as_f64(), f.startup_ms, Better::Lower);
            format!("{:.0} ms ({vs})", f.startup_ms)
        }),
    );
    drop(ws);
    server.stop()?;

    // The same load on the daemons a user would drive instead, one after another.
    let torrents: Vec<Vec<u8>> = (0..scale.tasks)
        .map(|i| torrent_bytes(i, &dead_tracker))
        .collect();
    let mut header = vec!["measure".to_owned(), "Magnetar".to_owned()];
    let mut columns = Vec::new();
    for kind in rivals::Kind::ALL {
        header.push(kind.name().to_owned());
        let root = work.fresh(&format!("api-{}", kind.name()));
        eprintln!("{}: the same load", kind.name());
        let measured = rivals::measure(kind, &root, scale, &torrents, false)
            .await
            .unwrap_or_else(|e| {
                eprintln!("{}: {e:#}", kind.name());
                None
            });
        if let Some(f) = &measured {
            figures.insert(kind.name().to_owned(), rival_json(f));
        }
        columns.push(measured);
    }
    let rows = rows
        .into_iter()
        .map(|(name, text, value, cell)| {
            let mut row = vec![name, text];
            for measured in &columns {
                row.push(match (measured, cell) {
                    (None, _) => "not installed or failed (see stderr)".into(),
                    (Some(_), None) => "-".into(),
                    (Some(f), Some(cell)) => cell(f, &value),
                });
            }
            row
        })
        .collect();

    report.tables.push(Table {
        title: format!("API: {} tasks, {} clients", scale.tasks, scale.clients),
        header,
        rows,
        notes: vec![
            "release builds, loopback, every figure from this run; tasks added paused from the \
             same generated torrents (their only tracker a dead local port)"
                .into(),
            "Magnetar pipelines its adds on one WebSocket; the others get 16 HTTP/1.1 requests \
             in flight (no pipelining)"
                .into(),
            "only aria2 pushes: its onDownloadStart is timed (for adds that start; it says \
             nothing for a paused add); Transmission and qBittorrent clients poll"
                .into(),
            "stalled tasks: Magnetar's are live with no peer; the others were not measured \
             stalled (their queues keep at most a few torrents active)"
                .into(),
        ],
        json: Value::Object(figures),
    });
    Ok(())
}

/// How a rival's figure shows in a row, given Magnetar's figure in that row.
type RivalCell = fn(&rivals::Figures, &Value) -> String;

#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// "Magnetar 4.2x ahead" / "Magnetar 1.3x behind" / "same".
fn versus(magnetar: Option<f64>, other: f64, better: Better) -> String {
    let Some(magnetar) = magnetar.filter(|m| *m > 0.0 && other > 0.0) else {
        return "-".into();
    };
    let ahead = match better {
        Better::Higher => magnetar / other,
        Better::Lower => other / magnetar,
    };
    if (ahead - 1.0).abs() < 0.005 {
        "same".into()
    } else if ahead > 1.0 {
        format!("Magnetar {ahead:.2}x ahead")
    } else {
        format!("Magnetar {:.2}x behind", 1.0 / ahead)
    }
}

fn rate_cell(rate: f64, magnetar: &Value) -> String {
    let vs = versus(magnetar.as_f64(), rate, Better::Higher);
    format!("{rate:.0} ({vs})")
}

fn rival_json(f: &rivals::Figures) -> Value {
    json!({
        "task.add per second": f.adds_per_second,
        "task.add per second, until quiet": f.adds_until_quiet,
        "list p50 / p99 ms": [f.list_p50_ms, f.list_p99_ms],
        "list per second, 1 / 50 connections": f.list_rate,
        "push to the last client p50 / p99 ms": f.fan_out_ms.map(|(a, b)| [a, b]),
        "idle CPU, paused": f.idle_cpu,
        "idle RSS": f.idle_rss,
        "start-up ms": f.startup_ms,
    })
}

/// A small valid torrent (one 16 KiB file, one piece) whose data no one has; base64.
fn torrent(i: usize, announce: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(torrent_bytes(i, announce))
}

/// The bytes of torrent number `i`: one 16 KiB file, one piece, whose data no one has.
pub fn torrent_bytes(i: usize, announce: &str) -> Vec<u8> {
    let name = format!("bench-{i:06}.bin");
    let mut pieces = [0u8; 20];
    pieces[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let mut info = Vec::new();
    info.extend_from_slice(b"d6:lengthi16384e4:name");
    info.extend_from_slice(format!("{}:{name}", name.len()).as_bytes());
    info.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
    info.extend_from_slice(&pieces);
    info.push(b'e');
    let mut bytes = format!("d8:announce{}:{announce}4:info", announce.len()).into_bytes();
    bytes.extend_from_slice(&info);
    bytes.push(b'e');
    bytes
}

async fn list_rate(url: &str, connections: usize, length: Duration) -> anyhow::Result<f64> {
    let deadline = Instant::now() + length;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let mut ws = Ws::connect(url).await?;
        workers.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                ws.call("task.list", Value::Null).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await??;
    }
    Ok(total as f64 / length.as_secs_f64())
}

async fn fan_out(
    url: &str,
    control: &mut Ws,
    scale: Scale,
    announce: &str,
) -> anyhow::Result<Vec<f64>> {
    // Each client reports the moment each task.created reaches it.
    let (clients, mut rx) = crate::ws::listeners(url, scale.clients, "task.created", "id").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut samples = Vec::new();
    for i in 0..scale.fanout_adds {
        let uri = torrent(1_000_000 + i, announce);
        let id = info_hash(&uri)?;
        let sent = Instant::now();
        control
            .call(
                "task.add",
                json!({"type": "torrent", "uri": uri, "paused": true}),
            )
            .await?;
        let mut seen = 0;
        let mut last = sent;
        while seen < scale.clients {
            let (got, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("clients gone"))?;
            if got == id {
                seen += 1;
                last = last.max(at);
            }
        }
        samples.push((last - sent).as_secs_f64() * 1000.0);
    }
    for client in &clients {
        client.abort();
    }
    Ok(samples)
}

fn info_hash(uri: &str) -> anyhow::Result<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(uri)?;
    Ok(magnetar::engine::parse_torrent(bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .id)
}

/// CPU used by `pid` over `seconds`, in percent of one core.
async fn idle_cpu(pid: u32, seconds: u64) -> f64 {
    let before = procs::cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    (procs::cpu_seconds(pid) - before) / seconds as f64 * 100.0
}
