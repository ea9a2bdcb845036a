//! The engine facade: the only code that names librqbit.
//!
//! It turns a `librqbit::Session` into *tasks* keyed by info hash (lower-case hex), with our own
//! states and numbers, and publishes what changes as protocol [`Event`]s on a broadcast bus.
//! librqbit learns of a magnet only once its metadata has arrived (its `add_torrent` future
//! resolves late), so the facade keeps its own task list: a task exists, with an id and a
//! `task.created` event, the moment it is added.
//!
//! Where to read on:
//! - `task.rs`: one task, its `Lifecycle` and the user's
//!   `Intent`; the state code as a pure function of them.
//! - `registry.rs`: the tasks, the paths they own and the removals in flight, behind one lock.
//! - `adding.rs`: an add, from validation to librqbit; `lifecycle.rs`: pause, resume, file
//!   choice, remove, each in the task's turn, and the driver that takes librqbit where the
//!   intent says.
//! - `watcher.rs`: librqbit polled and diffed into events; `stall.rs`: restarting a peerless
//!   magnet's peer search.
//! - `source.rs`, `validate.rs`, `bencode.rs`: what a client or a peer sends, checked before
//!   librqbit sees it; `placement.rs` and `existing.rs`: where files go, and the user's files
//!   already there.
//! - `adapter.rs`: every call into librqbit's session; `bus.rs`: the events to every client.
//! - `journal.rs`, `sidecar.rs` and `restore.rs`: what must survive a restart (every answered
//!   add in O(1), the rest written behind), and the start from it.

mod adapter;
mod adding;
mod bencode;
mod bus;
mod choices;
mod error;
mod existing;
mod folders;
mod goals;
mod journal;
mod labels;
mod lifecycle;
mod moving;
mod placement;
mod recheck;
mod registry;
mod resting;
mod restore;
mod sidecar;
mod source;
mod stall;
mod storage;
mod streaming;
mod task;
mod trackers;
mod validate;
mod watcher;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bus::Bus;
use librqbit::ManagedTorrent;
use serde_json::value::RawValue;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use adding::AddChoices;
pub use error::EngineError;
pub use folders::Refusal;
pub use goals::{
    parse_label_goal, parse_minutes_limit, parse_ratio_limit, GoalOverrides, Limit, SeedGoal,
    MAX_MINUTES, MAX_RATIO,
};
pub use source::{parse_magnet, parse_torrent, Source, SourceKind};
pub use streaming::{FileStream, StreamError, StreamFile, MAX_STREAMS};

use crate::protocol::{
    Event, Published, SessionInfo, TaskId, TaskMetadata, TaskState, TaskStatus, TaskSummary,
};
use adapter::Librqbit;
use registry::Registry;
use sidecar::Sidecar;
use task::{AtCompletion, Intent, Lifecycle, ListRow, Origin, PeerMeter, Task};

/// How long shutdown waits for the engine's own background work (adds, restarts) to wind down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the engine needs to start.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where downloaded files go.
    pub download_dir: PathBuf,
    /// Where session state (tasks, fastresume, DHT table) is kept.
    pub state_dir: PathBuf,
    /// TCP port for incoming peers; 0 picks a free one.
    pub peer_port: u16,
    pub dht: bool,
    pub upnp: bool,
    pub lsd: bool,
    /// Keep seeding complete tasks (state 2); when false they stop (state 3).
    pub seed: bool,
    /// The global seeding goal (settings `seed_ratio_limit`, `seed_time_limit_minutes`,
    /// `seed_idle_limit_minutes`); changed at run time by [`Engine::set_global_seed_goal`].
    pub seed_goal: SeedGoal,
}

/// A handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    /// Every call into librqbit's session.
    librqbit: Librqbit,
    config: EngineConfig,
    /// The tasks, their paths and the removals in flight, behind one lock.
    registry: Mutex<Registry>,
    events: Bus,
    /// Every background job of the engine (adds, retries, restarts, the watcher) runs here, so
    /// that shutdown can cancel and wait for all of them.
    tracker: TaskTracker,
    cancel: CancellationToken,
    sidecar: Arc<Sidecar>,
    /// Every answered add, until librqbit's session surely holds it.
    journal: journal::Journal,
    started: Instant,
    /// Wakes the watcher from its idle wait: something may have started to move.
    watcher_wake: tokio::sync::Notify,
    /// Seeding on (the `seed` setting, changed at run time by [`Engine::set_seed`]).
    seed: std::sync::atomic::AtomicBool,
    /// The download roots and the labels (see `folders.rs`).
    folders: Mutex<folders::Folders>,
    /// The global seeding goal in force.
    global_goal: Mutex<SeedGoal>,
    /// One permit per open stream (see `streaming.rs`).
    stream_slots: Arc<tokio::sync::Semaphore>,
    /// The bitfields of resting tasks (see `resting.rs`).
    bitfields: resting::Bitfields,
    /// Paused tasks that librqbit holds only to check their data before they rest (see
    /// `resting.rs`): a bounded few at a time.
    paused_checks: Arc<tokio::sync::Semaphore>,
    /// Whether the API serves yet: the tasks restored running wait for it before librqbit is
    /// given them (see [`Engine::serve_restored`]).
    serving: tokio::sync::watch::Sender<bool>,
}

