//! Issue #22: random interleavings of commands against the real `magnetar serve`, and a client
//! that follows events converging on the truth.
//!
//! **Interleavings.** Each sequence is drawn from a seed (splitmix64, below): `task.add` (a
//! magnet with an `x.pe` peer, or a .torrent; sometimes paused; a .torrent often followed at
//! once by `task.setFiles`), `task.pause`, `task.resume`, `task.remove` (with or without
//! `delete_files`), `task.setFiles`, a wait for a download to complete, and a restart of the
//! binary (SIGTERM, or kill -9). Commands are fired without waiting for answers, pipelined on
//! two or three connections: every command on one torrent goes to the connection drawn for that
//! torrent, so their order is known (a connection answers one request at a time, in order),
//! while commands on different torrents, and the engine's own jobs (adds into librqbit, checks,
//! completion), run concurrently. A `Race` fires an add and, 0 to 15 ms later, a command on the
//! same torrent from another connection, so that the command lands before the task exists
//! (`-4`) or while it is being added. The torrents are small (a few 16 KiB pieces, some multi-file)
//! and seeded by real librqbit sessions on loopback that also announce to a local opentracker.
//!
//! The test's own model (not the engine's code) says what each answer must be and what must
//! hold once the sequence has settled (all answers in, then no task in state 0 or 1 and nothing
//! changing for half a second):
//! - each answer's code: `-5` for an add of a listed task, `-4` for a command on an absent one,
//!   `0` otherwise; `task.setFiles` right after a .torrent add is never refused; a magnet's may
//!   be `-2` (metadata not known yet), nothing else;
//! - each task's state is what its last command implies (paused: 4; added or resumed: 2, the
//!   download complete); no task is in 5 (the seeders are alive), none stuck in 0;
//! - a removed task is absent from `task.list` and `task.getStatus` gives `-4`;
//! - no file is in the download folder that no task owns, except what a remove without
//!   `delete_files` left (a later task that finds such a file empty or zero-filled in its
//!   way uses it and never deletes it, docs/API.md 9.7: so a path that was ever left over is
//!   allowed);
//! - across a clean restart, `task.list` keeps the same ids and states, and librqbit's session
//!   file lists exactly the tasks Magnetar lists (those whose metadata is known);
//! - after a kill -9 only answered commands count: a torrent whose commands were not all
//!   answered may be in the state of any prefix of them; an answered one must hold.
//!
//! A failure prints the seed and the sequence. `MAGNETAR_SEEDS=a,b,c` replays chosen seeds;
//! the `#[ignore]`d long run takes `MAGNETAR_SEQUENCES` (default 10,000) seeds from 1,000.
//!
//! **Convergence.** Client B builds its view from `task.list`, `task.getMetadata` and
//! `session.info`, then only from events, while client A adds, chooses files, pauses,
//! resumes, removes and sets limits; once quiet, B's view equals a fresh `task.list`,
//! `task.getMetadata` of each task and `session.info`, field by field. Excluded:
//! `session.info`'s `uptime_seconds` (it moves by itself) and its `dl_speed`/`ul_speed`
//! (sums of speeds sampled at the moment of the call; the per-task speeds, which events do
//! carry, are compared).

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::peers::{LibrqbitSeeder, Tracker};
use support::torrent::{TestTorrent, TorrentSpec};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

// ---------------------------------------------------------------------------------------------
// A tiny deterministic PRNG.

/// splitmix64: one u64 of state, good enough to draw test sequences, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

// ---------------------------------------------------------------------------------------------
// Torrents, seeders, the server.

/// The torrents every sequence draws from, their seeders and the tracker they announce to.
struct Pool {
    torrents: Vec<TestTorrent>,
    seeders: Vec<LibrqbitSeeder>,
    _tracker: Tracker,
}

fn specs(trackers: &[String]) -> Vec<TorrentSpec<'static>> {
    let base = |name, files: Vec<(&'static str, usize)>, single, seed| TorrentSpec {
        name,
        files,
        single,
        piece_length: 16 * 1024,
        trackers: trackers.to_vec(),
        seed,
        ..Default::default()
    };
    vec![
        base("il-alpha.bin", vec![("il-alpha.bin", 80 * 1024)], true, 221),
        base(
            "il-beta",
            vec![
                ("a.bin", 40 * 1024),
                ("sub/b.bin", 30 * 1000),
                ("c.txt", 9000),
            ],
            false,
            222,
        ),
        base("il-gamma", vec![("one.bin", 50 * 1024 + 17)], false, 223),
        base(
            "il-delta",
            vec![("big.bin", 100 * 1024), ("small.bin", 1000)],
            false,
            224,
        ),
    ]
}

impl Pool {
    async fn start() -> Pool {
        let probes: Vec<TestTorrent> = specs(&[]).into_iter().map(TestTorrent::build).collect();
        let hashes: Vec<&str> = probes.iter().map(|t| t.info_hash.as_str()).collect();
        let tracker = Tracker::start(&hashes);
        let torrents: Vec<TestTorrent> = specs(std::slice::from_ref(&tracker.announce))
            .into_iter()
            .map(TestTorrent::build)
            .collect();
        let mut seeders = Vec::new();
        for torrent in &torrents {
            seeders.push(LibrqbitSeeder::start(torrent).await);
        }
        Pool {
            torrents,
            seeders,
            _tracker: tracker,
        }
    }

    fn magnet(&self, t: usize) -> String {
        self.torrents[t].magnet(&[self.seeders[t].addr])
    }

    fn paths(&self, t: usize, download_dir: &Path) -> Vec<PathBuf> {
        self.torrents[t].file_paths(download_dir)
    }
}

/// The real binary, in `root/data` and `root/downloads`; its log in `root/serve-N.log`.
///
/// Its peer port is the same across restarts: the tracker keeps every address announced to it
/// (for half an hour), and after a hundred restarts on fresh ports the seeder's own address was
/// no longer among the 50 it returns, so that a .torrent task found no peer.
struct Server {
    child: Option<Child>,
    url: String,
    root: PathBuf,
    starts: usize,
    peer_port: u16,
}

