//! The engine facade: the only code that names librqbit.
//!
//! It turns a `librqbit::Session` into *tasks* keyed by info hash (lower-case hex), with our own
//! states and numbers, and publishes what changes as protocol [`Event`]s on a broadcast bus.
//! librqbit learns of a magnet only once its metadata has arrived (its `add_torrent` future
//! resolves late), so the facade keeps its own task list: a task exists, with an id and a
//! `task.created` event, the moment it is added.

mod error;
mod sidecar;
mod source;
mod task;
mod watcher;

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use librqbit::api::TorrentIdOrHash;
use librqbit::dht::{DhtPersistenceConfig, Id20};
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, DhtSessionConfig, ListenerOptions,
    ManagedTorrent, Session, SessionOptions, SessionPersistenceConfig,
};
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::EngineError;
pub use source::{parse_magnet, parse_torrent, Source, SourceKind};

use crate::protocol::{
    Event, FileEntry, SessionInfo, TaskMetadata, TaskState, TaskStatus, TaskSummary,
};
use sidecar::{PendingMagnet, Sidecar};
use task::{Origin, PeerMeter, Phase, Task};

/// How many events the bus holds for a slow subscriber before it lags (and is resynced).
const EVENT_BUS_CAPACITY: usize = 1024;

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
}

