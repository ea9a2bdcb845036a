//! Stream: how soon a player gets going on a file that is not downloaded yet. A video made by
//! ffmpeg (raw frames in a QuickTime file with its `moov` index at the end, the hard case: a
//! player must read the end before it can play the start) is seeded by aria2c limited to
//! 4 MiB/s through a local opentracker. Each leecher starts fresh for each measure, runs
//! interleaved (Magnetar, rqbit; Magnetar, rqbit; ...), medians:
//!
//! - first byte at 0 %: the add answered → the first byte of `Range: bytes=0-`;
//! - ffprobe knows the duration: the add answered → `ffprobe` on the link has printed it;
//! - first byte at 90 %: the add answered → the first byte of `Range: bytes=<90 %>-`;
//! - a frame at 90 %: the add answered → `ffmpeg -ss <90 % of the duration>` decoded a frame.
//!
//! Magnetar streams through `/stream/{task}/{file}` (the link from `stream.url`); the rqbit CLI
//! through its own HTTP server (`rqbit server start`, `/torrents/{id}/stream/{file}`), both on
//! librqbit's streaming.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::download::{aria2_seeder, make_torrent, start_tracker};
use crate::procs::{self, free_port, Guard, WorkDir};
use crate::report::{self, median, Report, Table};
use crate::ws::{Server, Ws};
use crate::Scale;

/// The seeder's upload rate (aria2's `M` is MiB).
const SEED_RATE: &str = "4M";
const SEED_RATE_TEXT: &str = "4 MiB/s";
/// How long any one measure may take.
const PATIENCE: Duration = Duration::from_secs(300);
/// 640x360 frames, 4:2:2 (UYVY, which QuickTime holds raw), uncompressed.
const FRAME_BYTES: u64 = 640 * 360 * 2;
const FPS: u64 = 30;

/// The media and its torrent.
struct Media {
    torrent: PathBuf,
    info_hash: String,
    bytes: u64,
    seconds: f64,
}

/// The four figures of one leecher's runs, in seconds.
#[derive(Default)]
struct Samples {
    first_byte: Vec<f64>,
    probed: Vec<f64>,
    seek_byte: Vec<f64>,
    seek_frame: Vec<f64>,
}

pub async fn run(work: &WorkDir, scale: Scale, report: &mut Report) -> anyhow::Result<()> {
    let aria2 = procs::find("aria2c", &[]).context("aria2c is missing (apt install aria2)")?;
    for tool in ["ffmpeg", "ffprobe", "mktorrent", "opentracker"] {
        procs::find(tool, &[]).with_context(|| format!("{tool} is missing (scripts/setup.sh)"))?;
    }
    let rqbit = procs::rqbit(scale.install);
    if rqbit.is_none() {
        eprintln!("the rqbit CLI is not installed: skipping it in the stream table");
    }
    let tracker_port = free_port();
    let media = make_media(work, scale.stream_mib, tracker_port)?;
    let _tracker = start_tracker(work, tracker_port, &[&media.info_hash])?;
    let _seeder = seed(work, &aria2, &media)?;

    let mut leechers: Vec<(&str, Samples)> = vec![("Magnetar", Samples::default())];
    if rqbit.is_some() {
        leechers.push(("rqbit CLI", Samples::default()));
    }
    for _ in 0..scale.runs {
        for (leecher, samples) in leechers.iter_mut() {
            for seek in [false, true] {
                let (first, tool) = match *leecher {
                    "Magnetar" => measure_magnetar(work, &media, seek).await?,
                    _ => measure_rqbit(work, rqbit.as_deref().unwrap(), &media, seek).await?,
                };
                eprintln!(
                    "stream, {leecher}, {}: first byte {first:.2} s, {} {tool:.2} s",
                    if seek { "seek to 90 %" } else { "start" },
                    if seek { "a frame" } else { "ffprobe" },
                );
                if seek {
                    samples.seek_byte.push(first);
                    samples.seek_frame.push(tool);
                } else {
                    samples.first_byte.push(first);
                    samples.probed.push(tool);
                }
            }
        }
    }
    report.tables.push(table(&media, &leechers, scale.runs));
    Ok(())
}

/// Raw 640x360 frames of ffmpeg's test pattern in a QuickTime file (`moov` at the end), about
/// `mib` MiB, and its torrent (256 KiB pieces).
fn make_media(work: &WorkDir, mib: u64, tracker_port: u16) -> anyhow::Result<Media> {
    let dir = work.fresh("stream-seed");
    let frames = (mib * 1024 * 1024 / FRAME_BYTES).max(FPS);
    let seconds = frames as f64 / FPS as f64;
    let path = dir.join("film.mov");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate={FPS}"))
        .args(["-frames:v", &frames.to_string()])
        .args(["-c:v", "rawvideo", "-pix_fmt", "uyvy422", "-f", "mov"])
        .arg(&path)
        .status()?;
    anyhow::ensure!(status.success(), "ffmpeg could not make the media");
    let announce = format!("http://127.0.0.1:{tracker_port}/announce");
    let (torrent, info_hash) = make_torrent(work, "stream.torrent", &announce, &path)?;
    Ok(Media {
        torrent,
        info_hash,
        bytes: std::fs::metadata(&path)?.len(),
        seconds,
    })
}

fn seed(work: &WorkDir, aria2: &Path, media: &Media) -> anyhow::Result<Guard> {
    let limit = format!("--max-upload-limit={SEED_RATE}");
    aria2_seeder(aria2, &work.0.join("stream-seed"), &media.torrent, &[limit])
}

