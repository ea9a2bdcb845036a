//! One task as the engine tracks it: what it came from, where it is in its life
//! ([`Lifecycle`]), what the user wants of it ([`Intent`]), and the last numbers announced to
//! clients.
//!
//! The lifecycle and the intent are the truth; the state code clients see is a pure function of
//! them and of librqbit's own state ([`Task::current_state`]). Every command and every engine
//! job that changes a task takes the task's turn first ([`Task::queue`]), so two of them never
//! interleave: see `lifecycle.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use librqbit::{ManagedTorrent, ManagedTorrentState, TorrentStats, TorrentStatsState};
use serde_json::value::RawValue;
use tokio::task::AbortHandle;

use super::goals::{self, GoalOverrides, GoalReason, Totals};
use super::placement::Layout;
use super::resting::Resting;
use super::source::{Source, SourceKind};
use crate::protocol::{FileEntry, PeerInfo, TaskMetadata, TaskState, TaskSummary};

/// Where a task is in its life.
pub enum Lifecycle {
    /// A magnet's metadata is being fetched from peers (nothing is in librqbit yet): a pause or
    /// a removal may call this off.
    AwaitingMetadata(AbortHandle),
    /// librqbit's add is running. Never called off: it holds the task's turn, and a command
    /// that comes meanwhile waits for it.
    Adding,
    /// librqbit manages the torrent. `restarting`: the engine is restarting its peer search
    /// (a pause and resume in librqbit, see `stall.rs`) that clients must not see as states.
    Managed {
        handle: Arc<ManagedTorrent>,
        restarting: bool,
    },
    /// A magnet paused before its metadata arrived: nothing runs.
    Stopped,
    /// Adding failed; `task.resume` tries again.
    Failed(String),
    /// Its data is being moved to another folder (`task.move`, see `moving.rs`): librqbit
    /// does not hold it meanwhile. Never called off: the move holds the task's turn.
    Moving,
    /// Paused, or complete and stopped, and out of librqbit: no file, no descriptor, no
    /// timer (see `resting.rs`). A resume adds it to librqbit again.
    Resting(Resting),
}

/// A task resumed out of rest, until librqbit has checked it again (see [`Task::waking`]).
#[derive(Debug, Clone)]
pub struct Waking {
    /// The state it is told to be in meanwhile.
    pub state: TaskState,
    /// Its bytes per file as it rested: what it shows meanwhile.
    pub files: Vec<u64>,
}

/// What the user wants of a task; saved with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    /// Paused by the user (or added paused).
    pub paused: bool,
    /// What happens once the chosen files are complete.
    pub at_completion: AtCompletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtCompletion {
    /// Keep seeding (state 2).
    Seed,
    /// Stop (state 3): seeding is off, and the user has not asked to seed this one.
    Stop,
}

/// What librqbit should be doing with a managed torrent, given the intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do: librqbit does what is wanted.
    Settled,
    /// librqbit checks the data on disk; it takes no pause or resume until that is over.
    Wait,
    Pause,
    Resume,
    /// Give librqbit the file choice it could not take before.
    ChooseFiles,
}

/// `total_bytes` and `dl_bytes` of a summary: the size of the chosen files, to the byte, and
/// how much of them is on disk. librqbit counts whole pieces, and a piece shared with a skipped
/// file would count that file's bytes too (more done than chosen); its per-file counts do not.
/// While it checks the data on disk it has no per-file counts yet, only its total progress.
fn chosen_bytes(files: &[FileEntry], selected: &[bool], stats: &TorrentStats) -> (u64, u64) {
    chosen_bytes_of(files, selected, &stats.file_progress, stats.progress_bytes)
}

/// [`chosen_bytes`] from the bytes on disk per file (`progress_bytes`: the total, used while
/// there is no count per file).
fn chosen_bytes_of(
    files: &[FileEntry],
    selected: &[bool],
    file_progress: &[u64],
    progress_bytes: u64,
) -> (u64, u64) {
    let chosen = || {
        files
            .iter()
            .zip(selected)
            .enumerate()
            .filter(|(_, (_, s))| **s)
    };
    let total = chosen().map(|(_, (file, _))| file.size).sum();
    let done = if file_progress.len() == files.len() {
        chosen()
            .map(|(i, (file, _))| file_progress[i].min(file.size))
            .sum()
    } else {
        progress_bytes.min(total)
    };
    (total, done)
}

