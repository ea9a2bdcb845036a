//! Download: one payload from one seeder to each leecher in turn, runs interleaved
//! (Magnetar, rqbit, aria2c, libtorrent; Magnetar, rqbit, …), medians, SHA-1 verified.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::procs::{self, free_port, Guard, Measured, WorkDir};
use crate::report::{self, Report, Table};
use crate::ws::{Server, Ws};
use crate::Scale;

const PATIENCE: Duration = Duration::from_secs(900);

/// A payload on disk and its torrent.
struct Payload {
    label: String,
    /// The seeded content's folder (the torrent's name inside it).
    dir: PathBuf,
    torrent: PathBuf,
    info_hash: String,
    bytes: u64,
    /// `sha1sum` lines of its files, paths stripped, sorted.
    sha1: Vec<String>,
}

pub async fn run(work: &WorkDir, scale: Scale, report: &mut Report) -> anyhow::Result<()> {
    let aria2 = procs::find("aria2c", &[]).context("aria2c is missing (apt install aria2)")?;
    procs::find("mktorrent", &[]).context("mktorrent is missing (apt install mktorrent)")?;
    procs::find("opentracker", &[]).context("opentracker is missing")?;
    // A quick run installs nothing (and does not spend minutes installing rqbit).
    let rqbit = procs::rqbit(scale.install);
    if rqbit.is_none() {
        eprintln!(
            "the rqbit CLI is not installed: `cargo install rqbit --locked --root {}`; skipping it",
            procs::rqbit_cache().display()
        );
    }

    let libtorrent = crate::libtorrent::available(scale.install);
    if !libtorrent {
        eprintln!(
            "python3-libtorrent is not installed (apt install python3-libtorrent); skipping it"
        );
    }

    let tracker_port = free_port();
    let announce = format!("http://127.0.0.1:{tracker_port}/announce");
    let size = scale.payload_mib * 1024 * 1024;
    let payloads = [
        make_payload(work, "one file", &announce, &[("payload.bin", size)], false)?,
        make_payload(
            work,
            &format!("{} files", scale.many_files),
            &announce,
            &many(scale, size),
            true,
        )?,
    ];
    let hashes: Vec<&str> = payloads.iter().map(|p| p.info_hash.as_str()).collect();
    let _tracker = start_tracker(work, tracker_port, &hashes)?;

    for payload in &payloads {
        let ceiling = sha1_ceiling(payload)?;
        for seeder in ["aria2c", "Magnetar"] {
            // Kept alive (and killed when dropped) for this seeder's runs.
            let _seeder: Box<dyn std::any::Any> = match seeder {
                "aria2c" => Box::new(seed_aria2(&aria2, payload)?),
                _ => Box::new(seed_magnetar(work, payload).await?),
            };
            let mut samples: Vec<(&str, Vec<Measured>)> = vec![("Magnetar", vec![])];
            if rqbit.is_some() {
                samples.push(("rqbit CLI", vec![]));
            }
            samples.push(("aria2c", vec![]));
            if libtorrent {
                samples.push(("libtorrent 2.0", vec![]));
            }
            // A warm-up run of Magnetar, not counted: page cache and tracker settle.
            leech_magnetar(work, payload).await?;
            for _ in 0..scale.runs {
                for (leecher, runs) in samples.iter_mut() {
                    let measured = match *leecher {
                        "Magnetar" => leech_magnetar(work, payload).await?,
                        "rqbit CLI" => leech_rqbit(work, rqbit.as_ref().unwrap(), payload)?,
                        "libtorrent 2.0" => leech_libtorrent(work, payload)?,
                        _ => leech_aria2(work, &aria2, payload)?,
                    };
                    eprintln!(
                        "{} from {seeder}: {leecher} {:.2} s",
                        payload.label, measured.seconds
                    );
                    runs.push(measured);
                }
            }
            report
                .tables
                .push(table(payload, seeder, &samples, ceiling, scale.runs));
        }
    }
    Ok(())
}

fn many(scale: Scale, total: u64) -> Vec<(&'static str, u64)> {
    // Names are made below; sizes differ a little so that files straddle pieces.
    let each = total / scale.many_files as u64;
    (0..scale.many_files).map(|_| ("", each)).collect()
}

/// Writes the payload (pseudo-random bytes) and makes its torrent with mktorrent.
fn make_payload(
    work: &WorkDir,
    label: &str,
    announce: &str,
    files: &[(&str, u64)],
    folder: bool,
) -> anyhow::Result<Payload> {
    let seed_dir = work.fresh(&format!("seed-{}", label.replace(' ', "-")));
    let content = if folder {
        let album = seed_dir.join("album");
        std::fs::create_dir_all(album.join("disc"))?;
        for (i, (_, size)) in files.iter().enumerate() {
            let sub = if i % 2 == 0 { "" } else { "disc/" };
            write_random(
                &album.join(format!("{sub}track-{i:03}.bin")),
                *size,
                i as u64 + 7,
            )?;
        }
        album
    } else {
        let path = seed_dir.join(files[0].0);
        write_random(&path, files[0].1, 1)?;
        path
    };
    let (torrent, info_hash) = make_torrent(
        work,
        &format!("{}.torrent", label.replace(' ', "-")),
        announce,
        &content,
    )?;
    let bytes = files.iter().map(|(_, s)| s).sum();
    Ok(Payload {
        label: label.to_owned(),
        sha1: hashes_of(&seed_dir)?,
        dir: seed_dir,
        torrent,
        info_hash,
        bytes,
    })
}

