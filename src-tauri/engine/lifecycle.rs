//! A task's life through the API: paused, resumed, given files, removed; and the one job that
//! drives librqbit towards what the user wants.
//!
//! **One command at a time per task.** Every command and every engine job that changes a task
//! (its add into librqbit, pause, resume, remove, a file choice, the stop at completion, the
//! stall restart) first takes the task's turn ([`Engine::turn`], a fair async mutex per task):
//! they run one after the other, in the order they came, never interleaved. A command records
//! what the user wants (the task's [`Intent`](super::task::Intent)) and takes the one step that
//! librqbit can take at once.
//!
//! **The driver.** librqbit takes no pause or resume while it checks the data on disk (it
//! forgets an unpause meanwhile, and lets the check end live over a pause), and a completed
//! download must be stopped when seeding is off. So when librqbit is not where the intent says
//! ([`Task::next_step`](super::task::Task::next_step)), one job per task, the driver, takes a
//! turn every 100 ms and the step that is possible, until nothing is left to do. Because each
//! of its steps reads the intent afresh in its own turn, a command that comes meanwhile (a
//! resume right after completion, a pause during the check) is never undone by it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use librqbit::dht::Id20;
use librqbit::{ManagedTorrent, ManagedTorrentState};
use tokio::sync::OwnedMutexGuard;

use super::goals::{GoalOverrides, Limit, SeedGoal};
use super::journal::Record;
use super::placement::Layout;
use super::sidecar::PendingMagnet;
use super::task::{AtCompletion, Lifecycle, Origin, Step, Task};
use super::{find, Engine, EngineError};
use crate::protocol::{Event, TaskId, TaskState};

/// How long the driver keeps trying (a check of a large torrent's data takes minutes).
const DRIVE_PATIENCE: Duration = Duration::from_secs(600);
/// How often the driver looks again while librqbit cannot take a step.
const DRIVE_INTERVAL: Duration = Duration::from_millis(100);

impl Engine {
    /// Waits for task `id`'s turn. The task may be gone once it comes (removed meanwhile, or
    /// removed and added again, with a turn of its own): then `NotFound`.
    pub(super) async fn turn(&self, id: &str) -> Result<OwnedMutexGuard<()>, EngineError> {
        let queue = self.with_task(id, |t| t.queue.clone())?;
        let turn = queue.clone().lock_owned().await;
        match self.with_task(id, |t| Arc::ptr_eq(&t.queue, &queue)) {
            Ok(true) => Ok(turn),
            _ => Err(EngineError::NotFound(id.to_owned())),
        }
    }