/// One row of `task.list`: the JSON text a settled task last announced, or a fresh summary.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum ListRow<'a> {
    Written(&'a RawValue),
    Fresh(Box<TaskSummary>),
}

/// What a task was added from, kept so that an add can be retried.
#[derive(Clone)]
pub enum Origin {
    Magnet { uri: String, peers: Vec<String> },
    Torrent { bytes: std::sync::Arc<Vec<u8>> },
}

pub struct Task {
    pub id: String,
    pub name: String,
    pub creator: String,
    pub comment: String,
    pub files: Vec<FileEntry>,
    /// Where its files go, once the metadata is known (relative to `dir`).
    pub layout: Option<Layout>,
    /// The folder its layout lives in: the download folder, or the one it was added to.
    pub dir: std::path::PathBuf,
    /// Its label (`task.setLabel`), if any.
    pub label: Option<String>,
    pub origin: Origin,
    pub lifecycle: Lifecycle,
    pub intent: Intent,
    /// The task's turn: held by every command and engine job that changes it, in the order
    /// they came (tokio's mutex is fair).
    pub queue: Arc<tokio::sync::Mutex<()>>,
    /// A file choice (`task.setFiles`) that librqbit has not taken yet: given to its add, or
    /// to it once its check of data on disk is over.
    pub chosen_files: Option<std::collections::BTreeSet<usize>>,
    /// The job that drives librqbit towards the intent while it cannot take it at once (see
    /// `lifecycle.rs`), if one runs.
    pub driver: Option<AbortHandle>,
    /// The job that announces completion the moment librqbit has it, if one runs.
    pub completion_watch: Option<AbortHandle>,
    /// The state last announced in `task.stateUpdated` (or at creation).
    pub state: TaskState,
    /// The summary last sent in `task.updated`, and the same as JSON text (set together by
    /// [`Task::remember_summary`]).
    pub last_summary: Option<TaskSummary>,
    /// `last_summary` serialized: a settled task's row in every `task.list`, written once
    /// rather than on every call.
    pub last_row: Option<Box<RawValue>>,
    /// Totals from earlier live periods and earlier runs: librqbit restarts its byte counters
    /// on every resume. Its seconds are the task's seconds downloading and seeding so far (up
    /// to [`Task::clock`]).
    pub totals_before: Totals,
    /// The live upload counter at the last observation.
    pub uploaded_live: u64,
    /// The live download counter at the last observation.
    pub downloaded_live: u64,
    /// Up to when the seconds in `totals_before` are counted (see [`Task::advance_clock`]).
    pub clock: Instant,
    /// The seconds downloading and seeding when the task entered its current state, and when
    /// that was (Unix seconds): what summaries show, so that a row changes at transitions
    /// only, not every second (a client adds the time since `state_since` itself).
    pub seconds_at_state: (u64, u64),
    pub state_since: u64,
    /// Since when the task has uploaded nothing (reset when it starts seeding and whenever its
    /// upload counter grows): the idle-seeding goal's measure.
    pub idle_since: Instant,
    /// The task's own seeding goal (`task.setSeedGoal`), saved in the sidecar.
    pub goal: GoalOverrides,
    /// Its label's seeding goal, as the labels code last gave it (see
    /// `Engine::set_label_seed_goal`); all "inherit" without a label.
    pub label_goal: GoalOverrides,
    /// A goal was met and the stop is on its way (one stop job at a time).
    pub goal_stopping: bool,
    /// Why the task is stopping at a goal: said by the next `task.stateUpdated` to state 3.
    pub stop_reason: Option<GoalReason>,
    pub peers: PeerMeter,
    /// When it was added (Unix seconds; 0 if unknown).
    pub added: u64,
    /// Since when a live, unfinished download has had no peer at all.
    pub stalled_since: Option<std::time::Instant>,
    /// The move of its data under way, if any (see `moving.rs`).
    pub moving: Option<Arc<super::moving::MoveMeter>>,
    /// One clone per open stream of its files: a task being streamed is not taken out of
    /// librqbit to rest (see `resting.rs`).
    pub streams: Arc<()>,
    /// Resumed out of rest and being added to librqbit again: the state it is told to be in
    /// until librqbit has checked its bitfield, foretold from what it rested with (a resumed
    /// task goes from 4 to 1 or 2 at once, as it did inside librqbit, with no flash of 0). A
    /// task woken at start has none: it shows 0 until it is restored.
    pub waking: Option<Waking>,
    /// Held while librqbit checks the data of this paused task before it rests (see
    /// `resting.rs`).
    pub check_permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Task {
    pub fn metadata(&self) -> TaskMetadata {
        let selected = self.selected_files();
        let mut files = self.files.clone();
        for (file, selected) in files.iter_mut().zip(selected) {
            file.selected = selected;
        }
        TaskMetadata {
            id: self.id.clone(),
            name: self.name.clone(),
            creator: self.creator.clone(),
            comment: self.comment.clone(),
            files,
            download_dir: self.dir.display().to_string(),
            ready: self.metadata_known(),
            magnet: super::trackers::magnet_link(self),
        }
    }

    /// Are the name and files known (a .torrent, or a magnet whose metadata arrived)?
    pub fn metadata_known(&self) -> bool {
        self.layout.is_some()
    }

    /// Which files are to be downloaded (`task.setFiles`), in torrent order; all by default.
    pub fn selected_files(&self) -> Vec<bool> {
        if let Some(chosen) = &self.chosen_files {
            return (0..self.files.len()).map(|i| chosen.contains(&i)).collect();
        }
        let only = self.handle().and_then(|h| h.only_files());
        (0..self.files.len())
            .map(|i| only.as_ref().is_none_or(|only| only.contains(&i)))
            .collect()
    }

    pub fn handle(&self) -> Option<&Arc<ManagedTorrent>> {
        match &self.lifecycle {
            Lifecycle::Managed { handle, .. } => Some(handle),
            _ => None,
        }
    }

    /// Can this task not change by itself, and were its last numbers (zero speeds) already
    /// published? Paused, finished-and-stopped, failed and stopped tasks only change through an
    /// API call, which looks at them itself; the watcher can skip them.
    pub fn is_settled(&self) -> bool {
        let quiet = match &self.lifecycle {
            Lifecycle::Stopped | Lifecycle::Failed(_) | Lifecycle::Resting(_) => true,
            Lifecycle::Moving => false,
            Lifecycle::Managed { handle, restarting } => {
                !restarting && self.driver.is_none() && handle.is_paused()
            }
            Lifecycle::AwaitingMetadata(_) | Lifecycle::Adding => false,
        };
        quiet
            && self.last_summary.as_ref().is_some_and(|last| {
                last.state == self.state && last.dl_speed == 0 && last.ul_speed == 0
            })
            && self.current_state() == self.state
    }

    /// The state code: a pure function of the lifecycle, the intent and librqbit's state.
    pub fn current_state(&self) -> TaskState {
        let paused = self.intent.paused;
        match &self.lifecycle {
            Lifecycle::AwaitingMetadata(_) | Lifecycle::Adding if paused => TaskState::Paused,
            Lifecycle::Adding if self.waking.is_some() => self.waking_state(),
            Lifecycle::AwaitingMetadata(_) | Lifecycle::Adding => TaskState::Preparing,
            Lifecycle::Stopped => TaskState::Paused,
            // Resting and not paused: complete, with seeding off.
            Lifecycle::Resting(_) if paused => TaskState::Paused,
            Lifecycle::Resting(_) => TaskState::Finished,
            Lifecycle::Failed(_) => TaskState::Error,
            // Not seeding nor downloading while its files move; a paused task stays paused.
            Lifecycle::Moving if paused => TaskState::Paused,
            Lifecycle::Moving => TaskState::Preparing,
            // A restart of the peer search (a stall, a reannounce): what clients were told.
            Lifecycle::Managed {
                restarting: true, ..
            } => self.state,
            Lifecycle::Managed { handle, .. } => handle.with_state(|state| match state {
                ManagedTorrentState::Initializing(_) if paused => TaskState::Paused,
                ManagedTorrentState::Initializing(_) if self.waking.is_some() => {
                    self.waking_state()
                }
                ManagedTorrentState::Initializing(_) => TaskState::Preparing,
                ManagedTorrentState::Paused(_) if paused => TaskState::Paused,
                ManagedTorrentState::Paused(_) if self.stops_here(handle) => TaskState::Finished,
                // Checked, and about to be resumed: no flash of "paused".
                ManagedTorrentState::Paused(_) if self.driver.is_some() => TaskState::Preparing,
                ManagedTorrentState::Paused(_) => TaskState::Paused,
                // The user's pause is on its way.
                ManagedTorrentState::Live(_) if paused => TaskState::Paused,
                ManagedTorrentState::Live(live) => {
                    let finished = live.get_hns().is_some_and(|hns| hns.finished());
                    match (finished, self.intent.at_completion) {
                        // Finished and about to stop: never announce a brief "uploading".
                        (true, AtCompletion::Stop) => TaskState::Finished,
                        (true, AtCompletion::Seed) => TaskState::Uploading,
                        (false, _) => TaskState::Downloading,
                    }
                }
                ManagedTorrentState::Error(_) => TaskState::Error,
                // librqbit's transient state inside a transition (never seen under its lock in
                // practice): not a change, so keep what clients were told.
                ManagedTorrentState::None => self.state,
            }),
        }
    }

    /// What a resting task shows until librqbit has it again (see `waking`): the state it
    /// will be in, and its bytes as it rested.
    pub fn foretold_after_rest(&self) -> Option<Waking> {
        let Lifecycle::Resting(resting) = &self.lifecycle else {
            return None;
        };
        let (total, done) = chosen_bytes_of(&self.files, &self.selected_files(), &resting.files, 0);
        let state = match (self.intent.paused, done >= total, self.intent.at_completion) {
            (true, _, _) => TaskState::Paused,
            (false, true, AtCompletion::Stop) => TaskState::Finished,
            (false, true, AtCompletion::Seed) => TaskState::Uploading,
            (false, false, _) => TaskState::Downloading,
        };
        Some(Waking {
            state,
            files: resting.files.clone(),
        })
    }

    fn waking_state(&self) -> TaskState {
        self.waking.as_ref().map_or(self.state, |w| w.state)
    }

    /// Is this torrent complete, and wanted stopped once complete? (Then a paused torrent is
    /// finished, state 3, not paused by anyone.)
    pub fn stops_here(&self, handle: &ManagedTorrent) -> bool {
        self.intent.at_completion == AtCompletion::Stop && handle.stats().finished
    }

    /// What librqbit should do now for this task's torrent, if it manages it.
    pub fn next_step(&self) -> Step {
        let Lifecycle::Managed {
            handle,
            restarting: false,
        } = &self.lifecycle
        else {
            return Step::Settled;
        };
        handle.with_state(|state| match state {
            ManagedTorrentState::Initializing(_) => Step::Wait,
            _ if self.chosen_files.is_some() => Step::ChooseFiles,
            ManagedTorrentState::Live(live) => {
                let finished = live.get_hns().is_some_and(|hns| hns.finished());
                let stop = finished && self.intent.at_completion == AtCompletion::Stop;
                if self.intent.paused || stop {
                    Step::Pause
                } else {
                    Step::Settled
                }
            }
            ManagedTorrentState::Paused(_) => {
                if self.intent.paused || self.stops_here(handle) {
                    Step::Settled
                } else {
                    Step::Resume
                }
            }
            ManagedTorrentState::Error(_) | ManagedTorrentState::None => Step::Settled,
        })
    }

    /// Copies name, files, creator and comment from a validated torrent (see `source.rs`, the
    /// one place that maps a torrent's file list).
    pub fn fill_metadata(&mut self, torrent: &Source) {
        if let SourceKind::Torrent {
            creator,
            comment,
            files,
            layout,
            ..
        } = &torrent.kind
        {
            self.name = torrent.name.clone();
            self.files = files.clone();
            self.creator = creator.clone();
            self.comment = comment.clone();
            self.layout = Some(layout.clone());
        }
    }

    /// Are the magnet's `x.pe` peers its only source, beside the DHT? True for a magnet with
    /// peers and no tracker (`tr`): a .torrent's trackers, or a magnet's, find peers again by
    /// themselves.
    pub fn peers_are_the_only_source(&self) -> bool {
        match &self.origin {
            Origin::Magnet { uri, peers } => {
                !peers.is_empty()
                    && url::Url::parse(uri)
                        .map(|url| !url.query_pairs().any(|(key, _)| key == "tr"))
                        .unwrap_or(false)
            }
            Origin::Torrent { .. } => false,
        }
    }

    /// Did the torrent download anything since it last went live? Tells a download that
    /// completed between two observations from a task that was complete all along.
    pub fn downloaded_while_live(&self) -> bool {
        self.handle()
            .and_then(|h| h.live())
            .is_some_and(|live| live.get_downloaded_bytes() > 0)
    }

    /// Keeps `summary` as the last one announced, with its JSON row.
    pub fn remember_summary(&mut self, summary: TaskSummary) {
        // Plain data (strings, numbers): serializing it cannot fail.
        self.last_row = serde_json::value::to_raw_value(&summary).ok();
        self.last_summary = Some(summary);
    }

    /// The row last announced, if it still holds: the task is settled (it cannot change by
    /// itself, see [`Task::is_settled`]). Both listings take a settled task's row from here.
    pub fn announced_row(&self) -> Option<&RawValue> {
        self.last_row.as_deref().filter(|_| self.is_settled())
    }

    /// Its numbers changed through an API call (a file choice changes `total_bytes`): the next
    /// list reads them afresh, and the watcher, which skips settled tasks, looks again and
    /// announces them.
    pub fn forget_summary(&mut self) {
        self.last_summary = None;
        self.last_row = None;
    }

    /// Counts the time since the last call as time downloading or seeding, by the state last
    /// announced (called at every look and before every announced transition, so that state
    /// held all along). Whole seconds are counted; the clock keeps the fraction left over for
    /// the next call (across a transition, it goes to the new state: at most a second).
    pub fn advance_clock(&mut self) {
        let now = Instant::now();
        let seconds = now.saturating_duration_since(self.clock).as_secs();
        if seconds == 0 {
            return;
        }
        self.clock += std::time::Duration::from_secs(seconds);
        match self.state {
            TaskState::Downloading => self.totals_before.seconds_downloading += seconds,
            TaskState::Uploading => self.totals_before.seconds_seeding += seconds,
            _ => {}
        }
    }

    /// Takes the seconds shown by summaries: the task enters a new state now.
    pub fn mark_state_start(&mut self) {
        self.seconds_at_state = (
            self.totals_before.seconds_downloading,
            self.totals_before.seconds_seeding,
        );
        self.state_since = unix_now();
    }

    /// Counts the time so far and drops the fraction of a second left over, so that nothing
    /// more is counted until the clock moves on (before a save that must hold what is shown).
    pub fn settle_clock(&mut self) {
        self.advance_clock();
        self.clock = Instant::now();
    }

    /// The totals as of the last observation.
    pub fn totals(&self) -> Totals {
        Totals {
            uploaded: self.totals_before.uploaded + self.uploaded_live,
            downloaded: self.totals_before.downloaded + self.downloaded_live,
            ..self.totals_before
        }
    }

    /// Reads librqbit's counters into a summary; also advances the totals' bookkeeping.
    pub fn observe_summary(&mut self) -> TaskSummary {
        self.advance_clock();
        let mut summary = TaskSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            state: TaskState::Preparing,
            total_bytes: self.files.iter().map(|f| f.size).sum(),
            dl_bytes: 0,
            dl_speed: 0,
            ul_bytes: 0,
            ul_speed: 0,
            connected_peers: 0,
            connected_seeds: 0,
            added: self.added,
            label: self.label.clone(),
            error: None,
            uploaded_ever: 0,
            downloaded_ever: 0,
            seconds_downloading: self.seconds_at_state.0,
            seconds_seeding: self.seconds_at_state.1,
            state_since: self.state_since,
            ratio: 0.0,
            moving: None,
        };
        match &self.lifecycle {
            Lifecycle::Failed(message) => {
                summary.state = self.current_state();
                summary.error = Some(message.clone());
            }
            Lifecycle::Managed { handle, .. } => {
                let stats: TorrentStats = handle.stats();
                if !matches!(stats.state, TorrentStatsState::Initializing { .. }) {
                    self.waking = None;
                }
                summary.state = self.current_state();
                (summary.total_bytes, summary.dl_bytes) = match &self.waking {
                    Some(waking) => {
                        chosen_bytes_of(&self.files, &self.selected_files(), &waking.files, 0)
                    }
                    None => chosen_bytes(&self.files, &self.selected_files(), &stats),
                };
                summary.error = stats.error.clone();
                if let Some(live) = handle.live() {
                    let snapshot = live.stats_snapshot();
                    summary.dl_speed = live.down_speed_estimator().bps();
                    summary.ul_speed = live.up_speed_estimator().bps();
                    summary.connected_peers = snapshot.peer_stats.live;
                    summary.connected_seeds = snapshot.peer_stats.live_seeders;
                    let uploaded = live.get_uploaded_bytes();
                    let downloaded = live.get_downloaded_bytes();
                    if uploaded < self.uploaded_live || downloaded < self.downloaded_live {
                        // A new live period: the counters restarted.
                        self.end_live_period();
                    }
                    if uploaded > self.uploaded_live {
                        self.idle_since = Instant::now();
                    }
                    self.uploaded_live = uploaded;
                    self.downloaded_live = downloaded;
                } else if !matches!(stats.state, TorrentStatsState::Live) {
                    self.end_live_period();
                }
            }
            Lifecycle::AwaitingMetadata(_) | Lifecycle::Adding | Lifecycle::Stopped => {
                summary.state = self.current_state();
                if let Some(waking) = &self.waking {
                    (summary.total_bytes, summary.dl_bytes) =
                        chosen_bytes_of(&self.files, &self.selected_files(), &waking.files, 0);
                }
            }
            Lifecycle::Resting(resting) => {
                summary.state = self.current_state();
                (summary.total_bytes, summary.dl_bytes) =
                    chosen_bytes_of(&self.files, &self.selected_files(), &resting.files, 0);
            }
            Lifecycle::Moving => {
                summary.state = self.current_state();
                if let Some(meter) = &self.moving {
                    (summary.total_bytes, summary.dl_bytes) = meter.shown;
                    summary.moving = Some(meter.progress());
                }
            }
        }
        let totals = self.totals();
        summary.ul_bytes = totals.uploaded;
        summary.uploaded_ever = totals.uploaded;
        summary.downloaded_ever = totals.downloaded;
        summary.ratio = goals::ratio(totals.uploaded, totals.downloaded, summary.dl_bytes);
        summary
    }