/// A fresh Magnetar: adds the torrent, gets its link, then measures.
async fn measure_magnetar(work: &WorkDir, media: &Media, seek: bool) -> anyhow::Result<(f64, f64)> {
    let root = work.fresh("stream-magnetar");
    let server = Server::start(&root)?;
    let mut ws = Ws::connect(&server.url).await?;
    use base64::Engine as _;
    let uri = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&media.torrent)?);
    let started = Instant::now();
    ws.call("task.add", json!({"type": "torrent", "uri": uri}))
        .await?;
    let link = ws
        .call(
            "stream.url",
            json!({"task_id": media.info_hash, "file_index": 0}),
        )
        .await?;
    let url = link["url"]
        .as_str()
        .context("stream.url gave no url")?
        .to_owned();
    let figures = measure(&url, media, seek, started).await;
    drop(ws);
    server.stop()?;
    figures
}

/// A fresh `rqbit server`: adds the torrent over its HTTP API, then measures.
async fn measure_rqbit(
    work: &WorkDir,
    rqbit: &Path,
    media: &Media,
    seek: bool,
) -> anyhow::Result<(f64, f64)> {
    let dir = work.fresh("stream-rqbit");
    let api_port = free_port();
    let _server = Guard(
        Command::new(rqbit)
            .args([
                "--disable-dht",
                "--disable-dht-persistence",
                "--disable-upnp-port-forward",
                "--disable-lsd",
            ])
            .args(["--listen-port", &free_port().to_string()])
            .arg("--http-api-listen-addr")
            .arg(format!("127.0.0.1:{api_port}"))
            .args(["server", "start", "--disable-persistence"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    procs::wait_for_port(api_port)?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let added: serde_json::Value = http
        .post(format!(
            "http://127.0.0.1:{api_port}/torrents?overwrite=true"
        ))
        .body(std::fs::read(&media.torrent)?)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = added["id"].as_u64().context("rqbit's add gave no id")?;
    let url = format!("http://127.0.0.1:{api_port}/torrents/{id}/stream/0");
    measure(&url, media, seek, started).await
}

/// (first byte, then ffprobe's duration or a frame at 90 %), in seconds since `started`.
async fn measure(
    url: &str,
    media: &Media,
    seek: bool,
    started: Instant,
) -> anyhow::Result<(f64, f64)> {
    let offset = if seek { media.bytes * 9 / 10 } else { 0 };
    let first = tokio::time::timeout(PATIENCE, first_byte(url, offset))
        .await
        .context("no first byte in time")??;
    let first = first.duration_since(started).as_secs_f64();
    let mut command = if seek {
        let mut c = tokio::process::Command::new("ffmpeg");
        c.args(["-v", "error", "-ss", &format!("{:.2}", media.seconds * 0.9)])
            .args(["-i", url, "-frames:v", "1", "-f", "null", "-"]);
        c
    } else {
        let mut c = tokio::process::Command::new("ffprobe");
        c.args(["-v", "error", "-show_entries", "format=duration"])
            .args(["-of", "default=nw=1:nk=1", url]);
        c
    };
    let output = tokio::time::timeout(PATIENCE, command.kill_on_drop(true).output())
        .await
        .context("ffmpeg/ffprobe took too long")??;
    let done = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "{} failed on {url}: {}",
        if seek { "ffmpeg" } else { "ffprobe" },
        String::from_utf8_lossy(&output.stderr)
    );
    if !seek {
        let duration: f64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
        anyhow::ensure!(
            (duration - media.seconds).abs() < 0.5,
            "ffprobe read {duration} s for a {} s film",
            media.seconds
        );
    }
    Ok((first, done))
}

/// When the first byte of `Range: bytes=offset-` arrived (the answer's head may come before
/// any data).
async fn first_byte(url: &str, offset: u64) -> anyhow::Result<Instant> {
    let mut response = reqwest::Client::new()
        .get(url)
        .header("Range", format!("bytes={offset}-"))
        .send()
        .await?
        .error_for_status()?;
    while let Some(chunk) = response.chunk().await? {
        if !chunk.is_empty() {
            return Ok(Instant::now());
        }
    }
    anyhow::bail!("{url} ended before its first byte")
}

fn table(media: &Media, leechers: &[(&str, Samples)], runs: usize) -> Table {
    let magnetar = &leechers[0].1;
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for (leecher, s) in leechers {
        let m = [
            median(&s.first_byte),
            median(&s.probed),
            median(&s.seek_byte),
            median(&s.seek_frame),
        ];
        let mut row = vec![leecher.to_string()];
        row.extend(m.iter().map(|v| format!("{v:.2} s")));
        if *leecher != "Magnetar" {
            row.push(report::versus(median(&magnetar.seek_frame), m[3]));
        } else {
            row.push("-".into());
        }
        rows.push(row);
        figures.push(json!({
            "leecher": leecher,
            "first_byte_seconds": m[0],
            "ffprobe_duration_seconds": m[1],
            "seek_first_byte_seconds": m[2],
            "seek_frame_seconds": m[3],
        }));
    }
    Table {
        title: format!(
            "Stream: a {} film ({:.1} s of raw 640x360 frames, moov at the end) from aria2c at {SEED_RATE_TEXT}",
            report::mib(media.bytes),
            media.seconds
        ),
        header: [
            "Leecher",
            "first byte at 0 %",
            "ffprobe knows the duration",
            "first byte at 90 %",
            "a frame at 90 % (ffmpeg -ss)",
            "vs Magnetar (frame at 90 %)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        notes: vec![
            format!(
                "Medians of {runs} run(s); each figure is measured from the add being answered, \
                 each case on a fresh leecher with nothing downloaded."
            ),
            "Magnetar streams through /stream (the link from stream.url); the rqbit CLI through \
             `rqbit server`'s /torrents/{id}/stream/{file}: both on librqbit's streaming."
                .into(),
        ],
        json: json!({ "streams": figures, "bytes": media.bytes, "seconds": media.seconds }),
    }
}