impl Server {
    fn start(root: &Path) -> Server {
        let mut server = Server {
            child: None,
            url: String::new(),
            root: root.to_owned(),
            starts: 0,
            peer_port: support::peers::free_port(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.root.join(format!("serve-{}.log", self.starts)))
            .expect("log file");
        // `support::serve_command`, with this server's own peer port.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_magnetar"))
            .args(["serve", "--listen", "127.0.0.1:0", "--peer-port"])
            .arg(self.peer_port.to_string())
            .args(["--no-dht", "--no-upnp", "--no-lsd"])
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--download-dir")
            .arg(self.download_dir())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("magnetar starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        self.child = Some(child);
        let (line, _) = support::read_line_within(stdout);
        self.url = support::url_in_ready_line(&line);
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn download_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// kill -9: nothing of the shutdown path runs.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit (status 0) within 30 s.
    async fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("magnetar serve exited with {status} on SIGTERM"))
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("magnetar serve did not stop within 30 s of SIGTERM".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// A connection that survives its server's death.

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Conn {
    socket: Socket,
    next_id: u64,
    /// Events seen, kept only when `keep_events`.
    events: VecDeque<Value>,
    keep_events: bool,
}

impl Conn {
    async fn connect(url: &str) -> Conn {
        let (socket, _) = connect_async(url).await.expect("websocket connects");
        Conn {
            socket,
            next_id: 0,
            events: VecDeque::new(),
            keep_events: false,
        }
    }

    /// Sends a request without waiting; returns its id.
    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let request = json!({"id": self.next_id, "method": method, "params": params});
        let _ = self
            .socket
            .send(Message::Text(request.to_string().into()))
            .await;
        self.next_id
    }

    /// The next message (event or response), or None when the connection ends or nothing
    /// comes `within`.
    async fn next_message(&mut self, within: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(within, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return serde_json::from_str(&text).ok();
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// The next response; None if the connection ends or none comes `within`.
    async fn next_response(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.next_message(left).await?;
            if message.get("name").is_some() && message.get("data").is_some() {
                if self.keep_events {
                    self.events.push_back(message);
                }
                continue;
            }
            return Some(message);
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        let response = self
            .next_response(Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("no answer to {method}"));
        assert_eq!(response["id"], id, "{response}");
        response
    }

    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert_eq!(response["error"], 0, "{method}: {response}");
        response["result"].clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Sequences.

#[derive(Debug, Clone)]
enum Op {
    Add {
        t: usize,
        magnet: bool,
        paused: bool,
    },
    Pause {
        t: usize,
    },
    Resume {
        t: usize,
    },
    Remove {
        t: usize,
        delete: bool,
    },
    SetFiles {
        t: usize,
        files: Vec<u64>,
    },
    /// Wait (all answers in) until this torrent's download is complete, if it runs.
    WaitComplete {
        t: usize,
    },
    /// Restart the binary: SIGTERM once all answers are in, or kill -9 at once.
    Restart {
        kill: bool,
    },
    /// Once all answers are in: an add on the torrent's connection and, at the same moment,
    /// another command on the same torrent on another connection (pause, resume, setFiles or
    /// remove), which may come before the task exists (-4) or during its add.
    Race {
        add: Box<Op>,
        then: Box<Op>,
        delay_ms: u64,
    },
}

impl Op {
    fn torrent(&self) -> Option<usize> {
        match self {
            Op::Add { t, .. }
            | Op::Pause { t }
            | Op::Resume { t }
            | Op::Remove { t, .. }
            | Op::SetFiles { t, .. }
            | Op::WaitComplete { t } => Some(*t),
            Op::Restart { .. } => None,
            Op::Race { add, .. } => add.torrent(),
        }
    }
}

struct Sequence {
    seed: u64,
    /// The connection of each torrent's commands.
    conn_of: Vec<usize>,
    conns: usize,
    ops: Vec<Op>,
    /// Milliseconds between the last command and a kill -9 (one draw per sequence).
    kill_delay_ms: u64,
}

impl std::fmt::Display for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} ({} connections, torrent -> connection {:?}, kill delay {} ms):",
            self.seed, self.conns, self.conn_of, self.kill_delay_ms
        )?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  {i:2}: {op:?}")?;
        }
        Ok(())
    }
}

fn draw(seed: u64, pool: &Pool) -> Sequence {
    let mut rng = Rng(seed);
    let n = pool.torrents.len();
    let conns = 2 + rng.below(2) as usize;
    let conn_of = (0..n).map(|_| rng.below(conns as u64) as usize).collect();
    let len = 4 + rng.below(13) as usize;
    let mut ops = Vec::new();
    let mut restarts = 0;
    let files = |rng: &mut Rng, t: usize| -> Vec<u64> {
        (0..pool.torrents[t].files.len() as u64)
            .filter(|_| rng.below(3) != 0)
            .collect()
    };
    // Mostly commands that find their task (and adds that do not), with some -4 and -5: the
    // draw follows which tasks exist if every command succeeds.
    let mut present = vec![false; n];
    let pick = |rng: &mut Rng, present: &[bool], want: bool| -> usize {
        let fitting: Vec<usize> = (0..n).filter(|&t| present[t] == want).collect();
        if fitting.is_empty() || rng.below(8) == 0 {
            rng.below(n as u64) as usize
        } else {
            fitting[rng.below(fitting.len() as u64) as usize]
        }
    };
    while ops.len() < len {
        let kind = rng.below(104);
        let t = pick(&mut rng, &present, kind >= 30);
        match kind {
            0..=29 => {
                present[t] = true;
                let magnet = rng.below(5) < 2;
                let paused = rng.below(5) == 0;
                ops.push(Op::Add { t, magnet, paused });
                if !magnet && rng.coin() {
                    let files = files(&mut rng, t);
                    ops.push(Op::SetFiles { t, files });
                }
                // A command hard on the heels of the add, while librqbit adds it.
                match rng.below(6) {
                    0 => ops.push(Op::Pause { t }),
                    1 => ops.push(Op::Resume { t }),
                    2 => {
                        present[t] = false;
                        ops.push(Op::Remove {
                            t,
                            delete: rng.coin(),
                        });
                    }
                    _ => {}
                }
            }
            30..=44 => ops.push(Op::Pause { t }),
            45..=59 => ops.push(Op::Resume { t }),
            60..=72 => {
                present[t] = false;
                ops.push(Op::Remove {
                    t,
                    delete: rng.coin(),
                })
            }
            73..=85 => {
                let files = files(&mut rng, t);
                ops.push(Op::SetFiles { t, files });
            }
            86..=91 => ops.push(Op::WaitComplete { t }),
            92..=99 => {
                let t = pick(&mut rng, &present, false);
                let add = Op::Add {
                    t,
                    magnet: rng.below(5) < 2,
                    paused: rng.coin(),
                };
                present[t] = true;
                let then = match rng.below(4) {
                    0 => Op::Pause { t },
                    1 => Op::Resume { t },
                    2 => Op::SetFiles {
                        t,
                        files: files(&mut rng, t),
                    },
                    _ => {
                        present[t] = false;
                        Op::Remove {
                            t,
                            delete: rng.coin(),
                        }
                    }
                };
                ops.push(Op::Race {
                    add: Box::new(add),
                    then: Box::new(then),
                    delay_ms: rng.below(4) * 5,
                });
            }
            _ if restarts < 2 => {
                restarts += 1;
                ops.push(Op::Restart {
                    kill: rng.below(3) == 0,
                });
            }
            _ => {}
        }
    }
    Sequence {
        seed,
        conn_of,
        conns,
        ops,
        // Half the kills come at once, with commands in flight.
        kill_delay_ms: if rng.coin() { 0 } else { rng.below(150) },
    }
}

/// What the test expects of one torrent's task.
#[derive(Debug, Clone, Default, PartialEq)]
struct Expected {
    present: bool,
    paused: bool,
    magnet: bool,
    /// A magnet task that went through a restart: its `x.pe` peer is not kept once its
    /// metadata has arrived (docs/API.md 9.4), so unless its download was complete it finds no
    /// peer again and stays in state 1 (the magnets here have no tracker).
    sourceless: bool,
}

/// What the test expects of the server and the download folder.
#[derive(Clone, Default)]
struct Model {
    tasks: Vec<Expected>,
    /// Files a remove without `delete_files` left (or an unanswered command may have): owned
    /// by nobody, allowed.
    leftover: BTreeSet<PathBuf>,
    /// Every path that was ever such a leftover: a later task that found it empty or
    /// zero-filled kept it, and never deletes it, whatever it wrote into it (docs/API.md 9.7).
    ever_leftover: BTreeSet<PathBuf>,
}

impl Model {
    /// Applies one answered command; Err if its code is not what the model predicts.
    fn apply(&mut self, op: &Op, code: i64, pool: &Pool, dir: &Path) -> Result<(), String> {
        let Some(t) = op.torrent() else {
            return Ok(());
        };
        let task = &self.tasks[t];
        let expected: &[i64] = match op {
            Op::Race { .. } => &[],
            _ if !task.present && !matches!(op, Op::Add { .. }) => &[-4],
            Op::Add { .. } if task.present => &[-5],
            Op::SetFiles { .. } if task.magnet => &[0, -2],
            _ => &[0],
        };
        if !expected.contains(&code) {
            return Err(format!(
                "{op:?} answered {code}, expected one of {expected:?}"
            ));
        }
        if code == 0 {
            self.take_effect(op, pool, dir);
        }
        Ok(())
    }

