//! Load on the real binary: 500 WebSocket clients at once, 10 of which never read a byte. Every
//! other client gets every event and a correct answer to its own request, and the server's peak
//! memory stays bounded (the slow clients' queues are bounded in bytes and events are shared).

mod support;

use std::collections::HashSet;
use std::io::BufReader;
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use support::peers::ChildGuard;
use support::Client;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 500;
const SILENT: usize = 10;
const ADDS: usize = 100;
/// The bound asserted on the server's peak resident memory (a debug build; see the printed
/// figure). What it allows: per connection the frame being written (each connection frames its
/// own copy for its socket; events themselves are shared), about 0.5 MiB, times 500, plus the
/// engine. A silent client whose queue copied every event would add the whole event stream per
/// client and break it.
const PEAK_RSS_BOUND_KIB: u64 = 384 * 1024;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_ten_of_them_silent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The default outbound queue (8 MiB a client, bounded): the silent clients' queues hold
    // the same shared event bytes, so their bound costs memory once, not ten times. (The
    // resync of a client that overflows its queue is tests/slow_client.rs's.)
    let mut child = ChildGuard::spawn(
        support::serve_command(&data, &dir.path().join("downloads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "magnetar serve",
    );
    let pid = child.0.id();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (line, _stdout) = support::read_line_within(stdout);
    let url = support::url_in_ready_line(&line);
    let idle_rss = peak_rss_kib(pid);

    let mut silent = Vec::new();
    for _ in 0..SILENT {
        silent.push(Client::connect(&url).await);
    }
    let ids: Vec<String> = (0..ADDS)
        .map(|i| format!("{:040x}", 0x10ad_0000 + i))
        .collect();
    let mut readers = Vec::new();
    for n in 0..CLIENTS - SILENT {
        let mut client = Client::connect(&url).await;
        let expected: HashSet<String> = ids.iter().cloned().collect();
        readers.push(tokio::spawn(async move {
            let mut seen = HashSet::new();
            while seen != expected {
                let next = tokio::time::timeout(Duration::from_secs(60), client.socket.next())
                    .await
                    .unwrap_or_else(|_| panic!("client {n} saw {} of {ADDS} adds", seen.len()))
                    .expect("open")
                    .expect("no error");
                let Message::Text(text) = next else { continue };
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["name"] == "task.created" {
                    seen.insert(event["data"]["id"].as_str().unwrap().to_owned());
                }
                assert_ne!(event["name"], "session.resync", "client {n} was too slow?");
            }
            // And its own request is answered correctly after all that.
            let list = client.ok("task.list", Value::Null).await;
            assert_eq!(list.as_array().unwrap().len(), ADDS, "client {n}");
        }));
    }
    let mut driver = Client::connect(&url).await;
    for id in &ids {
        // A long name makes the events heavier, to fill the silent clients' queues faster.
        let magnet = format!("magnet:?xt=urn:btih:{id}&dn={}", "n".repeat(2000));
        driver
            .ok("task.add", json!({"type": "magnet", "uri": magnet}))
            .await;
    }
    for reader in readers {
        reader.await.expect("a reader failed");
    }
    // The silent clients were never able to slow anyone; the driver is still served too.
    assert_eq!(
        driver.ok("session.info", Value::Null).await["tasks"],
        ADDS as u64
    );
    let peak = peak_rss_kib(pid);
    eprintln!(
        "{CLIENTS} clients ({SILENT} silent), {ADDS} adds: server RSS idle {} MiB, peak {} MiB \
         (bound {} MiB)",
        idle_rss / 1024,
        peak / 1024,
        PEAK_RSS_BOUND_KIB / 1024
    );
    assert!(peak > 0, "cannot read the server's memory");
    assert!(
        peak < PEAK_RSS_BOUND_KIB,
        "peak RSS {peak} KiB is over the bound"
    );
    drop(silent);
}
