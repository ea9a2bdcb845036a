//! `task.recheck`: checking a task's data on disk again.
//!
//! librqbit 9.1 has no call for it, and with fastresume it trusts the pieces it saved. What it
//! does check is the data of a torrent it is given afresh: so the task's torrent is taken out of
//! librqbit's session, keeping its files (its saved pieces go with it), and added again into
//! the same folder with the same file choice and intent. librqbit then hashes every piece on
//! disk; a piece that no longer matches is missing again and downloaded from peers. All of it
//! in the task's turn, like every lifecycle change: the task keeps its id, label, totals,
//! folder and file choice, and shows state 0 while its data is checked (4 if it is paused).
//! A kill -9 between the two steps loses nothing: the add journal still holds the torrent and
//! the next start adds it again (see `restore.rs`).

use super::task::Lifecycle;
use super::{find, Engine, EngineError};
use crate::protocol::TaskId;

impl Engine {
    /// Re-checks task `id`'s data on disk. Answered once the torrent is back in librqbit; the
    /// check itself runs on (state 0, then the task's real state).
    pub async fn recheck(&self, id: &TaskId) -> Result<(), EngineError> {
        let id = id.as_str();
        let turn = self.turn(id).await?;
        let (handle, bytes) = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            if let Lifecycle::Resting(resting) = &task.lifecycle {
                let bytes = resting.torrent.to_vec();
                task.lifecycle = Lifecycle::Adding;
                (None, bytes)
            } else {
                let handle = match &task.lifecycle {
                    Lifecycle::Managed {
                        handle,
                        restarting: false,
                    } => handle.clone(),
                    Lifecycle::Failed(_) => {
                        return Err(EngineError::InvalidState(
                            "the task has failed: resume it to retry (that checks its data too)"
                                .into(),
                        ))
                    }
                    _ => return Err(EngineError::InvalidState(
                        "the task has no data to check yet (its metadata or its add is on its way)"
                            .into(),
                    )),
                };
                let Some(bytes) = handle.with_metadata(|m| m.torrent_bytes.to_vec()).ok() else {
                    return Err(EngineError::InvalidState(
                        "the task's metadata is not known yet".into(),
                    ));
                };
                // The file choice librqbit holds goes into the new add.
                if task.chosen_files.is_none() {
                    task.chosen_files = handle.only_files().map(|only| only.into_iter().collect());
                }
                // Its counters end here: the new torrent's start again at 0.
                task.observe_summary();
                task.end_live_period();
                for job in [task.driver.take(), task.completion_watch.take()]
                    .into_iter()
                    .flatten()
                {
                    job.abort();
                }
                task.lifecycle = Lifecycle::Adding;
                (Some(handle), bytes)
            }
        };
        let Some(handle) = handle else {
            // It rested out of librqbit: added to it again without its bitfield, so that
            // librqbit hashes every piece (then it rests again if it is paused).
            self.inner.bitfields.forget(id);
            self.observe_task(id);
            tracing::info!(task = %id, "re-checking its data: adding it to librqbit");
            let result = self.add_known_torrent(id, bytes, Vec::new()).await;
            let failed = result.as_ref().err().map(|e| format!("{e:#}"));
            self.finish_add(id, result).await;
            drop(turn);
            return match failed {
                None => Ok(()),
                Some(why) => Err(EngineError::Internal(format!("re-check failed: {why}"))),
            };
        };
        // State 0 (or 4) now.
        self.observe_task(id);
        tracing::info!(task = %id, "re-checking its data: re-adding it to librqbit");
        let info_hash = handle.info_hash();
        drop(handle);
        let result = match self.inner.librqbit.delete(info_hash, false).await {
            Ok(()) => self.add_known_torrent(id, bytes, Vec::new()).await,
            Err(e) => Err(e.context("cannot take the torrent out of librqbit to check it")),
        };
        let failed = result.as_ref().err().map(|e| format!("{e:#}"));
        self.finish_add(id, result).await;
        drop(turn);
        match failed {
            None => Ok(()),
            Some(why) => Err(EngineError::Internal(format!("re-check failed: {why}"))),
        }
    }
}