/// A handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    session: Arc<Session>,
    api: librqbit::Api,
    config: EngineConfig,
    tasks: Mutex<Vec<Task>>,
    events: broadcast::Sender<Event>,
    sidecar: Sidecar,
    poke: Notify,
    started: Instant,
    /// The next librqbit torrent id. librqbit derives one from its persisted ids, which races
    /// when adds overlap (two adds get the same id and the second is "already managed" as the
    /// first); so the facade hands out the ids itself.
    next_torrent_id: AtomicUsize,
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
        let session = Session::new_with_opts(config.download_dir.clone(), session_options(&config))
            .await
            .map_err(|e| EngineError::Internal(format!("cannot start the engine: {e:#}")))?;
        let (events, _) = broadcast::channel(EVENT_BUS_CAPACITY);
        let engine = Engine {
            inner: Arc::new(Inner {
                api: librqbit::Api::new(session.clone(), None),
                session,
                sidecar: Sidecar::load(Some(config.state_dir.join("tasks.json"))),
                config,
                tasks: Mutex::new(Vec::new()),
                events,
                poke: Notify::new(),
                started: Instant::now(),
                next_torrent_id: AtomicUsize::new(0),
            }),
        };
        engine.restore();
        tracker.spawn(watcher::run(engine.clone(), cancel.child_token()));
        Ok(engine)
    }

    /// Stops every torrent and the session; waits briefly for librqbit to wind down.
    pub async fn shutdown(&self) {
        self.inner.session.stop().await;
    }

    /// A new receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Validates nothing: `source` comes from [`parse_magnet`] or [`parse_torrent`]. Registers the
    /// task, publishes `task.created` and starts adding it in the background.
    pub fn add(&self, source: Source) -> Result<(), EngineError> {
        let mut tasks = self.tasks();
        if tasks.iter().any(|t| t.id == source.id) {
            return Err(EngineError::AlreadyExists(source.id));
        }
        let (origin, known) = match source.kind {
            SourceKind::Magnet { uri, peers } => {
                let pending = PendingMagnet {
                    uri: uri.clone(),
                    peers: peers.clone(),
                    paused: false,
                };
                self.inner.sidecar.set_pending(&source.id, Some(pending));
                (Origin::Magnet { uri, peers }, None)
            }
            SourceKind::Torrent {
                bytes,
                creator,
                comment,
                files,
            } => {
                let bytes = Arc::new(bytes);
                (Origin::Torrent { bytes }, Some((files, creator, comment)))
            }
        };
        let abort = self.spawn_add(source.id.clone(), origin.clone());
        let mut task = self.new_task(source.id, source.name, origin, Phase::Adding(abort));
        if let Some((files, creator, comment)) = known {
            task.ready = true;
            task.files = files;
            task.creator = creator;
            task.comment = comment;
        }
        let _ = self.inner.events.send(Event::Created(task.metadata()));
        tasks.push(task);
        Ok(())
    }

    /// Summaries of every task, in the order they were added.
    pub fn list(&self) -> Vec<TaskSummary> {
        self.tasks().iter_mut().map(Task::observe_summary).collect()
    }

    pub fn metadata(&self, id: &str) -> Result<TaskMetadata, EngineError> {
        self.with_task(id, |task| task.metadata())
    }

    pub fn status(&self, id: &str) -> Result<TaskStatus, EngineError> {
        let (handle, file_count, peers) = self.with_task(id, |t| {
            (t.handle().cloned(), t.files.len(), t.current_peers())
        })?;
        let Some(handle) = handle else {
            return Ok(TaskStatus {
                pieces: Vec::new(),
                files: vec![0; file_count],
                peers: Vec::new(),
            });
        };
        let mut files = handle.stats().file_progress;
        if files.len() < file_count {
            files.resize(file_count, 0);
        }
        let pieces = match self
            .inner
            .api
            .api_dump_haves(TorrentIdOrHash::Hash(handle.info_hash()))
        {
            Ok((bits, count)) => unpack_bits(bits.as_raw_slice(), count as usize),
            // Initializing or failed: no bitfield yet, but the piece count is known.
            Err(_) => vec![false; piece_count(&handle)],
        };
        let peers = if handle.live().is_some() {
            peers
        } else {
            Vec::new()
        };
        Ok(TaskStatus {
            pieces,
            files,
            peers,
        })
    }

    /// Pauses a task. Pausing a paused task is not an error and changes nothing.
    pub async fn pause(&self, id: &str) -> Result<(), EngineError> {
        let handle = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            match &task.phase {
                Phase::Adding(abort) => {
                    abort.abort();
                    task.phase = Phase::Stopped;
                    self.remember_pending(task, true);
                    None
                }
                Phase::Stopped => None,
                Phase::Failed(_) => {
                    return Err(EngineError::InvalidState(
                        "the task has failed: resume it to retry, or remove it".into(),
                    ));
                }
                Phase::Managed(handle) if handle.is_paused() || task.finished_stopped => None,
                Phase::Managed(handle) => Some(handle.clone()),
            }
        };
        if let Some(handle) = handle {
            self.inner
                .session
                .pause(&handle)
                .await
                .map_err(|e| EngineError::InvalidState(format!("cannot pause: {e:#}")))?;
        }
        self.inner.poke.notify_one();
        Ok(())
    }

    /// Resumes a paused, finished or failed task. Resuming a running task changes nothing.
    pub async fn resume(&self, id: &str) -> Result<(), EngineError> {
        let handle = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            match &task.phase {
                Phase::Adding(_) => None,
                Phase::Stopped | Phase::Failed(_) => {
                    task.phase =
                        Phase::Adding(self.spawn_add(task.id.clone(), task.origin.clone()));
                    self.remember_pending(task, false);
                    None
                }
                Phase::Managed(handle) => {
                    if task.finished_stopped {
                        // An explicit resume of a finished task means "seed it".
                        task.stop_when_finished = false;
                        task.finished_stopped = false;
                        self.inner.sidecar.set_finished(&task.id, false);
                    }
                    let stopped = handle.is_paused()
                        || handle
                            .with_state(|s| matches!(s, librqbit::ManagedTorrentState::Error(_)));
                    stopped.then(|| handle.clone())
                }
            }
        };
        if let Some(handle) = handle {
            self.inner
                .session
                .unpause(&handle)
                .await
                .map_err(|e| EngineError::InvalidState(format!("cannot resume: {e:#}")))?;
        }
        self.inner.poke.notify_one();
        Ok(())
    }

    /// Removes a task, and its downloaded files if `delete_files`. Publishes `task.removed`.
    pub async fn remove(&self, id: &str, delete_files: bool) -> Result<(), EngineError> {
        let task = {
            let mut tasks = self.tasks();
            let index = tasks
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| EngineError::NotFound(id.to_owned()))?;
            tasks.remove(index)
        };
        if let Phase::Adding(abort) = &task.phase {
            abort.abort();
        }
        self.inner.sidecar.forget(&task.id);
        let mut result = Ok(());
        if let Some(info_hash) = parse_id(&task.id) {
            if self
                .inner
                .session
                .get(TorrentIdOrHash::Hash(info_hash))
                .is_some()
            {
                result = self
                    .inner
                    .session
                    .delete(TorrentIdOrHash::Hash(info_hash), delete_files)
                    .await
                    .map_err(|e| EngineError::Internal(format!("task removed, but: {e:#}")));
            }
        }
        let _ = self.inner.events.send(Event::Removed {
            task_id: task.id.clone(),
        });
        result
    }

    /// Facts about the session. `listen_addresses` is left for the server to fill.
    pub fn info(&self) -> SessionInfo {
        let summaries = self.list();
        let sum = |f: fn(&TaskSummary) -> u64| summaries.iter().map(f).sum();
        SessionInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            download_dir: self.inner.config.download_dir.display().to_string(),
            peer_listen_addresses: self
                .inner
                .session
                .listen_addr()
                .map(|a| a.to_string())
                .into_iter()
                .collect(),
            listen_addresses: Vec::new(),
            dht: self.inner.session.get_dht().is_some(),
            tasks: summaries.len() as u32,
            dl_bytes: sum(|s| s.dl_bytes),
            dl_speed: sum(|s| s.dl_speed),
            ul_bytes: sum(|s| s.ul_bytes),
            ul_speed: sum(|s| s.ul_speed),
            uptime_seconds: self.inner.started.elapsed().as_secs(),
        }
    }

    /// The port peers can reach this engine on, if it listens.
    pub fn peer_port(&self) -> Option<u16> {
        self.inner.session.listen_addr().map(|a| a.port())
    }

    // ---- internals ----

    fn tasks(&self) -> MutexGuard<'_, Vec<Task>> {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_task<R>(&self, id: &str, f: impl FnOnce(&mut Task) -> R) -> Result<R, EngineError> {
        let mut tasks = self.tasks();
        Ok(f(find(&mut tasks, id)?))
    }

    fn new_task(&self, id: String, name: String, origin: Origin, phase: Phase) -> Task {
        Task {
            finished_stopped: self.inner.sidecar.is_finished(&id),
            id,
            name,
            creator: String::new(),
            comment: String::new(),
            files: Vec::new(),
            ready: false,
            origin,
            phase,
            state: TaskState::Preparing,
            last_summary: None,
            stop_when_finished: !self.inner.config.seed,
            uploaded_before: 0,
            uploaded_live: 0,
            peers: PeerMeter::default(),
        }
    }

    fn remember_pending(&self, task: &Task, paused: bool) {
        if let (Origin::Magnet { uri, peers }, false) = (&task.origin, task.ready) {
            let pending = PendingMagnet {
                uri: uri.clone(),
                peers: peers.clone(),
                paused,
            };
            self.inner.sidecar.set_pending(&task.id, Some(pending));
        }
    }

    /// Resolves when an API call asks the watcher to look at states now.
    async fn poked(&self) {
        self.inner.poke.notified().await
    }

    /// Starts librqbit's `add_torrent` for `origin` in the background.
    fn spawn_add(&self, id: String, origin: Origin) -> tokio::task::AbortHandle {
        let engine = self.clone();
        tokio::spawn(async move {
            let result = engine.run_add(origin).await;
            engine.finish_add(&id, result);
        })
        .abort_handle()
    }

    async fn run_add(&self, origin: Origin) -> anyhow::Result<AddTorrentResponse> {
        let (add, peers) = match origin {
            Origin::Magnet { uri, peers } => (
                AddTorrent::from_url(uri),
                source::resolve_peers(&peers).await,
            ),
            Origin::Torrent { bytes } => (AddTorrent::from_bytes(bytes.to_vec()), Vec::new()),
        };
        let opts = AddTorrentOptions {
            preferred_id: Some(self.inner.next_torrent_id.fetch_add(1, Ordering::Relaxed)),
            // Data already on disk is hash-checked and kept, not refused.
            overwrite: true,
            initial_peers: (!peers.is_empty()).then_some(peers),
            ..Default::default()
        };
        self.inner.session.add_torrent(add, Some(opts)).await
    }

    /// Records the outcome of a background add.
    fn finish_add(&self, id: &str, result: anyhow::Result<AddTorrentResponse>) {
        let handle = result.and_then(|r| {
            let handle = r
                .into_handle()
                .ok_or_else(|| anyhow::anyhow!("librqbit did not add the torrent"))?;
            if handle.info_hash().as_string() != id {
                anyhow::bail!(
                    "librqbit returned another torrent ({})",
                    handle.info_hash().as_string()
                );
            }
            Ok(handle)
        });
        let mut tasks = self.tasks();
        let Some(task) = tasks.iter_mut().find(|t| t.id == id) else {
            // Removed while it was being added.
            if let Ok(handle) = handle {
                self.spawn_forget(handle);
            }
            return;
        };
        match handle {
            Ok(handle) => {
                let paused_meanwhile = matches!(task.phase, Phase::Stopped);
                if !task.ready {
                    fill_metadata(task, &handle);
                    let _ = self
                        .inner
                        .events
                        .send(Event::MetadataReceived(task.metadata()));
                }
                self.inner.sidecar.set_pending(id, None);
                if paused_meanwhile {
                    let session = self.inner.session.clone();
                    let handle = handle.clone();
                    tokio::spawn(async move { session.pause(&handle).await });
                }
                task.phase = Phase::Managed(handle);
            }
            Err(e) => {
                tracing::warn!(task = id, "adding failed: {e:#}");
                task.phase = Phase::Failed(format!("{e:#}"));
            }
        }
        drop(tasks);
        self.inner.poke.notify_one();
    }

    fn spawn_forget(&self, handle: Arc<ManagedTorrent>) {
        let session = self.inner.session.clone();
        tokio::spawn(async move {
            let _ = session
                .delete(TorrentIdOrHash::Hash(handle.info_hash()), false)
                .await;
        });
    }

    /// Builds tasks for what librqbit restored from its session file, then re-adds pending magnets.
    fn restore(&self) {
        let mut restored: Vec<(usize, Arc<ManagedTorrent>)> = self
            .inner
            .session
            .with_torrents(|torrents| torrents.map(|(id, h)| (id, h.clone())).collect());
        restored.sort_by_key(|(id, _)| *id);
        let next_id = restored.last().map_or(0, |(id, _)| id + 1);
        self.inner.next_torrent_id.store(next_id, Ordering::Relaxed);
        let mut tasks = self.tasks();
        for (_, handle) in restored {
            let id = handle.info_hash().as_string();
            let origin = Origin::Torrent {
                bytes: Arc::new(
                    handle
                        .with_metadata(|m| m.torrent_bytes.to_vec())
                        .unwrap_or_default(),
                ),
            };
            let mut task = self.new_task(id.clone(), id, origin, Phase::Stopped);
            fill_metadata(&mut task, &handle);
            task.phase = Phase::Managed(handle);
            task.state = task.current_state();
            tasks.push(task);
        }
        for (id, pending) in self.inner.sidecar.pending() {
            if tasks.iter().any(|t| t.id == id) {
                self.inner.sidecar.set_pending(&id, None);
                continue;
            }
            let Ok(source) = parse_magnet(&pending.uri) else {
                self.inner.sidecar.set_pending(&id, None);
                continue;
            };
            let origin = Origin::Magnet {
                uri: pending.uri.clone(),
                peers: pending.peers.clone(),
            };
            let phase = if pending.paused {
                Phase::Stopped
            } else {
                Phase::Adding(self.spawn_add(id.clone(), origin.clone()))
            };
            let mut task = self.new_task(id, source.name, origin, phase);
            task.state = task.current_state();
            tasks.push(task);
        }
    }

    /// One watcher pass: publish state transitions, and with `full`, changed numbers.
    fn observe(&self, full: bool) {
        let mut tasks = self.tasks();
        let mut changed = Vec::new();
        for task in tasks.iter_mut() {
            self.stop_if_finished(task);
            let summary = full.then(|| {
                task.sample_peers();
                task.observe_summary()
            });
            let state = match &summary {
                Some(summary) => summary.state,
                None => task.current_state(),
            };
            if state != task.state {
                // A download that started and completed between two looks still went through
                // "downloading": announce both transitions, in order.
                let skipped_downloading = state == TaskState::Uploading
                    && task.state != TaskState::Downloading
                    && task.downloaded_while_live();
                if skipped_downloading {
                    self.announce_state(task, TaskState::Downloading);
                }
                self.announce_state(task, state);
            }
            if let Some(summary) = summary {
                if task.last_summary.as_ref() != Some(&summary) {
                    changed.push(summary.clone());
                    task.last_summary = Some(summary);
                }
            }
        }
        if !changed.is_empty() {
            let _ = self.inner.events.send(Event::Updated(changed));
        }
    }

    fn announce_state(&self, task: &mut Task, new_state: TaskState) {
        let _ = self.inner.events.send(Event::StateUpdated {
            task_id: task.id.clone(),
            old_state: task.state,
            new_state,
        });
        task.state = new_state;
    }

    /// With seeding off, a task that completes is paused and reported as finished (state 3).
    fn stop_if_finished(&self, task: &mut Task) {
        if !task.stop_when_finished || task.finished_stopped {
            return;
        }
        let Some(handle) = task.handle().cloned() else {
            return;
        };
        if handle.live().is_none() || !handle.stats().finished {
            return;
        }
        task.finished_stopped = true;
        self.inner.sidecar.set_finished(&task.id, true);
        let session = self.inner.session.clone();
        tokio::spawn(async move { session.pause(&handle).await });
    }
}