    /// The live counters' counts join the totals before (librqbit starts them again at 0).
    pub fn end_live_period(&mut self) {
        self.totals_before.uploaded += std::mem::take(&mut self.uploaded_live);
        self.totals_before.downloaded += std::mem::take(&mut self.downloaded_live);
    }

    /// The goal met by this task now, if it is seeding and one is; `global` is the session's.
    pub fn goal_met(&self, global: &goals::SeedGoal, summary: &TaskSummary) -> Option<GoalReason> {
        if self.state != TaskState::Uploading || summary.state != TaskState::Uploading {
            return None;
        }
        let goal = self.goal.over(&self.label_goal.over(global));
        let idle = Instant::now()
            .saturating_duration_since(self.idle_since)
            .as_secs();
        let seconds_seeding = self.totals_before.seconds_seeding;
        goals::goal_met(&goal, summary.ratio, seconds_seeding, idle)
    }

    /// Samples the per-peer counters of a live torrent so that peer speeds come from deltas.
    pub fn sample_peers(&mut self) {
        let samples = self.peer_samples();
        self.peers.update(Instant::now(), samples);
    }

    /// The connected peers now: fresh counters, speeds from the last two samples.
    pub fn current_peers(&self) -> Vec<PeerInfo> {
        self.peers.describe(self.peer_samples())
    }

