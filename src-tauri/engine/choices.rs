//! What the user chose about downloading: which files of a task (`task.setFiles`, on librqbit's
//! `update_only_files`, which librqbit persists) and the session's global rate limits
//! (`session.setLimits`, on librqbit's session limits; the API layer persists them in the
//! settings).

use std::collections::HashSet;
use std::num::NonZeroU32;

use super::task::Phase;
use super::{find, Engine, EngineError};
use crate::protocol::Event;

impl Engine {
    /// Downloads exactly the files at `indices` (torrent order) of task `id`, skipping the rest.
    pub async fn set_files(&self, id: &str, indices: &[u64]) -> Result<(), EngineError> {
        let (handle, count) = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            let Phase::Managed(handle) = &task.phase else {
                return Err(EngineError::InvalidState(
                    "the task's metadata is not known yet (or it failed): try again once it \
                     downloads"
                        .into(),
                ));
            };
            (handle.clone(), task.files.len())
        };
        let mut chosen = HashSet::new();
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
        self.inner
            .session
            .update_only_files(&handle, &chosen)
            .await
            .map_err(|e| EngineError::InvalidState(format!("cannot choose files now: {e:#}")))?;
        // A finished task (stopped at completion, seeding off) given more files to download
        // is a download again: it runs, and stops again once those are complete.
        let reopened = self
            .with_task(id, |task| {
                let reopen = task.finished_stopped && !handle.stats().finished;
                if reopen {
                    task.finished_stopped = false;
                }
                reopen
            })
            .unwrap_or(false);
        if reopened {
            self.inner.sidecar.set_finished(id, false);
            if let Err(e) = self.inner.session.unpause(&handle).await {
                tracing::warn!(task = %id, "cannot restart a finished task for its new files: {e:#}");
            }
        }
        let metadata = self.metadata(id)?;
        self.publish(Event::MetadataReceived(metadata));
        if let Ok(task) = find(&mut self.tasks(), id) {
            task.forget_summary();
        }
        self.observe_task(id);
        Ok(())
    }

    /// Sets the session's global limits in bytes per second (`None` or 0: unlimited).
    pub fn set_limits(&self, download_bps: Option<u32>, upload_bps: Option<u32>) {
        let limits = &self.inner.session.ratelimits;
        limits.set_download_bps(download_bps.and_then(NonZeroU32::new));
        limits.set_upload_bps(upload_bps.and_then(NonZeroU32::new));
    }

    /// The session's global limits (`None`: unlimited).
    pub fn limits(&self) -> (Option<u32>, Option<u32>) {
        let limits = &self.inner.session.ratelimits;
        (
            limits.get_download_bps().map(NonZeroU32::get),
            limits.get_upload_bps().map(NonZeroU32::get),
        )
    }
}
