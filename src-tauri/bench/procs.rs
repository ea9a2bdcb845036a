//! Processes of a run: the work folder, the programs (found, or why not), a process's CPU time
//! and memory from /proc, and children that die with the bench.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The run's temporary folder, removed at the end.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn new() -> anyhow::Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!("magnetar-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(WorkDir(dir))
    }

    /// A fresh sub-folder.
    pub fn fresh(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the work folder is writable");
        dir
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped.
pub struct Guard(pub Child);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `magnetar` binary every run of this process uses, chosen once by [`choose_magnetar`].
static MAGNETAR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Chooses the `magnetar` binary to measure. A full run measures the headless server build
/// (`--no-default-features`), the one a server runs: the desktop build maps GTK and WebKit even
/// for `serve`, about 45 MiB of shared-library pages that are no part of the engine and that
/// `transmission-daemon` or `qbittorrent-nox` do not carry either. It is built once into
/// `target/headless` when missing. A quick run (the test suite) uses the binary next to this one.
/// `MAGNETAR_BENCH_BINARY` overrides both.
pub fn choose_magnetar(quick: bool) -> anyhow::Result<&'static Path> {
    let chosen = match std::env::var_os("MAGNETAR_BENCH_BINARY") {
        Some(path) => PathBuf::from(path),
        None if quick => std::env::current_exe()?.with_file_name("magnetar"),
        None => headless_server()?,
    };
    anyhow::ensure!(
        chosen.is_file(),
        "{} is missing: build it (cargo build --release --bins)",
        chosen.display()
    );
    eprintln!("measuring {}", chosen.display());
    Ok(MAGNETAR.get_or_init(|| chosen))
}

/// The `magnetar` binary chosen by [`choose_magnetar`].
pub fn magnetar_binary() -> anyhow::Result<PathBuf> {
    MAGNETAR
        .get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no magnetar binary chosen"))
}

/// `target/headless/release/magnetar`, built (incrementally) from this checkout.
fn headless_server() -> anyhow::Result<PathBuf> {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("headless"))
        .ok_or_else(|| anyhow::anyhow!("cannot tell where the target folder is"))?;
    eprintln!("building the headless server into {}", target.display());
    let built = Command::new("cargo")
        .args(["build", "--release", "--locked", "--no-default-features"])
        .args(["--bin", "magnetar", "--target-dir"])
        .arg(&target)
        .current_dir(checkout)
        .status()?;
    anyhow::ensure!(built.success(), "cannot build the headless server");
    Ok(target.join("release").join("magnetar"))
}

/// A program on PATH (or at a known cache path), or None.
pub fn find(program: &str, also: &[PathBuf]) -> Option<PathBuf> {
    also.iter().find(|p| p.is_file()).cloned().or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
    })
}

/// Where `cargo install rqbit --locked` puts the rqbit CLI for the bench.
pub fn rqbit_cache() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/magnetar-bench/rqbit")
}

/// The rqbit CLI: found, or installed into the cache (minutes, once).
pub fn rqbit(install: bool) -> Option<PathBuf> {
    let cached = rqbit_cache().join("bin/rqbit");
    if let Some(found) = find("rqbit", std::slice::from_ref(&cached)) {
        return Some(found);
    }
    if !install {
        return None;
    }
    eprintln!(
        "installing the rqbit CLI into {} (once)…",
        rqbit_cache().display()
    );
    let status = Command::new("cargo")
        .args(["install", "rqbit", "--locked", "--root"])
        .arg(rqbit_cache())
        .status()
        .ok()?;
    (status.success() && cached.is_file()).then_some(cached)
}

/// User + system CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat: 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// Waits until `pid` is quiet (under 2 % of a core over a quarter of a second), at most
/// `patience`; returns how long it kept working (to the start of the first quiet window).
/// What a daemon does after it has answered (files created, state saved) is its own work: a
/// figure measured meanwhile would charge it to the next measure.
pub async fn settle(pid: u32, patience: Duration) -> Duration {
    const WINDOW: Duration = Duration::from_millis(250);
    let started = Instant::now();
    let mut before = cpu_seconds(pid);
    while started.elapsed() < patience {
        let window = Instant::now();
        tokio::time::sleep(WINDOW).await;
        let now = cpu_seconds(pid);
        if (now - before) / window.elapsed().as_secs_f64() < 0.02 {
            return window - started;
        }
        before = now;
    }
    started.elapsed()
}

/// How long a server is left alone after half of its `tasks` tasks were resumed, before its
/// stalled idle cost is measured: long enough that every resumed task is live in the engine
/// (Magnetar gives librqbit the tasks one by one, and librqbit's adds grow with the tasks it
/// holds: 5,000 took about a minute here), and that the first retries of their dead tracker
/// (10 s, then doubling) are behind. Live tasks keep a floor of CPU that may never fall under
/// [`settle`]'s threshold, so it is a fixed time, the same for both clients (a quick run waits
/// 2 s instead of 30).
pub fn stalled_wait(tasks: usize, quick: bool) -> Duration {
    let base = Duration::from_secs(if quick { 2 } else { 30 });
    base + Duration::from_millis(10) * u32::try_from(tasks).unwrap_or(u32::MAX)
}

fn clock_ticks() -> f64 {
    // Linux's USER_HZ is 100 on every architecture Debian ships.
    100.0
}

/// How many file descriptors `pid` holds open now (0 if it is gone).
pub fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// A process's resident memory now and at its peak, in bytes.
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The part of a process's RSS that is its own memory (heap, stacks), not pages of its binary
/// and libraries.
pub fn anonymous_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// How a finished child went: wall time, CPU seconds, peak RSS (via GNU time's report).
pub struct Measured {
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss: u64,
}

/// Runs a command to completion under `/usr/bin/time`, within `patience`.
pub fn run_timed(command: Command, patience: Duration) -> anyhow::Result<Measured> {
    let report = std::env::temp_dir().join(format!("magnetar-bench-time-{}", std::process::id()));
    let program = command.get_program().to_owned();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%U %S %M", "-o"])
        .arg(&report)
        .arg(&program)
        .args(command.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = Instant::now();
    let mut child = Guard(timed.spawn().context("/usr/bin/time (apt install time)")?);
    loop {
        if let Some(status) = child.0.try_wait()? {
            anyhow::ensure!(status.success(), "{program:?} failed: {status}");
            break;
        }
        anyhow::ensure!(
            started.elapsed() < patience,
            "{program:?} took over {patience:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&report)?;
    let numbers: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    anyhow::ensure!(numbers.len() == 3, "unexpected time report {text:?}");
    Ok(Measured {
        seconds,
        cpu_seconds: numbers[0] + numbers[1],
        peak_rss: numbers[2] as u64 * 1024,
    })
}

/// Waits until a TCP port accepts connections.
pub fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// SHA-1 of every file under `root`, in path order (sha1sum, from coreutils).
pub fn sha1_tree(root: &Path) -> anyhow::Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | sort -z | xargs -0 sha1sum")
        .current_dir(root)
        .output()?;
    anyhow::ensure!(out.status.success(), "sha1sum failed");
    Ok(String::from_utf8(out.stdout)?)
}