    fn peer_samples(&self) -> Vec<PeerSample> {
        let Some(live) = self.handle().and_then(|h| h.live()) else {
            return Vec::new();
        };
        live.per_peer_stats_snapshot(Default::default())
            .peers
            .into_iter()
            .map(|(address, stats)| PeerSample {
                address,
                client: stats.client_name,
                fetched: stats.counters.fetched_bytes,
                uploaded: stats.counters.uploaded_bytes,
            })
            .collect()
    }
}

/// Now, in seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One observation of one peer's counters.
pub struct PeerSample {
    pub address: String,
    pub client: Option<String>,
    pub fetched: u64,
    pub uploaded: u64,
}

/// The last sample of one peer and the speeds derived from it.
struct PeerRecord {
    fetched: u64,
    uploaded: u64,
    at: Instant,
    dl_speed: u64,
    ul_speed: u64,
}

/// Per-peer counters and the speeds derived from the last two samples.
#[derive(Default)]
pub struct PeerMeter {
    peers: HashMap<String, PeerRecord>,
}

impl PeerMeter {
    /// Replaces the peer set with `samples`, computing speeds against the previous sample.
    pub fn update(&mut self, now: Instant, samples: Vec<PeerSample>) {
        let mut next = HashMap::with_capacity(samples.len());
        for sample in samples {
            let (dl_speed, ul_speed) = match self.peers.get(&sample.address) {
                Some(prev) => {
                    let secs = now.duration_since(prev.at).as_secs_f64();
                    let rate = |new: u64, old: u64| {
                        if secs > 0.0 {
                            (new.saturating_sub(old) as f64 / secs) as u64
                        } else {
                            0
                        }
                    };
                    (
                        rate(sample.fetched, prev.fetched),
                        rate(sample.uploaded, prev.uploaded),
                    )
                }
                None => (0, 0),
            };
            let record = PeerRecord {
                fetched: sample.fetched,
                uploaded: sample.uploaded,
                at: now,
                dl_speed,
                ul_speed,
            };
            next.insert(sample.address, record);
        }
        self.peers = next;
    }

