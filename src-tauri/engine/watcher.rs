//! librqbit has no event stream, so the watcher polls it and turns differences into events:
//! `task.stateUpdated` on every real transition (checked four times a second, and at once by the
//! API calls that change a state, before they answer) and `task.updated` about once a second with
//! only the tasks whose numbers changed, so that an idle session sends nothing.
//!
//! Idle costs nothing: a task that cannot change by itself (paused, finished and stopped,
//! failed, or never started) is skipped once its last numbers were published, and when every
//! task is like that the watcher sleeps until an API call wakes it (or, as a safety net, for
//! [`IDLE_RECHECK`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::task::{Step, Task};
use super::{find, Engine};
use crate::protocol::{Event, TaskState, TaskSummary};

/// How often states are compared.
const STATE_INTERVAL: Duration = Duration::from_millis(250);
/// Every how many state checks the full numbers are sampled and `task.updated` is sent.
const TICKS_PER_UPDATE: u32 = 4;
/// How long an idle watcher sleeps when nothing wakes it.
const IDLE_RECHECK: Duration = Duration::from_secs(10);
/// How often a completion watch checks that its download is still live.
const COMPLETION_RECHECK: Duration = Duration::from_secs(5);
/// Every how many state checks the totals are saved (about once a minute), so that a crash
/// loses at most about a minute of them; a clean shutdown saves them exactly.
const TICKS_PER_SAVE: u32 = 240;

/// Runs the watcher until the engine's cancel fires. A watcher that panics is logged and
/// restarted a second later: without it no event would ever be published again.
pub async fn supervise(engine: Engine) {
    let cancel = engine.inner.cancel.clone();
    loop {
        let watcher = tokio::spawn(run(engine.clone(), cancel.clone()));
        match watcher.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let why = super::panic_message(e.into_panic().as_ref());
                tracing::error!("the watcher panicked ({why}); restarting it");
            }
            Err(e) => {
                tracing::error!("the watcher stopped ({e}); restarting it");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Runs until `cancel` fires.
async fn run(engine: Engine, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(STATE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: u32 = 0;
    let mut was_active = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {
                tick = tick.wrapping_add(1);
                let active = engine.observe(tick.is_multiple_of(TICKS_PER_UPDATE));
                if tick.is_multiple_of(TICKS_PER_SAVE) {
                    engine.save_totals();
                }
                if !active {
                    // Nothing can move by itself: sleep until an API call wakes us.
                    crate::runtime::relax_timers(true);
                    if was_active {
                        engine.save_totals();
                        crate::memory::trim_soon();
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = engine.inner.watcher_wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_RECHECK) => {}
                    }
                    interval.reset();
                }
                was_active = active;
            }
        }
    }
}

impl Engine {
    /// One watcher pass: publish state transitions, and with `full`, changed numbers. Returns
    /// whether any task may still change by itself (else the watcher can sleep).
    pub(super) fn observe(&self, full: bool) -> bool {
        let mut tasks = self.tasks();
        let mut changed = Vec::new();
        let mut active = false;
        let mut peers_connected = false;
        for task in tasks.iter_mut() {
            if task.is_settled() {
                continue;
            }
            active = true;
            self.look_at(task, full, &mut changed);
            peers_connected |= task
                .last_summary
                .as_ref()
                .is_some_and(|s| s.connected_peers > 0);
        }
        if !changed.is_empty() {
            self.publish(Event::Updated(changed));
        }
        if full {
            // Timers may coalesce only while no data can flow (see `crate::runtime`).
            crate::runtime::relax_timers(!peers_connected);
        }
        active
    }

    /// One look at one task: its state transition is published at once; with `full`, its
    /// numbers are sampled and, if they changed, pushed onto `changed`.
    fn look_at(&self, task: &mut Task, full: bool, changed: &mut Vec<TaskSummary>) {
        if task.goal_stopping {
            // A goal stops it: announced by the stop, once it is on disk.
            return;
        }
        // librqbit is not where the user wants it (a download completed with seeding off, a
        // check that ended live over a pause): the driver takes it there.
        let drifted = matches!(
            task.next_step(),
            Step::Pause | Step::Resume | Step::ChooseFiles
        );
        if drifted {
            self.spawn_driver_for(task);
        }
        let summary = full.then(|| {
            task.sample_peers();
            let summary = task.observe_summary();
            self.restart_if_stalled(task, &summary);
            summary
        });
        // A seeding goal met: the stop takes the task's turn (`goal_stopping` was false, or
        // this look would have ended above).
        if let Some(summary) = &summary {
            if task.goal_met(&self.global_seed_goal(), summary).is_some() {
                task.goal_stopping = true;
                self.stop_at_goal(&task.id);
            }
        }
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
        if task.state == TaskState::Downloading && task.completion_watch.is_none() {
            self.watch_completion(task);
        }
        if let Some(summary) = summary {
            if task.last_summary.as_ref() != Some(&summary) {
                changed.push(summary.clone());
                task.remember_summary(summary);
            }
        }
    }

    /// After an API call that changed task `id`: publish its transition now, before the call
    /// answers (a quick pause-resume must not slip between two looks of the watcher), and wake
    /// an idle watcher, since something may have started to move. Only that task is looked
    /// at, so a bulk pause of N tasks costs N looks, not N passes over every task.
    pub(super) fn observe_task(&self, id: &str) {
        if let Ok(task) = find(&mut self.tasks(), id) {
            self.look_at(task, false, &mut Vec::new());
        }
        self.inner.watcher_wake.notify_one();
    }

    /// Announces a download's completion the moment librqbit has it, rather than at the next
    /// look (up to a quarter of a second later): a client waiting for "complete" (a script, a
    /// notification) hears it at once. librqbit notifies completion without polling; the job
    /// checks every few seconds that the download is still live, so a pause or a removal ends it.
    fn watch_completion(&self, task: &mut Task) {
        let Some(handle) = task.handle().cloned() else {
            return;
        };
        let engine = self.clone();
        let id = task.id.clone();
        let cancel = self.inner.cancel.clone();
        let job = self.inner.tracker.spawn(async move {
            loop {
                let Some(live) = handle.live() else { break };
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = live.wait_until_completed() => {
                        engine.observe_task(&id);
                        break;
                    }
                    _ = tokio::time::sleep(COMPLETION_RECHECK) => {}
                }
            }
            if let Ok(task) = find(&mut engine.tasks(), &id) {
                task.completion_watch = None;
            }
        });
        task.completion_watch = Some(job.abort_handle());
    }

    fn announce_state(&self, task: &mut Task, new_state: TaskState) {
        // The time so far belongs to the state that ends here; summaries show the seconds as
        // of this transition (see `Task::mark_state_start`).
        task.advance_clock();
        task.mark_state_start();
        let reason = match new_state {
            TaskState::Finished => task.stop_reason.take().map(|r| r.as_str()),
            _ => None,
        };
        if new_state == TaskState::Uploading {
            task.idle_since = std::time::Instant::now();
        }
        self.publish(Event::StateUpdated {
            task_id: task.id.clone(),
            old_state: task.state,
            new_state,
            reason,
        });
        task.state = new_state;
    }
}