    /// What a successful command does.
    fn take_effect(&mut self, op: &Op, pool: &Pool, dir: &Path) {
        let Some(t) = op.torrent() else {
            return;
        };
        let task = &mut self.tasks[t];
        match op {
            Op::Add { magnet, paused, .. } if !task.present => {
                *task = Expected {
                    present: true,
                    paused: *paused,
                    magnet: *magnet,
                    sourceless: false,
                };
                for path in pool.paths(t, dir) {
                    self.leftover.remove(&path);
                }
            }
            Op::Pause { .. } if task.present => task.paused = true,
            Op::Resume { .. } if task.present => task.paused = false,
            Op::Remove { delete, .. } if task.present => {
                task.present = false;
                for path in pool.paths(t, dir) {
                    if *delete {
                        self.leftover.remove(&path);
                    } else {
                        self.leftover.insert(path.clone());
                        self.ever_leftover.insert(path);
                    }
                }
            }
            _ => {}
        }
    }
}

/// One sent command waiting for its answer.
struct InFlight {
    id: u64,
    op: usize,
}

struct Run<'a> {
    pool: &'a Pool,
    server: &'a mut Server,
    seq: &'a Sequence,
    model: Model,
    conns: Vec<Conn>,
    in_flight: Vec<VecDeque<InFlight>>,
    /// The commands of each torrent, sent but not answered when the server was killed.
    unanswered: Vec<Vec<Op>>,
    log: Vec<String>,
}

const ANSWER_PATIENCE: Duration = Duration::from_secs(60);
const SETTLE_PATIENCE: Duration = Duration::from_secs(45);