    /// Describes `samples` with the speeds last computed for each address, sorted by address.
    pub fn describe(&self, samples: Vec<PeerSample>) -> Vec<PeerInfo> {
        let mut peers: Vec<PeerInfo> = samples
            .into_iter()
            .map(|sample| {
                let (dl_speed, ul_speed) = self
                    .peers
                    .get(&sample.address)
                    .map_or((0, 0), |r| (r.dl_speed, r.ul_speed));
                PeerInfo {
                    client: sample
                        .client
                        .filter(|c| !c.trim().is_empty())
                        .unwrap_or_else(|| "unknown".to_owned()),
                    address: sample.address,
                    dl_bytes: sample.fetched,
                    dl_speed,
                    ul_bytes: sample.uploaded,
                    ul_speed,
                }
            })
            .collect();
        peers.sort_by(|a, b| a.address.cmp(&b.address));
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stats(file_progress: Vec<u64>, progress_bytes: u64) -> TorrentStats {
        TorrentStats {
            state: TorrentStatsState::Paused,
            file_progress,
            error: None,
            progress_bytes,
            uploaded_bytes: 0,
            total_bytes: 0,
            finished: false,
            live: None,
        }
    }

    #[test]
    fn totals_count_chosen_files_to_the_byte() {
        let file = |size| FileEntry {
            path: "f".into(),
            size,
            selected: true,
        };
        let files = [file(3000), file(1000), file(0)];
        // One piece holds both files: librqbit's piece count (4000) would say more is done
        // than was chosen.
        let one_piece = stats(vec![3000, 1000, 0], 4000);
        assert_eq!(
            chosen_bytes(&files, &[false, true, true], &one_piece),
            (1000, 1000)
        );
        assert_eq!(
            chosen_bytes(&files, &[true, true, true], &one_piece),
            (4000, 4000)
        );
        assert_eq!(
            chosen_bytes(&files, &[false, false, false], &one_piece),
            (0, 0)
        );
        // Checking: no per-file counts yet; the checked total, never above the chosen size.
        assert_eq!(
            chosen_bytes(&files, &[true, false, false], &stats(vec![], 3500)),
            (3000, 3000)
        );
    }

    fn sample(address: &str, fetched: u64, uploaded: u64) -> PeerSample {
        PeerSample {
            address: address.into(),
            client: Some("aria2/1.36.0".into()),
            fetched,
            uploaded,
        }
    }

    #[test]
    fn peer_speed_comes_from_counter_deltas() {
        let mut meter = PeerMeter::default();
        let t0 = Instant::now();
        meter.update(t0, vec![sample("127.0.0.1:1", 0, 0)]);
        assert_eq!(
            meter.describe(vec![sample("127.0.0.1:1", 0, 0)])[0].dl_speed,
            0
        );
        meter.update(
            t0 + Duration::from_secs(2),
            vec![sample("127.0.0.1:1", 2000, 500)],
        );
        let peers = meter.describe(vec![sample("127.0.0.1:1", 2100, 600)]);
        let peer = &peers[0];
        assert_eq!((peer.dl_speed, peer.ul_speed), (1000, 250));
        assert_eq!((peer.dl_bytes, peer.ul_bytes), (2100, 600));
        assert_eq!(peer.client, "aria2/1.36.0");
        // A peer not sampled yet is listed, with no speed until the next sample.
        let fresh = meter.describe(vec![sample("127.0.0.2:1", 10, 0)]);
        assert_eq!((fresh[0].dl_bytes, fresh[0].dl_speed), (10, 0));
        meter.update(t0 + Duration::from_secs(3), Vec::new());
        assert!(meter.peers.is_empty());
    }
}