/// librqbit session options from our config. Persistence and fastresume are always on.
fn session_options(config: &EngineConfig) -> SessionOptions {
    let dht = config.dht.then(|| DhtSessionConfig {
        persistence: Some(DhtPersistenceConfig {
            config_filename: Some(config.state_dir.join("dht.json")),
            ..Default::default()
        }),
        ..Default::default()
    });
    SessionOptions {
        dht,
        fastresume: true,
        persistence: Some(SessionPersistenceConfig::Json {
            folder: Some(config.state_dir.join("session")),
        }),
        listen: Some(ListenerOptions {
            listen_addr: SocketAddr::from((Ipv6Addr::UNSPECIFIED, config.peer_port)),
            enable_upnp_port_forwarding: config.upnp,
            ..Default::default()
        }),
        disable_local_service_discovery: !config.lsd,
        client_name_and_version: Some(format!("Magnetar {}", env!("CARGO_PKG_VERSION"))),
        ..Default::default()
    }
}

fn find<'a>(tasks: &'a mut [Task], id: &str) -> Result<&'a mut Task, EngineError> {
    tasks
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or_else(|| EngineError::NotFound(id.to_owned()))
}

fn parse_id(id: &str) -> Option<Id20> {
    id.parse().ok()
}

/// Copies name, files, creator and comment from librqbit's metadata into the task.
fn fill_metadata(task: &mut Task, handle: &ManagedTorrent) {
    let filled = handle.with_metadata(|meta| {
        let info = &meta.info;
        if let Some(name) = info.name().filter(|n| !n.is_empty()) {
            task.name = name.into_owned();
        }
        task.files = info
            .iter_file_details()
            .map(|file| FileEntry {
                path: file.filename.to_vec().join("/"),
                size: file.len,
            })
            .collect();
        if let Ok(parsed) = parse_torrent(meta.torrent_bytes.to_vec()) {
            if let SourceKind::Torrent {
                creator, comment, ..
            } = parsed.kind
            {
                task.creator = creator;
                task.comment = comment;
            }
        }
    });
    task.ready = filled.is_ok();
}

fn piece_count(handle: &ManagedTorrent) -> usize {
    handle
        .with_metadata(|m| m.info.lengths().total_pieces() as usize)
        .unwrap_or(0)
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
