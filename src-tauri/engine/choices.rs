//! What the user chose about downloading: which files of a task (`task.setFiles`, on librqbit's
//! `update_only_files`, which librqbit persists), the session's global rate limits
//! (`session.setLimits`, on librqbit's session limits; the API layer persists them in the
//! settings) and whether complete tasks seed (the `seed` setting).

use std::sync::atomic::Ordering;

use super::task::{AtCompletion, Lifecycle, Step};
use super::Engine;

impl Engine {
    /// Sets the session's global limits in bytes per second (`None` or 0: unlimited).
    pub fn set_limits(&self, download_bps: Option<u32>, upload_bps: Option<u32>) {
        self.inner.librqbit.set_limits(download_bps, upload_bps);
    }

    /// The session's global limits (`None`: unlimited).
    pub fn limits(&self) -> (Option<u32>, Option<u32>) {
        self.inner.librqbit.limits()
    }

    /// Is seeding on (complete tasks keep seeding, state 2)?
    pub fn seeding_on(&self) -> bool {
        self.inner.seed.load(Ordering::Relaxed)
    }

    /// Turns seeding on or off at run time, as a restart with the `seed` setting changed
    /// would: every task takes the new rule, except those the user chose to seed
    /// (`task.resume` of a finished task), which keep seeding. Off: a seeding task stops
    /// (state 3); on: a finished one seeds again (state 2). Each task's driver takes it there
    /// in its own turn.
    pub fn set_seed(&self, seed: bool) {
        self.inner.seed.store(seed, Ordering::Relaxed);
        let mut tasks = self.tasks();
        for task in tasks.iter_mut() {
            task.intent.at_completion = if seed || self.inner.sidecar.is_seeding(&task.id) {
                AtCompletion::Seed
            } else {
                AtCompletion::Stop
            };
            if matches!(task.next_step(), Step::Pause | Step::Resume) {
                self.spawn_driver_for(task);
            }
            // Complete and stopped, out of librqbit: it seeds now.
            if let Lifecycle::Resting(resting) = &task.lifecycle {
                if !task.intent.paused && task.intent.at_completion == AtCompletion::Seed {
                    self.inner.sidecar.set_finished(&task.id, false);
                    let torrent = resting.torrent.clone();
                    task.lifecycle = self.start_wake(task, torrent);
                }
            }
        }
        drop(tasks);
        self.inner.watcher_wake.notify_one();
    }
}