impl Run<'_> {
    async fn connect(&mut self) {
        self.conns.clear();
        for _ in 0..self.seq.conns {
            self.conns.push(Conn::connect(&self.server.url).await);
        }
        self.in_flight = (0..self.seq.conns).map(|_| VecDeque::new()).collect();
    }

    async fn fire(&mut self, index: usize) {
        let op = self.seq.ops[index].clone();
        let c = self.seq.conn_of[op.torrent().expect("a command on a torrent")];
        self.fire_on(index, &op, c).await;
    }

    async fn fire_on(&mut self, index: usize, op: &Op, c: usize) {
        let t = op.torrent().expect("a command on a torrent");
        let id = &self.pool.torrents[t].info_hash;
        let (method, params) = match op {
            Op::Add {
                magnet: true,
                paused,
                ..
            } => (
                "task.add",
                json!({"type": "magnet", "uri": self.pool.magnet(t), "paused": paused}),
            ),
            Op::Add { paused, .. } => (
                "task.add",
                json!({"type": "torrent", "uri": self.pool.torrents[t].base64(), "paused": paused}),
            ),
            Op::Pause { .. } => ("task.pause", json!({"task_id": id})),
            Op::Resume { .. } => ("task.resume", json!({"task_id": id})),
            Op::Remove { delete, .. } => (
                "task.remove",
                json!({"task_id": id, "delete_files": delete}),
            ),
            Op::SetFiles { files, .. } => ("task.setFiles", json!({"task_id": id, "files": files})),
            Op::WaitComplete { .. } | Op::Restart { .. } | Op::Race { .. } => unreachable!(),
        };
        let request = self.conns[c].send(method, params).await;
        self.in_flight[c].push_back(InFlight {
            id: request,
            op: index,
        });
    }

    /// Reads every answer still due and checks it against the model.
    async fn collect(&mut self) -> Result<(), String> {
        let dir = self.server.download_dir();
        for c in 0..self.conns.len() {
            while let Some(sent) = self.in_flight[c].pop_front() {
                let op = &self.seq.ops[sent.op];
                let response = self.conns[c]
                    .next_response(ANSWER_PATIENCE)
                    .await
                    .ok_or_else(|| format!("op {}: {op:?} got no answer", sent.op))?;
                if response["id"] != sent.id {
                    return Err(format!("op {}: answers out of order: {response}", sent.op));
                }
                let code = response["error"].as_i64().unwrap_or(i64::MIN);
                self.log.push(format!("op {} {op:?} -> {code}", sent.op));
                self.model
                    .apply(op, code, self.pool, &dir)
                    .map_err(|e| format!("op {}: {e} ({response})", sent.op))?;
            }
        }
        Ok(())
    }

    /// After a kill -9: takes the answers that arrived, and remembers the commands that were
    /// not answered.
    /// Op `index` got no answer before the kill: any prefix of its torrent's unanswered ops may
    /// have taken effect, and whatever it may have done to the files is allowed.
    fn unanswered_at_kill(&mut self, index: usize, op: Op, dir: &Path) {
        self.log.push(format!("op {index} {op:?} -> unanswered"));
        let t = op.torrent().unwrap();
        self.unanswered[t].push(op);
        for path in self.pool.paths(t, dir) {
            self.model.ever_leftover.insert(path.clone());
            if !self.model.tasks[t].present {
                self.model.leftover.insert(path);
            }
        }
    }

    async fn collect_after_kill(&mut self) -> Result<(), String> {
        let dir = self.server.download_dir();
        for c in 0..self.conns.len() {
            while let Some(sent) = self.in_flight[c].pop_front() {
                let op = self.seq.ops[sent.op].clone();
                match self.conns[c].next_response(Duration::from_secs(5)).await {
                    Some(response) if response["id"] == sent.id => {
                        let code = response["error"].as_i64().unwrap_or(i64::MIN);
                        self.log
                            .push(format!("op {} {op:?} -> {code} (before the kill)", sent.op));
                        self.model
                            .apply(&op, code, self.pool, &dir)
                            .map_err(|e| format!("op {}: {e} ({response})", sent.op))?;
                    }
                    _ => {
                        self.unanswered_at_kill(sent.op, op, &dir);
                        let rest: Vec<_> = self.in_flight[c].drain(..).collect();
                        for rest in rest {
                            let op = self.seq.ops[rest.op].clone();
                            self.unanswered_at_kill(rest.op, op, &dir);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Polls `task.list` until no task is in state 0 or 1 and the ids and states have not
    /// changed for half a second; returns that list.
    /// The ids of tasks that may rightly stay in state 1 (see [`Expected::sourceless`]):
    /// magnets through a restart, and those that an unanswered command may have added.
    fn sourceless_ids(&self) -> BTreeSet<String> {
        (0..self.pool.torrents.len())
            .filter(|&t| {
                self.model.tasks[t].sourceless
                    || self.unanswered[t]
                        .iter()
                        .any(|op| matches!(op, Op::Add { magnet: true, .. }))
            })
            .map(|t| self.pool.torrents[t].info_hash.clone())
            .collect()
    }

    /// After a restart: every magnet task may have lost its only source.
    fn restarted(&mut self) {
        for task in &mut self.model.tasks {
            if task.present && task.magnet {
                task.sourceless = true;
            }
        }
    }

    async fn settle(&mut self) -> Result<Vec<Value>, String> {
        let started = Instant::now();
        let mut last = String::new();
        let mut same = 0;
        loop {
            let list = self.conns[0].ok("task.list", Value::Null).await;
            let list = list.as_array().cloned().unwrap_or_default();
            let key: String = list
                .iter()
                .map(|t| format!("{}:{} ", t["id"], t["state"]))
                .collect();
            let may_idle = self.sourceless_ids();
            let busy = list.iter().any(|t| {
                t["state"] == 0
                    || (t["state"] == 1 && !may_idle.contains(t["id"].as_str().unwrap_or("")))
            });
            if !busy && key == last {
                same += 1;
                if same >= 5 {
                    return Ok(list);
                }
            } else {
                same = 0;
            }
            last = key;
            if started.elapsed() > SETTLE_PATIENCE {
                return Err(format!(
                    "did not settle within {SETTLE_PATIENCE:?} (a task stuck in 0 or 1?): {}",
                    Value::Array(list)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// After a kill -9 and the restart: each torrent with unanswered commands is in the state of
    /// one prefix of them; the model takes that one.
    fn resolve_unanswered(&mut self, list: &[Value]) -> Result<(), String> {
        let dir = self.server.download_dir();
        for t in 0..self.pool.torrents.len() {
            let pending = std::mem::take(&mut self.unanswered[t]);
            if pending.is_empty() {
                continue;
            }
            let id = &self.pool.torrents[t].info_hash;
            let row = list.iter().find(|r| r["id"] == *id);
            let mut candidate = self.model.clone();
            let mut found = None;
            for j in 0..=pending.len() {
                if j > 0 {
                    candidate.take_effect(&pending[j - 1], self.pool, &dir);
                }
                let task = &candidate.tasks[t];
                let matches = match row {
                    None => !task.present,
                    Some(row) => task.present && ((row["state"] == 4) == task.paused),
                };
                if matches {
                    found = Some((j, candidate.tasks[t].clone()));
                    break;
                }
            }
            let Some((j, task)) = found else {
                return Err(format!(
                    "after kill -9, {id} is {row:?}: no prefix of its unanswered commands \
                     {pending:?} leads there from {:?}",
                    self.model.tasks[t]
                ));
            };
            self.log.push(format!(
                "after the kill, torrent {t} took {j} of its {} unanswered commands",
                pending.len()
            ));
            self.model.tasks[t] = task;
        }
        Ok(())
    }

    /// The invariants of a settled server.
    async fn check(&mut self, list: &[Value]) -> Result<(), String> {
        let dir = self.server.download_dir();
        let listed: BTreeMap<&str, &Value> = list
            .iter()
            .map(|r| (r["id"].as_str().unwrap_or(""), r))
            .collect();
        for (t, torrent) in self.pool.torrents.iter().enumerate() {
            let task = &self.model.tasks[t];
            let id = torrent.info_hash.as_str();
            match (task.present, listed.get(id)) {
                (false, Some(row)) => return Err(format!("removed task {id} is listed: {row}")),
                (false, None) => {
                    let code = self.conns[0]
                        .call("task.getStatus", json!({"task_id": id}))
                        .await["error"]
                        .clone();
                    if code != -4 {
                        return Err(format!("task.getStatus of removed {id} gave {code}"));
                    }
                }
                (true, None) => return Err(format!("task {id} ({task:?}) is not listed")),
                (true, Some(row)) => {
                    let want = if task.paused { 4 } else { 2 };
                    let idle = task.sourceless && !task.paused && row["state"] == 1;
                    if row["state"] != want && !idle {
                        return Err(format!(
                            "task {id} should be in state {want} ({task:?}): {row}"
                        ));
                    }
                }
            }
        }
        if listed.len() != self.model.tasks.iter().filter(|t| t.present).count() {
            return Err(format!(
                "task.list has tasks the test never added: {list:?}"
            ));
        }
        // Files.
        let mut owned = BTreeSet::new();
        for (t, task) in self.model.tasks.iter().enumerate() {
            if task.present {
                owned.extend(self.pool.paths(t, &dir));
            }
        }
        for path in files_under(&dir) {
            if owned.contains(&path) || self.model.leftover.contains(&path) {
                continue;
            }
            // A leftover that a later task found empty or zero-filled in its way is used and
            // never deleted (docs/API.md 9.7), even once that task has filled it.
            if self.model.ever_leftover.contains(&path) {
                continue;
            }
            return Err(format!(
                "{} exists, but no task owns it and no remove left it",
                path.display()
            ));
        }
        Ok(())
    }

    /// A clean restart: settled list before, librqbit's session file while stopped (the
    /// running tasks, and no other), the same list after.
    async fn clean_restart(&mut self) -> Result<(), String> {
        self.collect().await?;
        let before = self.settle().await?;
        self.check(&before).await?;
        let mut known = BTreeSet::new();
        for row in &before {
            let id = row["id"].as_str().unwrap_or("").to_owned();
            let metadata = self.conns[0]
                .ok("task.getMetadata", json!({"task_id": id}))
                .await;
            // A paused task (4) or a complete, stopped one (3) rests out of librqbit's
            // session (docs 9.12): Magnetar's own store holds it, as the restart below shows.
            let resting = row["state"] == 4 || row["state"] == 3;
            if metadata["ready"] == true && row["state"] != 5 && !resting {
                known.insert(id);
            }
        }
        self.server.stop().await?;
        let session = self.server.data_dir().join("session").join("session.json");
        let text =
            std::fs::read_to_string(&session).map_err(|e| format!("{}: {e}", session.display()))?;
        let session: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let in_librqbit: BTreeSet<String> = session["torrents"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|t| t["info_hash"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if in_librqbit != known {
            return Err(format!(
                "after a clean stop librqbit's session holds {in_librqbit:?}, Magnetar listed \
                 {known:?} (metadata known, not resting)"
            ));
        }
        self.server.spawn();
        self.connect().await;
        self.restarted();
        let after = self.settle().await?;
        let states = |list: &[Value]| -> BTreeMap<String, Value> {
            list.iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap_or("").to_owned(),
                        r["state"].clone(),
                    )
                })
                .collect()
        };
        if states(&before) != states(&after) {
            return Err(format!(
                "task.list changed across a clean restart: before {:?}, after {:?}",
                states(&before),
                states(&after)
            ));
        }
        Ok(())
    }

    async fn kill_restart(&mut self) -> Result<(), String> {
        tokio::time::sleep(Duration::from_millis(self.seq.kill_delay_ms)).await;
        self.server.kill();
        self.collect_after_kill().await?;
        self.server.spawn();
        self.connect().await;
        self.restarted();
        let list = self.settle().await?;
        self.resolve_unanswered(&list)?;
        self.restarted();
        self.check(&list).await
    }

    async fn wait_complete(&mut self, t: usize) -> Result<(), String> {
        self.collect().await?;
        let task = &self.model.tasks[t];
        if !task.present || task.paused || task.sourceless {
            return Ok(());
        }
        let id = self.pool.torrents[t].info_hash.clone();
        let started = Instant::now();
        loop {
            let list = self.conns[0].ok("task.list", Value::Null).await;
            let row = list
                .as_array()
                .and_then(|l| l.iter().find(|r| r["id"] == id.as_str()).cloned());
            match row {
                Some(row) if row["state"] == 2 => return Ok(()),
                None => return Err(format!("{id} vanished while its download ran")),
                Some(row) if started.elapsed() > SETTLE_PATIENCE => {
                    return Err(format!("{id} never completed: {row}"))
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The add and the other command of a race, on two connections at once.
    async fn race(
        &mut self,
        index: usize,
        add: &Op,
        then: &Op,
        delay: Duration,
    ) -> Result<(), String> {
        self.collect().await?;
        let t = add.torrent().unwrap();
        let own = self.seq.conn_of[t];
        let other = (own + 1) % self.conns.len();
        self.fire_on(index, add, own).await;
        tokio::time::sleep(delay).await;
        self.fire_on(index, then, other).await;
        let dir = self.server.download_dir();
        let mut codes = Vec::new();
        for c in [own, other] {
            let sent = self.in_flight[c].pop_front().unwrap();
            let response = self.conns[c]
                .next_response(ANSWER_PATIENCE)
                .await
                .ok_or_else(|| format!("op {index}: no answer"))?;
            if response["id"] != sent.id {
                return Err(format!("op {index}: answers out of order: {response}"));
            }
            codes.push((response["error"].as_i64().unwrap_or(i64::MIN), response));
        }
        let existed = self.model.tasks[t].present;
        let (add_code, add_response) = &codes[0];
        let (then_code, then_response) = &codes[1];
        self.log.push(format!(
            "op {index} race {add:?} -> {add_code}, {then:?} -> {then_code}"
        ));
        self.model
            .apply(add, *add_code, self.pool, &dir)
            .map_err(|e| format!("op {index}: {e} ({add_response})"))?;
        // Before the add registered the task: -4, nothing done.
        if *then_code == -4 && !existed {
            return Ok(());
        }
        self.model
            .apply(then, *then_code, self.pool, &dir)
            .map_err(|e| format!("op {index} (the racing command): {e} ({then_response})"))
    }

    async fn play(&mut self) -> Result<(), String> {
        for index in 0..self.seq.ops.len() {
            match &self.seq.ops[index] {
                Op::Restart { kill: false } => self.clean_restart().await?,
                Op::Restart { kill: true } => self.kill_restart().await?,
                Op::WaitComplete { t } => self.wait_complete(*t).await?,
                Op::Race {
                    add,
                    then,
                    delay_ms,
                } => {
                    let (add, then) = (add.as_ref().clone(), then.as_ref().clone());
                    let delay = Duration::from_millis(*delay_ms);
                    self.race(index, &add, &then, delay).await?
                }
                _ => self.fire(index).await,
            }
        }
        self.collect().await?;
        let list = self.settle().await?;
        self.check(&list).await
    }

    /// Leaves an empty server and an empty download folder for the next sequence.
    async fn clean_up(&mut self) -> Result<(), String> {
        let list = self.conns[0].ok("task.list", Value::Null).await;
        for row in list.as_array().cloned().unwrap_or_default() {
            let response = self.conns[0]
                .call(
                    "task.remove",
                    json!({"task_id": row["id"], "delete_files": true}),
                )
                .await;
            if response["error"] != 0 {
                return Err(format!("clean-up remove: {response}"));
            }
        }
        let dir = self.server.download_dir();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
        Ok(())
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// What the sequences exercised, so that a run shows it tested something.
#[derive(Default, Debug)]
struct Stats {
    answers: BTreeMap<String, usize>,
    set_files_after_torrent_add: usize,
    clean_restarts: usize,
    kills: usize,
    unanswered_at_kill: usize,
}

impl Stats {
    fn add(&mut self, seq: &Sequence, log: &[String]) {
        for line in log {
            if line.contains(" race ") {
                let code = line.rsplit_once(" -> ").map_or("?", |(_, c)| c);
                *self
                    .answers
                    .entry(format!("race: the other command {code}"))
                    .or_default() += 1;
                continue;
            }
            if let Some((op, code)) = line.split_once(" -> ") {
                let kind = op.split_whitespace().nth(2).unwrap_or("?");
                let kind = kind.trim_end_matches(|c: char| !c.is_alphanumeric());
                *self.answers.entry(format!("{kind} {code}")).or_default() += 1;
                if code.starts_with("unanswered") {
                    self.unanswered_at_kill += 1;
                }
            }
        }
        for pair in seq.ops.windows(2) {
            if let [Op::Add {
                t, magnet: false, ..
            }, Op::SetFiles { t: u, .. }] = pair
            {
                self.set_files_after_torrent_add += usize::from(t == u);
            }
        }
        for op in &seq.ops {
            match op {
                Op::Restart { kill: true } => self.kills += 1,
                Op::Restart { kill: false } => self.clean_restarts += 1,
                _ => {}
            }
        }
    }
}

/// Plays `seeds` on one server (restarted only where a sequence draws it). Returns the
/// failures, each with its seed and sequence; times each sequence.
async fn play_seeds(seeds: &[u64]) -> (Vec<String>, Duration) {
    support::init_logging();
    let pool = Pool::start().await;
    let root = tempfile::tempdir().unwrap();
    let mut server = Server::start(root.path());
    let mut failures = Vec::new();
    let mut stats = Stats::default();
    let verbose = std::env::var_os("MAGNETAR_VERBOSE").is_some();
    let started = Instant::now();
    for (i, &seed) in seeds.iter().enumerate() {
        let seq = draw(seed, &pool);
        let sequence_started = Instant::now();
        let mut run = Run {
            pool: &pool,
            server: &mut server,
            seq: &seq,
            model: Model {
                tasks: vec![Expected::default(); pool.torrents.len()],
                ..Default::default()
            },
            conns: Vec::new(),
            in_flight: Vec::new(),
            unanswered: vec![Vec::new(); pool.torrents.len()],
            log: Vec::new(),
        };
        run.connect().await;
        let outcome = run.play().await;
        stats.add(&seq, &run.log);
        if verbose {
            eprintln!("{seq}  {}", run.log.join("\n  "));
        }
        let report = match outcome {
            Ok(()) => None,
            Err(e) => Some(format!(
                "FAILED {e}\n{seq}answers:\n  {}\nserver log: {}",
                run.log.join("\n  "),
                run.server.root.display()
            )),
        };
        if let Some(report) = &report {
            eprintln!("{report}");
        }
        // Whatever happened, the next sequence starts from an empty server (on fresh
        // connections: a failed sequence may have left answers unread).
        if run.server.child.is_none() {
            run.server.spawn();
        }
        if report.is_some() {
            run.connect().await;
        }
        let cleaned = run.clean_up().await;
        failures.extend(report);
        if let Err(e) = cleaned {
            panic!("cannot clean up after seed {seed}: {e}");
        }
        eprintln!(
            "sequence {i} (seed {seed}, {} ops): {:.1} s",
            seq.ops.len(),
            sequence_started.elapsed().as_secs_f64()
        );
    }
    let elapsed = started.elapsed();
    eprintln!("{stats:#?}");
    if !failures.is_empty() {
        // Keep the folders (logs, data) of a failing run for a look.
        let kept = root.keep();
        eprintln!("folders kept in {}", kept.display());
    }
    (failures, elapsed)
}

fn seeds_from_env() -> Option<Vec<u64>> {
    let text = std::env::var("MAGNETAR_SEEDS").ok()?;
    Some(
        text.split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_interleavings_keep_the_invariants() {
    let seeds = seeds_from_env().unwrap_or_else(|| (1..=30).collect());
    let (failures, elapsed) = play_seeds(&seeds).await;
    eprintln!(
        "{} sequences in {:.1} s, {} failed",
        seeds.len(),
        elapsed.as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long run: MAGNETAR_SEQUENCES sequences (default 10,000)"]
async fn random_interleavings_long_run() {
    let count: u64 = std::env::var("MAGNETAR_SEQUENCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let seeds: Vec<u64> = (1000..1000 + count).collect();
    let (failures, elapsed) = play_seeds(&seeds).await;
    eprintln!(
        "{count} sequences in {:.1} s ({:.2} s each), {} failed",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / count as f64,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// Convergence.

/// What client B knows, from one `task.list`, `task.getMetadata` and `session.info`, then
/// only from events.
#[derive(Default)]
struct View {
    rows: BTreeMap<String, Value>,
    metadata: BTreeMap<String, Value>,
    info: Value,
    /// Broken promises seen on the way (a `task.stateUpdated` chain with a gap).
    broken: Vec<String>,
    events: usize,
}

impl View {
    fn apply(&mut self, event: &Value) {
        self.events += 1;
        let data = &event["data"];
        match event["name"].as_str().unwrap_or("") {
            "task.created" => {
                let id = data["id"].as_str().unwrap_or("").to_owned();
                // The numbers come with the task's first `task.updated`; its state is 0.
                let row = json!({"id": id, "name": data["name"], "state": 0});
                self.rows.insert(id.clone(), row);
                self.metadata.insert(id, data.clone());
            }
            "task.metadataReceived" => {
                let id = data["id"].as_str().unwrap_or("").to_owned();
                self.metadata.insert(id, data.clone());
            }
            "task.stateUpdated" => {
                let id = data["task_id"].as_str().unwrap_or("");
                match self.rows.get_mut(id) {
                    Some(row) => {
                        if row["state"] != data["old_state"] {
                            self.broken.push(format!(
                                "{id}: stateUpdated {} -> {} after state {}",
                                data["old_state"], data["new_state"], row["state"]
                            ));
                        }
                        row["state"] = data["new_state"].clone();
                    }
                    None => self
                        .broken
                        .push(format!("stateUpdated of a task B does not know: {event}")),
                }
            }
            "task.updated" => {
                for row in data["tasks"].as_array().into_iter().flatten() {
                    let id = row["id"].as_str().unwrap_or("").to_owned();
                    if !self.rows.contains_key(&id) {
                        self.broken
                            .push(format!("task.updated of a task B does not know: {row}"));
                    }
                    self.rows.insert(id, row.clone());
                }
            }
            "task.removed" => {
                let id = data["task_id"].as_str().unwrap_or("");
                self.rows.remove(id);
                self.metadata.remove(id);
            }
            "session.limitsUpdated" => {
                self.info["download_bps"] = data["download_bps"].clone();
                self.info["upload_bps"] = data["upload_bps"].clone();
            }
            "session.resync" => {
                self.rows = data["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| (r["id"].as_str().unwrap_or("").to_owned(), r.clone()))
                    .collect();
                self.metadata.retain(|id, _| self.rows.contains_key(id));
                self.broken
                    .push("B was resynced: its metadata may be stale (not expected here)".into());
            }
            _ => {}
        }
    }

    /// `session.info` as B sees it: the static facts and limits it was told, totals over its rows.
    fn session_info(&self) -> Value {
        let mut info = self.info.clone();
        let sum = |field: &str| -> u64 {
            self.rows
                .values()
                .map(|r| r[field].as_u64().unwrap_or(0))
                .sum()
        };
        info["tasks"] = json!(self.rows.len());
        info["dl_bytes"] = json!(sum("dl_bytes"));
        info["ul_bytes"] = json!(sum("ul_bytes"));
        info
    }
}

/// `session.info` without the fields that move by themselves (the all-time seconds among them)
/// and the all-time totals, which hold removed tasks' too (no event carries those).
fn comparable_info(info: &Value) -> Value {
    let mut info = info.clone();
    if let Some(map) = info.as_object_mut() {
        for field in [
            "uptime_seconds",
            "dl_speed",
            "ul_speed",
            "uploaded_ever",
            "downloaded_ever",
            "seconds_downloading",
            "seconds_seeding",
        ] {
            map.remove(field);
        }
    }
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_following_events_converges_on_task_list_and_session_info() {
    support::init_logging();
    let pool = Pool::start().await;
    let mut failures = Vec::new();
    for seed in [0xC0FFEE, 7, 2026] {
        if let Err(e) = converge(&pool, seed).await {
            eprintln!("seed {seed}: {e}");
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One run of the convergence test on a fresh server: Err lists where B's view differs.
async fn converge(pool: &Pool, seed: u64) -> Result<(), String> {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(root.path());
    let mut b = Conn::connect(&server.url).await;
    b.keep_events = true;
    let mut view = View::default();
    for row in b
        .ok("task.list", Value::Null)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        view.rows
            .insert(row["id"].as_str().unwrap_or("").to_owned(), row.clone());
    }
    view.info = b.ok("session.info", Value::Null).await;
    for event in b.events.drain(..) {
        view.apply(&event);
    }

    // Client A, on two connections, fires without waiting; B only reads.
    let mut a = [
        Conn::connect(&server.url).await,
        Conn::connect(&server.url).await,
    ];
    let mut rng = Rng(seed);
    let mut sent = [0usize; 2];
    for round in 0..5 {
        for _ in 0..14 {
            let t = rng.below(pool.torrents.len() as u64) as usize;
            let id = pool.torrents[t].info_hash.clone();
            let c = t % 2;
            let (method, params) = match rng.below(100) {
                0..=24 if rng.coin() => (
                    "task.add",
                    json!({"type": "magnet", "uri": pool.magnet(t), "paused": rng.below(4) == 0}),
                ),
                0..=24 => (
                    "task.add",
                    json!({"type": "torrent", "uri": pool.torrents[t].base64(), "paused": rng.below(4) == 0}),
                ),
                25..=39 => {
                    let files: Vec<u64> = (0..pool.torrents[t].files.len() as u64)
                        .filter(|_| rng.coin())
                        .collect();
                    ("task.setFiles", json!({"task_id": id, "files": files}))
                }
                40..=54 => ("task.pause", json!({"task_id": id})),
                55..=69 => ("task.resume", json!({"task_id": id})),
                70..=84 => (
                    "task.remove",
                    json!({"task_id": id, "delete_files": rng.coin()}),
                ),
                _ => {
                    let limit = |rng: &mut Rng| match rng.below(3) {
                        0 => Value::Null,
                        _ => json!(64 * 1024 * (1 + rng.below(64))),
                    };
                    let (down, up) = (limit(&mut rng), limit(&mut rng));
                    (
                        "session.setLimits",
                        json!({"download_bps": down, "upload_bps": up}),
                    )
                }
            };
            a[c].send(method, params).await;
            sent[c] += 1;
        }
        // Let some of it happen while B keeps reading.
        let pause = tokio::time::Instant::now() + Duration::from_millis(300 * round);
        while let Ok(Some(message)) =
            tokio::time::timeout_at(pause, b.next_message(Duration::from_secs(5))).await
        {
            view.apply(&message);
        }
    }
    for (c, conn) in a.iter_mut().enumerate() {
        for _ in 0..sent[c] {
            let response = conn
                .next_response(Duration::from_secs(60))
                .await
                .expect("every command of A is answered");
            let code = response["error"].as_i64().unwrap_or(i64::MIN);
            assert!(
                [0, -2, -4, -5].contains(&code),
                "an unexpected answer: {response}"
            );
        }
    }
    // Quiet: no event for B for 3 s (task.updated comes about once a second while anything
    // changes).
    let quiet_deadline = Instant::now() + Duration::from_secs(90);
    while let Some(message) = b.next_message(Duration::from_secs(3)).await {
        view.apply(&message);
        assert!(Instant::now() < quiet_deadline, "B's events never stopped");
    }

    let mut c = Conn::connect(&server.url).await;
    let truth: BTreeMap<String, Value> = c
        .ok("task.list", Value::Null)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap_or("").to_owned(), r))
        .collect();
    let mut mismatches = view.broken.clone();
    let ids: BTreeSet<&String> = truth.keys().chain(view.rows.keys()).collect();
    for id in ids {
        match (view.rows.get(id), truth.get(id)) {
            (Some(mine), Some(real)) if mine != real => {
                mismatches.push(format!("{id}: B has {mine}, task.list says {real}"))
            }
            (Some(_), Some(_)) => {}
            (mine, real) => mismatches.push(format!("{id}: B has {mine:?}, task.list {real:?}")),
        }
        if truth.contains_key(id) {
            let real = c.ok("task.getMetadata", json!({"task_id": id})).await;
            if view.metadata.get(id) != Some(&real) {
                mismatches.push(format!(
                    "{id}: B's metadata {:?}, task.getMetadata {real}",
                    view.metadata.get(id)
                ));
            }
        }
    }
    let real_info = comparable_info(&c.ok("session.info", Value::Null).await);
    let my_info = comparable_info(&view.session_info());
    if my_info != real_info {
        mismatches.push(format!(
            "session.info: B has {my_info}, the server {real_info}"
        ));
    }
    let states: Vec<&Value> = truth.values().map(|r| &r["state"]).collect();
    eprintln!(
        "seed {seed}: B applied {} events; {} tasks at the end, states {states:?}; limits {} / {}",
        view.events,
        truth.len(),
        real_info["download_bps"],
        real_info["upload_bps"]
    );
    drop(server);
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "B's view differs from the truth:\n{}",
            mismatches.join("\n")
        ))
    }
}