impl Engine {
    /// Starts the librqbit session, restores the tasks of the previous run and starts the
    /// watcher (on `tracker`, stopped by `cancel`).
    pub async fn start(
        config: EngineConfig,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Engine, EngineError> {
        for dir in [&config.download_dir, &config.state_dir] {
            std::fs::create_dir_all(dir).map_err(|e| {
                EngineError::Internal(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        // Absolute, so that every task's paths compare alike whatever the working directory
        // (path ownership, see placement.rs) and librqbit persists absolute folders.
        let mut config = config;
        if let Ok(absolute) = std::fs::canonicalize(&config.download_dir) {
            config.download_dir = absolute;
        }
        let sidecar = Arc::new(Sidecar::load(Some(config.state_dir.join("tasks.json"))));
        // A move that a kill cut short is finished or rolled back before librqbit looks at
        // any file (see `moving.rs`).
        moving::recover(&sidecar, &config.download_dir);
        let journal = journal::Journal::new(config.state_dir.join("adds.journal"));
        // Magnetar's store is the truth: what librqbit's own session file holds (from a
        // version before this one) joins it, and librqbit starts empty (see `restore.rs`).
        let (mut journaled, mut lines) = journal.read_counting();
        lines +=
            restore::adopt_librqbit_session(&config.state_dir, &journal, &mut journaled, &sidecar);
        let bitfields = resting::Bitfields::new(&config.state_dir);
        let librqbit = Librqbit::start(&config).await?;
        let seed = config.seed;
        let engine = Engine {
            inner: Arc::new(Inner {
                librqbit,
                sidecar,
                folders: Mutex::new(folders::Folders::new(&config.download_dir)),
                global_goal: Mutex::new(config.seed_goal),
                journal,
                config,
                registry: Mutex::new(Registry::default()),
                events: Bus::new(),
                tracker: TaskTracker::new(),
                cancel: cancel.child_token(),
                watcher_wake: tokio::sync::Notify::new(),
                started: Instant::now(),
                seed: std::sync::atomic::AtomicBool::new(seed),
                stream_slots: streaming::stream_slots(),
                bitfields,
                paused_checks: Arc::new(tokio::sync::Semaphore::new(resting::PAUSED_CHECKS)),
                serving: tokio::sync::watch::Sender::new(false),
            }),
        };
        engine.restore(journaled, lines);
        engine.inner.tracker.spawn(
            engine
                .inner
                .sidecar
                .clone()
                .write_behind(engine.inner.cancel.clone()),
        );
        tracker.spawn(watcher::supervise(engine.clone()));
        Ok(engine)
    }

    /// The API serves: the tasks restored running are given to librqbit now, each in its
    /// turn. Until then they wait, so that the start-up (restoring every task, binding the
    /// server) and the first listings do not share the CPU with librqbit's adds, which with
    /// thousands of running tasks keep a core busy for many seconds (see docs/API.md 9.12).
    pub fn serve_restored(&self) {
        self.inner.serving.send_replace(true);
    }

    /// Cancels the engine's background work and waits for it (briefly), saves what must
    /// survive, and stops every torrent and the session.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some engine work did not stop in time");
        }
        self.save_totals();
        self.inner.sidecar.save_now();
        self.inner.librqbit.stop().await;
    }

    /// Saves every task's totals, so that they survive a restart; returns the sidecar version
    /// that holds them. Called about once a minute while anything moves, when everything
    /// settles, when a goal stops a task, and at shutdown.
    fn save_totals(&self) -> u64 {
        let mut tasks = self.tasks();
        let totals = tasks
            .iter_mut()
            .map(|task| {
                task.observe_summary();
                (task.id.clone(), task.totals())
            })
            .collect();
        drop(tasks);
        self.inner.sidecar.set_totals(totals)
    }

    /// The global seeding goal in force.
    pub fn global_seed_goal(&self) -> SeedGoal {
        *self
            .inner
            .global_goal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the global seeding goal at run time (for `session.setSettings`; saving it in
    /// the settings file is the caller's). Seeding tasks that now meet it stop at the
    /// watcher's next look.
    pub fn set_global_seed_goal(&self, goal: SeedGoal) {
        *self
            .inner
            .global_goal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = goal;
        self.inner.watcher_wake.notify_one();
    }

    /// The hook for labels: gives task `id` its label's seeding goal (`None`: no label, or a
    /// label without a goal), which sits between the task's own goal and the global one. Not
    /// saved here: the labels code gives it again after a restart (and whenever a task's
    /// label or a label's goal changes).
    pub fn set_label_seed_goal(
        &self,
        id: &TaskId,
        goal: Option<GoalOverrides>,
    ) -> Result<(), EngineError> {
        self.with_task(id.as_str(), |task| {
            task.label_goal = goal.unwrap_or_default();
        })?;
        self.inner.watcher_wake.notify_one();
        Ok(())
    }

    /// A new receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.inner.events.subscribe()
    }

    /// Publishes an event that the API layer makes (a session change) to every subscriber.
    pub fn announce(&self, event: Event) {
        self.publish(event);
    }

    /// Publishes an event to every subscriber, serialized once for all of them.
    fn publish(&self, event: Event) {
        self.inner.events.publish(event);
    }

    /// Summaries of every task, in the order they were added. A settled task (one that cannot
    /// change by itself, see [`Task::is_settled`]) gives the watcher's last look at it, which is
    /// exact; only the others are asked from librqbit (`stats()` was a fifth of `task.list`'s
    /// time with 1,000 paused tasks).
    pub fn list(&self) -> Vec<TaskSummary> {
        self.tasks()
            .iter_mut()
            .map(|task| match (task.announced_row(), &task.last_summary) {
                (Some(_), Some(last)) => last.clone(),
                _ => task.observe_summary(),
            })
            .collect()
    }

    /// [`Engine::list`] as the JSON text of `task.list`'s result. A settled task's row is the
    /// text written when its summary was announced, copied as it is: with 1,000 paused tasks a
    /// list is then one pass of copies instead of 1,000 summaries cloned and serialized.
    pub fn list_json(&self) -> Box<RawValue> {
        let mut tasks = self.tasks();
        // Fresh summaries first (that needs each task mutably), then the rows, which borrow
        // the written ones.
        let fresh: Vec<Option<TaskSummary>> = tasks
            .iter_mut()
            .map(|task| match task.announced_row() {
                Some(_) => None,
                None => Some(task.observe_summary()),
            })
            .collect();
        let rows: Vec<ListRow> = tasks
            .iter()
            .zip(fresh)
            .filter_map(|(task, fresh)| match fresh {
                Some(summary) => Some(ListRow::Fresh(Box::new(summary))),
                None => task.announced_row().map(ListRow::Written),
            })
            .collect();
        // Plain data (strings, numbers, JSON text): serializing it cannot fail.
        serde_json::value::to_raw_value(&rows).unwrap_or_else(|_| crate::protocol::null())
    }

    pub fn metadata(&self, id: &TaskId) -> Result<TaskMetadata, EngineError> {
        let id = id.as_str();
        self.with_task(id, |task| task.metadata())
    }

    pub fn status(&self, id: &TaskId) -> Result<TaskStatus, EngineError> {
        let id = id.as_str();
        let (handle, file_count, peers, selected) = self.with_task(id, |t| {
            (
                t.handle().cloned(),
                t.files.len(),
                t.current_peers(),
                t.selected_files(),
            )
        })?;
        let Some(handle) = handle else {
            let resting = self.with_task(id, |t| match &t.lifecycle {
                Lifecycle::Resting(resting) => Some(resting.clone()),
                _ => None,
            })?;
            let (pieces, mut files) = match resting {
                Some(resting) => (resting.piece_flags(), resting.files),
                None => (Vec::new(), Vec::new()),
            };
            files.resize(file_count, 0);
            return Ok(TaskStatus {
                pieces,
                files,
                selected,
                peers: Vec::new(),
            });
        };
        let mut files = handle.stats().file_progress;
        if files.len() < file_count {
            files.resize(file_count, 0);
        }
        let pieces = match self.inner.librqbit.haves(&handle) {
            Some((bits, count)) => unpack_bits(&bits, count),
            // Initializing or failed: no bitfield yet, but the piece count is known.
            None => vec![false; piece_count(&handle)],
        };
        let peers = if handle.live().is_some() {
            peers
        } else {
            Vec::new()
        };
        Ok(TaskStatus {
            pieces,
            files,
            selected,
            peers,
        })
    }

    /// Facts about the session. `listen_addresses` is left for the server to fill.
    pub fn info(&self) -> SessionInfo {
        let summaries = self.list();
        let sum =
            |f: fn(&TaskSummary) -> u64| summaries.iter().map(f).fold(0u64, u64::saturating_add);
        let mut ever = self.inner.sidecar.removed_totals();
        for task in self.tasks().iter_mut() {
            // The seconds up to now (summaries show them as of each task's last transition).
            task.advance_clock();
            ever.add(&task.totals());
        }
        SessionInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            download_dir: self.inner.config.download_dir.display().to_string(),
            peer_listen_addresses: self
                .inner
                .librqbit
                .peer_listen_address()
                .map(|a| a.to_string())
                .into_iter()
                .collect(),
            listen_addresses: Vec::new(),
            dht: self.inner.librqbit.dht_on(),
            tasks: summaries.len() as u32,
            dl_bytes: sum(|s| s.dl_bytes),
            dl_speed: sum(|s| s.dl_speed),
            ul_bytes: sum(|s| s.ul_bytes),
            ul_speed: sum(|s| s.ul_speed),
            uploaded_ever: ever.uploaded,
            downloaded_ever: ever.downloaded,
            seconds_downloading: ever.seconds_downloading,
            seconds_seeding: ever.seconds_seeding,
            uptime_seconds: self.inner.started.elapsed().as_secs(),
            download_bps: self.limits().0,
            upload_bps: self.limits().1,
            // The API knows whether a desktop can show folders (`session.info` sets it).
            can_open_folders: false,
        }
    }

    /// The registry: the tasks, the paths they own and the removals in flight.
    fn tasks(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_task<R>(&self, id: &str, f: impl FnOnce(&mut Task) -> R) -> Result<R, EngineError> {
        let mut tasks = self.tasks();
        Ok(f(find(&mut tasks, id)?))
    }

    fn new_task(&self, id: String, name: String, origin: Origin, lifecycle: Lifecycle) -> Task {
        let goal_met = self.inner.sidecar.goal_met(&id).is_some();
        let at_completion = if goal_met {
            // A goal stopped it: it stays stopped (state 3) until resumed.
            AtCompletion::Stop
        } else if self.seeding_on() || self.inner.sidecar.is_seeding(&id) {
            AtCompletion::Seed
        } else {
            AtCompletion::Stop
        };
        Task {
            dir: self
                .inner
                .sidecar
                .dir(&id)
                .unwrap_or_else(|| self.inner.config.download_dir.clone()),
            label: self.inner.sidecar.label(&id),
            totals_before: self.inner.sidecar.totals(&id),
            goal: self.inner.sidecar.goal(&id),
            label_goal: self.label_goal(self.inner.sidecar.label(&id).as_deref()),
            goal_stopping: false,
            stop_reason: None,
            clock: Instant::now(),
            seconds_at_state: {
                let saved = self.inner.sidecar.totals(&id);
                (saved.seconds_downloading, saved.seconds_seeding)
            },
            state_since: task::unix_now(),
            idle_since: Instant::now(),
            downloaded_live: 0,
            added: self.inner.sidecar.added(&id),
            id,
            name,
            creator: String::new(),
            comment: String::new(),
            files: Vec::new(),
            layout: None,
            origin,
            lifecycle,
            intent: Intent {
                paused: false,
                at_completion,
            },
            queue: Arc::new(tokio::sync::Mutex::new(())),
            chosen_files: None,
            driver: None,
            completion_watch: None,
            state: TaskState::Preparing,
            last_summary: None,
            last_row: None,
            uploaded_live: 0,
            peers: PeerMeter::default(),
            stalled_since: None,
            moving: None,
            streams: Arc::new(()),
            waking: None,
            check_permit: None,
        }
    }
}

fn find<'a>(tasks: &'a mut Registry, id: &str) -> Result<&'a mut Task, EngineError> {
    tasks
        .get_mut(id)
        .ok_or_else(|| EngineError::NotFound(id.to_owned()))
}

fn piece_count(handle: &ManagedTorrent) -> usize {
    handle
        .with_metadata(|m| m.info.lengths().total_pieces() as usize)
        .unwrap_or(0)
}

/// The message of a caught panic, for a log line and a client's error.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Unpacks a most-significant-bit-first bitfield into `count` booleans.
fn unpack_bits(bytes: &[u8], count: usize) -> Vec<bool> {
    (0..count)
        .map(|i| bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::unpack_bits;

    #[test]
    fn bits_are_msb_first() {
        assert_eq!(
            unpack_bits(&[0b1010_0000, 0b1000_0000], 9),
            vec![true, false, true, false, false, false, false, false, true]
        );
        assert_eq!(unpack_bits(&[], 2), vec![false, false]);
    }
}