/// `work/NAME`, the torrent of `content` (a file or a folder) made by mktorrent with 256 KiB
/// pieces and `announce`, and its info hash.
pub(crate) fn make_torrent(
    work: &WorkDir,
    name: &str,
    announce: &str,
    content: &Path,
) -> anyhow::Result<(PathBuf, String)> {
    let torrent = work.0.join(name);
    let _ = std::fs::remove_file(&torrent);
    let status = Command::new("mktorrent")
        .args(["-l", "18", "-a", announce, "-o"])
        .arg(&torrent)
        .arg(content)
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "mktorrent failed");
    let info_hash = magnetar::engine::parse_torrent(std::fs::read(&torrent)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .id;
    Ok((torrent, info_hash))
}

pub(crate) fn write_random(path: &Path, size: u64, seed: u64) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

fn hashes_of(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut hashes: Vec<String> = procs::sha1_tree(dir)?
        .lines()
        .filter(|l| !l.contains(".torrent") && !l.contains(".aria2"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    hashes.sort();
    Ok(hashes)
}

pub(crate) fn start_tracker(work: &WorkDir, port: u16, hashes: &[&str]) -> anyhow::Result<Guard> {
    let dir = work.fresh("tracker");
    std::fs::write(dir.join("whitelist.txt"), hashes.join("\n") + "\n")?;
    let child = Command::new("opentracker")
        .current_dir(&dir)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-P",
            &port.to_string(),
        ])
        .arg("-d")
        .arg(&dir)
        .args(["-w", "whitelist.txt"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    procs::wait_for_port(port)?;
    Ok(Guard(child))
}

pub(crate) fn aria2_args(dir: &Path, port: u16) -> Vec<String> {
    [
        format!("--dir={}", dir.display()),
        "--enable-dht=false".into(),
        "--enable-dht6=false".into(),
        "--bt-enable-lpd=false".into(),
        "--enable-peer-exchange=false".into(),
        "--disable-ipv6=true".into(),
        "--bt-save-metadata=false".into(),
        "--console-log-level=warn".into(),
        "--summary-interval=0".into(),
        "--file-allocation=none".into(),
        "--bt-tracker-interval=2".into(),
        format!("--listen-port={port}"),
    ]
    .into()
}

fn seed_aria2(aria2: &Path, payload: &Payload) -> anyhow::Result<Guard> {
    aria2_seeder(aria2, &payload.dir, &payload.torrent, &[])
}

/// aria2c seeding `torrent` from `dir` (with `extra` options, such as an upload limit), once it
/// has had time to announce.
pub(crate) fn aria2_seeder(
    aria2: &Path,
    dir: &Path,
    torrent: &Path,
    extra: &[String],
) -> anyhow::Result<Guard> {
    let port = free_port();
    let child = Command::new(aria2)
        .args(aria2_args(dir, port))
        .args(["--seed-ratio=0.0", "--bt-seed-unverified=true"])
        .args(extra)
        .arg(torrent)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    procs::wait_for_port(port)?;
    // Let it announce before the first leecher asks the tracker.
    std::thread::sleep(Duration::from_secs(2));
    Ok(Guard(child))
}

async fn seed_magnetar(work: &WorkDir, payload: &Payload) -> anyhow::Result<Server> {
    let root = work.fresh("seeder-magnetar");
    // Its download folder holds the content already: it checks it and seeds.
    copy_tree(&payload.dir, &root.join("downloads"))?;
    let server = Server::start(&root)?;
    let mut ws = Ws::connect(&server.url).await?;
    add_torrent(&mut ws, &payload.torrent).await?;
    ws.wait_state(&payload.info_hash, 2).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(server)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()?;
    anyhow::ensure!(status.success(), "cp failed");
    Ok(())
}

async fn add_torrent(ws: &mut Ws, torrent: &Path) -> anyhow::Result<()> {
    use base64::Engine as _;
    let uri = base64::engine::general_purpose::STANDARD.encode(std::fs::read(torrent)?);
    ws.call("task.add", json!({"type": "torrent", "uri": uri}))
        .await?;
    Ok(())
}

async fn leech_magnetar(work: &WorkDir, payload: &Payload) -> anyhow::Result<Measured> {
    let root = work.fresh("leech-magnetar");
    let server = Server::start(&root)?;
    let mut ws = Ws::connect(&server.url).await?;
    let cpu_before = procs::cpu_seconds(server.pid());
    let started = Instant::now();
    add_torrent(&mut ws, &payload.torrent).await?;
    tokio::time::timeout(PATIENCE, ws.wait_state(&payload.info_hash, 2))
        .await
        .context("Magnetar's download took too long")??;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = procs::cpu_seconds(server.pid()) - cpu_before;
    let (_, peak_rss) = procs::memory(server.pid());
    drop(ws);
    server.stop()?;
    verify(payload, &root.join("downloads"), "Magnetar")?;
    Ok(Measured {
        seconds,
        cpu_seconds,
        peak_rss,
    })
}

fn leech_aria2(work: &WorkDir, aria2: &Path, payload: &Payload) -> anyhow::Result<Measured> {
    let dir = work.fresh("leech-aria2");
    let mut command = Command::new(aria2);
    command
        .args(aria2_args(&dir, free_port()))
        .arg("--seed-time=0")
        .arg(&payload.torrent);
    let measured = procs::run_timed(command, PATIENCE)?;
    verify(payload, &dir, "aria2c")?;
    Ok(measured)
}

fn leech_rqbit(work: &WorkDir, rqbit: &Path, payload: &Payload) -> anyhow::Result<Measured> {
    let dir = work.fresh("leech-rqbit");
    let mut command = Command::new(rqbit);
    command
        .args([
            "--disable-dht",
            "--disable-dht-persistence",
            "--disable-upnp-port-forward",
        ])
        .args(["--disable-lsd", "--listen-port", &free_port().to_string()])
        .args(["download", "--exit-on-finish", "--disable-http-api", "-o"])
        .arg(&dir)
        .arg(&payload.torrent);
    let measured = procs::run_timed(command, PATIENCE)?;
    verify(payload, &dir, "rqbit")?;
    Ok(measured)
}

fn leech_libtorrent(work: &WorkDir, payload: &Payload) -> anyhow::Result<Measured> {
    let dir = work.fresh("leech-libtorrent");
    let command = crate::libtorrent::command(&dir, &payload.torrent, free_port())?;
    let measured = procs::run_timed(command, PATIENCE)?;
    verify(payload, &dir, "libtorrent")?;
    Ok(measured)
}

fn verify(payload: &Payload, dir: &Path, who: &str) -> anyhow::Result<()> {
    let got = hashes_of(dir)?;
    anyhow::ensure!(
        got == payload.sha1,
        "{who}'s download of {} does not match the seeded content (SHA-1)",
        payload.label
    );
    Ok(())
}

/// SHA-1 over the payload from the page cache: the hashing ceiling on this machine.
fn sha1_ceiling(payload: &Payload) -> anyhow::Result<f64> {
    let _ = procs::sha1_tree(&payload.dir)?; // into the page cache
    let started = Instant::now();
    let _ = procs::sha1_tree(&payload.dir)?;
    Ok(payload.bytes as f64 / started.elapsed().as_secs_f64() / 1e6)
}

fn table(
    payload: &Payload,
    seeder: &str,
    samples: &[(&str, Vec<Measured>)],
    ceiling: f64,
    runs: usize,
) -> Table {
    let median_of = |runs: &[Measured], f: fn(&Measured) -> f64| {
        report::median(&runs.iter().map(f).collect::<Vec<_>>())
    };
    let magnetar = median_of(&samples[0].1, |m| m.seconds);
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for (leecher, runs) in samples {
        let seconds = median_of(runs, |m| m.seconds);
        let cpu = median_of(runs, |m| m.cpu_seconds);
        let rss = runs.iter().map(|m| m.peak_rss).max().unwrap_or(0);
        let rate = payload.bytes as f64 / seconds / 1e6;
        let ratio = if *leecher == "Magnetar" {
            "-".into()
        } else {
            report::versus(magnetar, seconds)
        };
        rows.push(vec![
            leecher.to_string(),
            format!("{seconds:.2}"),
            format!("{rate:.0}"),
            ratio,
            format!("{cpu:.1}"),
            report::mib(rss),
        ]);
        figures.push(json!({
            "leecher": leecher, "median_seconds": seconds, "mb_per_s": rate,
            "cpu_seconds": cpu, "peak_rss_bytes": rss,
            "runs": runs.iter().map(|m| m.seconds).collect::<Vec<_>>(),
        }));
    }
    Table {
        title: format!(
            "Download: {} MiB, {}, seeder {seeder}",
            payload.bytes >> 20,
            payload.label
        ),
        header: [
            "leecher",
            "median s",
            "MB/s",
            "vs Magnetar",
            "CPU s",
            "peak RSS",
        ]
        .map(String::from)
        .into(),
        rows,
        notes: vec![
            format!(
                "{runs} interleaved runs after a warm-up, medians, SHA-1 verified; SHA-1 ceiling \
                 of the payload from the page cache: {ceiling:.0} MB/s"
            ),
            "Magnetar is timed from its task.add to its completion (its server already runs); \
             the others from their process's start (libtorrent's includes Python's)"
                .into(),
        ],
        json: json!({"payload": payload.label, "seeder": seeder,
            "sha1_ceiling_mb_per_s": ceiling, "leechers": figures}),
    }
}
