//! The benchmark command builds and works: a quick run (10 MiB payloads, 10 tasks, 20 clients,
//! one run) of `magnetar-bench all` against the real peers, its JSON checked for every table.
//! It asserts nothing about speed: timings belong to the benchmark, on quiet cores.

mod support;

use std::process::Command;

use serde_json::Value;

#[test]
fn a_quick_benchmark_run_produces_every_table() {
    for program in [
        "aria2c",
        "mktorrent",
        "opentracker",
        "/usr/bin/time",
        "ffmpeg",
    ] {
        support::peers::require(program);
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_magnetar-bench"))
        .args(["all", "--quick", "--json"])
        .arg(&json)
        .output()
        .expect("magnetar-bench runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "magnetar-bench failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tables: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let titles: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    // Two payloads × two seeders, the API table, then the stream table.
    assert_eq!(titles.len(), 6, "{titles:?}");
    assert!(titles.iter().filter(|t| t.starts_with("Download")).count() == 4);
    for table in tables.as_array().unwrap() {
        let figures = &table["figures"];
        if let Some(streams) = figures["streams"].as_array() {
            // ffprobe read the film's duration through the stream, and a frame was decoded
            // at 90 % (the bench checks both); each after its first byte.
            assert_eq!(streams[0]["leecher"], "Magnetar", "{figures}");
            for stream in streams {
                let at = |key: &str| stream[key].as_f64().unwrap();
                assert!(at("first_byte_seconds") > 0.0, "{stream}");
                assert!(
                    at("ffprobe_duration_seconds") >= at("first_byte_seconds"),
                    "{stream}"
                );
                assert!(
                    at("seek_frame_seconds") >= at("seek_first_byte_seconds"),
                    "{stream}"
                );
            }
        } else if let Some(leechers) = figures["leechers"].as_array() {
            let names: Vec<&str> = leechers
                .iter()
                .map(|l| l["leecher"].as_str().unwrap())
                .collect();
            assert!(
                names.contains(&"Magnetar") && names.contains(&"aria2c"),
                "{names:?}"
            );
            for leecher in leechers {
                assert!(
                    leecher["median_seconds"].as_f64().unwrap() > 0.0,
                    "{leecher}"
                );
            }
        } else {
            assert!(
                figures["task.add per second"].as_f64().unwrap() > 0.0,
                "{figures}"
            );
        }
    }
    assert!(text.contains("| Magnetar |"), "{text}");
}

/// `magnetar-bench scale --quick` (libraries of 10 and 40 tasks, Magnetar and, when installed,
/// transmission-daemon) produces its table, each figure from a real run.
#[test]
fn a_quick_scale_run_produces_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scale.json");
    let out = Command::new(env!("CARGO_BIN_EXE_magnetar-bench"))
        .args(["scale", "--quick", "--json"])
        .arg(&json)
        .output()
        .expect("magnetar-bench runs");
    assert!(
        out.status.success(),
        "magnetar-bench scale failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tables: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let sizes = tables[0]["figures"].as_array().unwrap();
    assert_eq!(sizes.len(), 2, "{tables}");
    for size in sizes {
        let n = size["tasks"].as_u64().unwrap();
        let ours = &size["Magnetar"];
        assert!(ours["adds_quiet_s"].as_f64() >= ours["adds_answered_s"].as_f64());
        assert!(ours["restored_ms"].as_f64() >= ours["listing_ms"].as_f64());
        // A live process holds descriptors (its listeners, at least): the count was read.
        let held = ours["paused"]["descriptors"].as_u64().unwrap();
        assert!(held > 0, "{n} tasks, {held} descriptors: {size}");
        // chromium showed the whole library (setup.sh installs it).
        let rendered = ours["ui_first_render_ms"].as_f64();
        assert!(rendered.is_some_and(|ms| ms > 0.0), "{n} tasks: {size}");
    }
}