    /// Pauses a task. Pausing a paused or finished task is not an error and changes nothing.
    pub async fn pause(&self, id: &TaskId) -> Result<(), EngineError> {
        let id = id.as_str();
        let _turn = self.turn(id).await?;
        let saved = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            match &task.lifecycle {
                Lifecycle::Failed(_) => {
                    return Err(EngineError::InvalidState(
                        "the task has failed: resume it to retry, or remove it".into(),
                    ));
                }
                Lifecycle::AwaitingMetadata(fetch) => {
                    // Nothing is in librqbit yet: the fetch is called off.
                    fetch.abort();
                    task.lifecycle = Lifecycle::Stopped;
                }
                _ => {}
            }
            if task.current_state() != TaskState::Finished {
                task.intent.paused = true;
            }
            self.remember_intent(task)
        };
        self.settle(id).await;
        // Answered only once the pause is on disk: a kill -9 right after keeps it.
        self.wait_saved(saved).await;
        // Publish the transition now, before answering: a quick pause-resume must not slip
        // between two looks of the watcher.
        self.observe_task(id);
        Ok(())
    }

    /// Resumes a paused, finished or failed task. Resuming a running task changes nothing.
    /// Resuming a finished task (seeding off) means "seed it", for good.
    pub async fn resume(&self, id: &TaskId) -> Result<(), EngineError> {
        let id = id.as_str();
        let _turn = self.turn(id).await?;
        let (failed, saved) = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            let finished = task.current_state() == TaskState::Finished;
            task.intent.paused = false;
            match &task.lifecycle {
                Lifecycle::Stopped | Lifecycle::Failed(_) => {
                    task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone());
                }
                Lifecycle::Resting(resting) => {
                    if finished {
                        task.intent.at_completion = AtCompletion::Seed;
                        self.inner.sidecar.set_seeding(&task.id);
                        self.inner.sidecar.set_goal_met(&task.id, None);
                    }
                    self.inner.sidecar.set_finished(&task.id, false);
                    let torrent = resting.torrent.clone();
                    task.lifecycle = self.start_wake(task, torrent);
                }
                Lifecycle::Managed { .. } if finished => {
                    task.intent.at_completion = AtCompletion::Seed;
                    self.inner.sidecar.set_seeding(&task.id);
                    // A task a goal stopped seeds again; if the goal still holds, it stops
                    // again at the watcher's next look (raise or clear the goal first).
                    self.inner.sidecar.set_goal_met(&task.id, None);
                }
                _ => {}
            }
            let saved = self.remember_intent(task);
            // librqbit's own error state (a disk error): a resume retries it.
            let failed = task
                .handle()
                .filter(|h| h.with_state(|s| matches!(s, ManagedTorrentState::Error(_))))
                .cloned();
            (failed, saved)
        };
        if let Some(handle) = failed {
            if let Err(e) = self.try_step(id, &handle, Step::Resume).await {
                return Err(EngineError::InvalidState(format!("cannot resume: {e:#}")));
            }
        }
        self.settle(id).await;
        // Answered only once the resume is on disk (see `pause`).
        self.wait_saved(saved).await;
        self.observe_task(id);
        Ok(())
    }

    /// Downloads exactly the files at `indices` (torrent order) of task `id`, skipping the
    /// rest. A choice that librqbit cannot take yet (its add or its check of data on disk is
    /// under way) is kept and given to it as soon as it can: the answer is the same.
    pub async fn set_files(&self, id: &TaskId, indices: &[u64]) -> Result<(), EngineError> {
        let id = id.as_str();
        let _turn = self.turn(id).await?;
        let saved;
        let metadata = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            if !task.metadata_known() {
                return Err(EngineError::InvalidState(
                    "the task's metadata is not known yet: choose its files once \
                     task.metadataReceived has come"
                        .into(),
                ));
            }
            let chosen = validate_choice(indices, task.files.len())?;
            let all = chosen.len() == task.files.len();
            saved = self
                .inner
                .sidecar
                .set_chosen_files(id, (!all).then(|| chosen.iter().copied().collect()));
            task.chosen_files = Some(chosen);
            task.forget_summary();
            // Complete and stopped, out of librqbit: given more files, it downloads again.
            if let Lifecycle::Resting(resting) = &task.lifecycle {
                if !task.intent.paused {
                    self.inner.sidecar.set_finished(id, false);
                    let torrent = resting.torrent.clone();
                    task.lifecycle = self.start_wake(task, torrent);
                }
            }
            task.metadata()
        };
        self.publish(Event::MetadataReceived(metadata));
        // The choice now if librqbit can take it; a finished task given more files is a
        // download again.
        self.settle(id).await;
        // Answered once the choice is on disk: a restart gives it to librqbit again.
        self.inner.sidecar.saved(saved).await;
        self.observe_task(id);
        Ok(())
    }

    /// Gives librqbit a file choice; once it has it, the task's own copy is dropped.
    async fn give_choice(&self, id: &str, handle: &Arc<ManagedTorrent>, chosen: BTreeSet<usize>) {
        let only = chosen.iter().copied().collect();
        match self.inner.librqbit.choose_files(handle, &only).await {
            Ok(()) => {
                if let Ok(task) = find(&mut self.tasks(), id) {
                    if task.chosen_files.as_ref() == Some(&chosen) {
                        task.chosen_files = None;
                    }
                }
            }
            Err(e) => tracing::debug!(task = %id, "file choice not taken yet: {e:#}"),
        }
    }

    /// Removes a task, and its downloaded files if `delete_files`. Waits for the task's turn
    /// (an add into librqbit in flight finishes first, so librqbit never keeps a torrent
    /// Magnetar forgot). Publishes `task.removed` once librqbit has let go of it; until then an
    /// add of the same hash waits.
    pub async fn remove(&self, id: &TaskId, delete_files: bool) -> Result<(), EngineError> {
        let id = id.as_str();
        let turn = self.turn(id).await?;
        let done = Arc::new(tokio::sync::Notify::new());
        let task = {
            let mut tasks = self.tasks();
            let task = tasks
                .remove(id)
                .ok_or_else(|| EngineError::NotFound(id.to_owned()))?;
            tasks.removing.insert(id.to_owned(), done.clone());
            task
        };
        for job in [&task.driver, &task.completion_watch].into_iter().flatten() {
            job.abort();
        }
        if let Lifecycle::AwaitingMetadata(fetch) = &task.lifecycle {
            fetch.abort();
        }
        // However this ends (even if the caller goes away), the removal completes and waiters
        // are released: it runs on its own tracked task.
        let engine = self.clone();
        let removal = self.inner.tracker.spawn(async move {
            let id = task.id.clone();
            let result = engine.finish_remove(task, delete_files).await;
            engine.tasks().removing.remove(&id);
            done.notify_waiters();
            drop(turn);
            result
        });
        removal
            .await
            .unwrap_or_else(|e| Err(EngineError::Internal(format!("removal failed: {e}"))))
    }

    async fn finish_remove(&self, mut task: Task, delete_files: bool) -> Result<(), EngineError> {
        // Files that were in the task's way, empty, before it came: never deleted.
        let kept = self.inner.sidecar.surveyed(&task.id).unwrap_or_default();
        let pending_magnet = self
            .inner
            .sidecar
            .pending()
            .iter()
            .any(|(id, _)| *id == task.id);
        // Its totals stay in the session's all-time totals.
        task.observe_summary();
        let forgotten = self.inner.sidecar.forget(&task.id, task.totals());
        let journal = self.clone();
        let id = task.id.clone();
        let forgot = tokio::task::spawn_blocking(move || {
            journal.inner.journal.append(&Record::Forget { id }, true)
        })
        .await;
        if !matches!(forgot, Ok(Ok(()))) {
            tracing::error!(task = %task.id, "cannot record a removal in the journal: {forgot:?}");
        }
        let mut result = Ok(());
        self.inner.bitfields.forget(&task.id);
        // Resting out of librqbit: Magnetar deletes its files itself. Only then: a task that
        // failed may name a user's file it never took (its files were refused).
        if let (Lifecycle::Resting(_), true, Some(layout)) =
            (&task.lifecycle, delete_files, &task.layout)
        {
            self.delete_files_except(&task.dir, layout, &kept);
        }
        if let Some(info_hash) = parse_id(&task.id) {
            if self.inner.librqbit.holds(info_hash) {
                // librqbit deletes every file of the torrent; with files to keep, Magnetar
                // deletes the others itself.
                let librqbit_deletes = delete_files && kept.is_empty();
                result = self
                    .inner
                    .librqbit
                    .delete(info_hash, librqbit_deletes)
                    .await
                    .map_err(|e| EngineError::Internal(format!("task removed, but: {e:#}")));
                if delete_files && !kept.is_empty() {
                    if let Some(layout) = &task.layout {
                        self.delete_files_except(&task.dir, layout, &kept);
                    }
                }
            }
        }
        self.tasks().owners.release(&task.id);
        if pending_magnet {
            // A magnet without metadata is remembered by the sidecar alone.
            self.inner.sidecar.saved(forgotten).await;
        }
        self.publish(Event::Removed {
            task_id: task.id.clone(),
        });
        result
    }

    /// Stops seeding task `id` because it met a seeding goal (`reason`): in its turn, like
    /// every change to a task, on a job of its own (the watcher that saw the goal met cannot
    /// wait for a turn). The goal is checked again in the turn: a command that came first (a
    /// pause, a raised goal) wins. The stop is the same as a completion with seeding off: the
    /// intent becomes "stop when complete", librqbit is paused, and the state becomes 3,
    /// announced with the reason. It is saved (with the totals) before it is announced (the
    /// watcher leaves a task alone while `goal_stopping`), so a kill -9 right after keeps it.
    /// The caller has set `goal_stopping`.
    pub(super) fn stop_at_goal(&self, id: &str) {
        let engine = self.clone();
        let id = id.to_owned();
        self.inner.tracker.spawn(async move {
            let Ok(turn) = engine.turn(&id).await else {
                return;
            };
            let global = engine.global_seed_goal();
            let met = engine.with_task(&id, |task| {
                let summary = task.observe_summary();
                let met = task
                    .goal_met(&global, &summary)
                    .filter(|_| !task.intent.paused);
                match met {
                    Some(reason) => {
                        task.intent.at_completion = AtCompletion::Stop;
                        task.stop_reason = Some(reason);
                    }
                    None => task.goal_stopping = false,
                }
                met
            });
            let Ok(Some(reason)) = met else {
                return;
            };
            tracing::info!(task = %id, reason = reason.as_str(), "seeding goal met: stopping");
            engine
                .inner
                .sidecar
                .set_goal_met(&id, Some(reason.as_str()));
            engine.settle(&id).await;
            // What the stop will show is what is saved.
            let _ = engine.with_task(&id, |task| task.settle_clock());
            let saved = engine.save_totals();
            engine.inner.sidecar.saved(saved).await;
            let _ = engine.with_task(&id, |task| task.goal_stopping = false);
            drop(turn);
            engine.observe_task(&id);
        });
    }

    /// Changes task `id`'s own seeding goal: each `Some` field replaces that limit, each
    /// `None` leaves it as it is. Answered once the goal is on disk. A goal the task now
    /// meets stops it at the watcher's next look. Returns the task's goal after the change.
    /// Task `id`'s own seeding goal and the goal in force, read only: no turn is taken and
    /// nothing is saved (`task.getSeedGoal`, and Transmission's `torrent-get`).
    pub fn seed_goal(&self, id: &TaskId) -> Result<(GoalOverrides, SeedGoal), EngineError> {
        let global = self.global_seed_goal();
        self.with_task(id.as_str(), |task| {
            (task.goal, task.goal.over(&task.label_goal.over(&global)))
        })
    }

    pub async fn set_seed_goal(
        &self,
        id: &TaskId,
        ratio: Option<Limit<f64>>,
        seed_minutes: Option<Limit<u64>>,
        idle_minutes: Option<Limit<u64>>,
    ) -> Result<(GoalOverrides, SeedGoal), EngineError> {
        let id = id.as_str();
        let _turn = self.turn(id).await?;
        let global = self.global_seed_goal();
        let (goal, effective) = self.with_task(id, |task| {
            let goal = &mut task.goal;
            if let Some(ratio) = ratio {
                goal.ratio = ratio;
            }
            if let Some(minutes) = seed_minutes {
                goal.seed_minutes = minutes;
            }
            if let Some(minutes) = idle_minutes {
                goal.idle_minutes = minutes;
            }
            (*goal, goal.over(&task.label_goal.over(&global)))
        })?;
        let saved = self.inner.sidecar.set_goal(id, goal);
        self.inner.sidecar.saved(saved).await;
        self.inner.watcher_wake.notify_one();
        Ok((goal, effective))
    }

    /// Deletes a removed task's files except `kept`, then the folders that are left empty
    /// (the torrent's own folder included, never the download folder).
    fn delete_files_except(&self, root: &Path, layout: &Layout, kept: &[PathBuf]) {
        for file in layout.files.iter().filter(|f| !kept.contains(f)) {
            let path = root.join(file);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), "cannot delete: {e}");
                }
            }
            for folder in file.ancestors().skip(1) {
                if folder.as_os_str().is_empty() || std::fs::remove_dir(root.join(folder)).is_err()
                {
                    break;
                }
            }
        }
    }

    /// Records what the user wants of a task, so that it holds after a restart: a magnet still
    /// without metadata is remembered with it in the sidecar; any other task's pause or resume
    /// is a line in the journal. Returns what to wait for before answering
    /// ([`Engine::wait_saved`]).
    fn remember_intent(&self, task: &Task) -> Saved {
        let paused = task.intent.paused;
        match &task.origin {
            Origin::Magnet { uri, peers } if !task.metadata_known() => {
                let pending = PendingMagnet {
                    uri: uri.clone(),
                    peers: peers.clone(),
                    paused,
                    files: task
                        .chosen_files
                        .as_ref()
                        .map(|c| c.iter().copied().collect()),
                };
                Saved::Sidecar(self.inner.sidecar.set_pending(&task.id, Some(pending)))
            }
            _ => {
                let record = Record::Paused {
                    id: task.id.clone(),
                    paused,
                };
                if let Err(e) = self.inner.journal.append(&record, false) {
                    tracing::warn!(task = %task.id, "cannot record a pause in the journal: {e}");
                }
                Saved::Journal
            }
        }
    }

    /// Waits until an intent recorded by [`Engine::remember_intent`] is on disk.
    async fn wait_saved(&self, saved: Saved) {
        match saved {
            Saved::Sidecar(version) => self.inner.sidecar.saved(version).await,
            Saved::Journal => {
                let engine = self.clone();
                let synced = tokio::task::spawn_blocking(move || engine.inner.journal.sync()).await;
                if !matches!(synced, Ok(Ok(()))) {
                    tracing::error!("cannot sync the journal: {synced:?}");
                }
            }
        }
    }

    /// Takes, in the caller's turn, every step towards the intent that librqbit can take at
    /// once (a file choice, then a pause or resume); what it cannot take yet is left to the
    /// driver. Failures are logged: the driver tries again.
    pub(super) async fn settle(&self, id: &str) {
        for _ in 0..3 {
            let Ok(Some((handle, step))) =
                self.with_task(id, |t| t.handle().cloned().map(|h| (h, t.next_step())))
            else {
                return;
            };
            match step {
                Step::Settled => return self.rest(id).await,
                Step::Wait => return self.spawn_driver(id),
                _ => {
                    if let Err(e) = self.try_step(id, &handle, step).await {
                        tracing::debug!(task = %id, ?step, "librqbit did not take the step yet: {e:#}");
                        return self.spawn_driver(id);
                    }
                }
            }
        }
        self.spawn_driver(id);
    }

    async fn try_step(
        &self,
        id: &str,
        handle: &Arc<ManagedTorrent>,
        step: Step,
    ) -> anyhow::Result<()> {
        match step {
            Step::Settled => {}
            Step::Wait => self.spawn_driver(id),
            Step::Pause => {
                let stopping = self.with_task(id, |t| !t.intent.paused).unwrap_or(false);
                if let Err(e) = self.inner.librqbit.pause(handle).await {
                    if !handle.is_paused() {
                        return Err(e);
                    }
                }
                if stopping {
                    // Not the user's pause: the download is complete and seeding is off.
                    self.inner.sidecar.set_finished(id, true);
                }
            }
            Step::Resume => {
                self.inner.sidecar.set_finished(id, false);
                self.inner.librqbit.unpause(handle).await?;
            }
            Step::ChooseFiles => {
                let chosen = self.with_task(id, |t| t.chosen_files.clone())?;
                if let Some(chosen) = chosen {
                    self.give_choice(id, handle, chosen).await;
                }
            }
        }
        Ok(())
    }

    /// Starts the driver of task `id` unless one runs already.
    pub(super) fn spawn_driver(&self, id: &str) {
        let mut tasks = self.tasks();
        let Ok(task) = find(&mut tasks, id) else {
            return;
        };
        self.spawn_driver_for(task);
    }

    /// [`Engine::spawn_driver`] for a task the caller holds.
    pub(super) fn spawn_driver_for(&self, task: &mut Task) {
        if task.driver.is_some() {
            return;
        }
        let engine = self.clone();
        let id = task.id.clone();
        let job = self.inner.tracker.spawn(async move {
            let started = tokio::time::Instant::now();
            loop {
                let Ok(turn) = engine.turn(&id).await else {
                    return; // removed
                };
                let patience_over = started.elapsed() > DRIVE_PATIENCE;
                // Decided in the turn, and the driver leaves in the same breath: a command
                // that comes next either sees it running or starts another.
                let next = engine.with_task(&id, |t| {
                    let step = t.next_step();
                    let handle = t.handle().cloned();
                    if step == Step::Settled || patience_over || handle.is_none() {
                        t.driver = None;
                        return None;
                    }
                    handle.map(|h| (h, step))
                });
                let Ok(Some((handle, step))) = next else {
                    if patience_over {
                        tracing::warn!(task = %id, "librqbit did not settle in time; giving up");
                        let _ = engine.with_task(&id, |t| t.check_permit = None);
                    } else {
                        engine.rest(&id).await;
                    }
                    drop(turn);
                    engine.observe_task(&id);
                    return;
                };
                if step != Step::Wait {
                    if let Err(e) = engine.try_step(&id, &handle, step).await {
                        tracing::debug!(task = %id, ?step, "retrying: {e:#}");
                    }
                }
                drop(turn);
                engine.observe_task(&id);
                tokio::time::sleep(DRIVE_INTERVAL).await;
            }
        });
        task.driver = Some(job.abort_handle());
    }
}

/// Where a recorded intent waits to be on disk.
enum Saved {
    Sidecar(u64),
    Journal,
}

/// A file choice as a set of indices, or why it is not one.
pub(super) fn validate_choice(
    indices: &[u64],
    count: usize,
) -> Result<BTreeSet<usize>, EngineError> {
    let mut chosen = BTreeSet::new();
    for &index in indices {
        let valid = usize::try_from(index).ok().filter(|i| *i < count);
        let Some(index) = valid else {
            return Err(EngineError::InvalidInput(format!(
                "file index {index} is out of range: the task has {count} files (0 to {})",
                count.saturating_sub(1)
            )));
        };
        if !chosen.insert(index) {
            return Err(EngineError::InvalidInput(format!(
                "file index {index} is listed twice"
            )));
        }
    }
    Ok(chosen)
}

fn parse_id(id: &str) -> Option<Id20> {
    id.parse().ok()
}
