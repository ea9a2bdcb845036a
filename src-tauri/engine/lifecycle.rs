//! A task's life through the API: added, paused, resumed, removed. Adding runs librqbit's
//! `add_torrent` in the background (for a magnet it only returns once the metadata is in), so the
//! task exists at once and the outcome is recorded when the add finishes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use librqbit::api::TorrentIdOrHash;
use librqbit::dht::Id20;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse, ManagedTorrent};

use super::sidecar::PendingMagnet;
use super::task::{Origin, Phase, Task};
use super::{find, source, Engine, EngineError, Source, SourceKind};
use crate::protocol::Event;

/// Pauses between attempts to fetch a magnet's metadata from its `x.pe` peers.
const MAGNET_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
];

impl Engine {
    /// Validates nothing: `source` comes from [`super::parse_magnet`] or [`super::parse_torrent`].
    /// Registers the task, publishes `task.created` and starts adding it in the background.
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

    /// Pauses a task. Pausing a paused task is not an error and changes nothing.
    pub async fn pause(&self, id: &str) -> Result<(), EngineError> {
        let handle = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            // A user's pause wins over an engine restart in progress (see stall.rs).
            let restarting = std::mem::replace(&mut task.restarting, false);
            match &task.phase {
                Phase::Managed(handle) if restarting => Some(handle.clone()),
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
            // "Already paused" (a race with an engine restart) is what the caller wanted.
            if let Err(e) = self.inner.session.pause(&handle).await {
                if !handle.is_paused() {
                    return Err(EngineError::InvalidState(format!("cannot pause: {e:#}")));
                }
            }
        }
        // Publish the transition now, before answering: a quick pause-resume must not slip
        // between two looks of the watcher.
        self.observe(false);
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
        // Publish the transition now, before answering: a quick pause-resume must not slip
        // between two looks of the watcher.
        self.observe(false);
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

    /// Starts librqbit's `add_torrent` for `origin` in the background.
    pub(super) fn spawn_add(&self, id: String, origin: Origin) -> tokio::task::AbortHandle {
        let engine = self.clone();
        tokio::spawn(async move {
            let result = engine.run_add(origin).await;
            engine.finish_add(&id, result);
        })
        .abort_handle()
    }

    async fn run_add(&self, origin: Origin) -> anyhow::Result<AddTorrentResponse> {
        let peers = match &origin {
            Origin::Magnet { peers, .. } => source::resolve_peers(peers).await,
            Origin::Torrent { .. } => Vec::new(),
        };
        let mut attempt = 0;
        loop {
            let add = match &origin {
                Origin::Magnet { uri, .. } => AddTorrent::from_url(uri.clone()),
                Origin::Torrent { bytes } => AddTorrent::from_bytes(bytes.to_vec()),
            };
            let opts = AddTorrentOptions {
                preferred_id: Some(self.inner.next_torrent_id.fetch_add(1, Ordering::Relaxed)),
                // Data already on disk is hash-checked and kept, not refused.
                overwrite: true,
                initial_peers: (!peers.is_empty()).then(|| peers.clone()),
                ..Default::default()
            };
            let result = self.inner.session.add_torrent(add, Some(opts)).await;
            // A magnet whose only sources are its x.pe peers fails as soon as each has been
            // tried once; a peer that was busy or restarting deserves a few more tries.
            let retry = result.is_err()
                && !peers.is_empty()
                && matches!(origin, Origin::Magnet { .. })
                && attempt < MAGNET_RETRIES.len();
            if !retry {
                return result;
            }
            tracing::info!(
                attempt,
                "magnet metadata not fetched from its peers yet; retrying"
            );
            tokio::time::sleep(MAGNET_RETRIES[attempt]).await;
            attempt += 1;
        }
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
                    task.fill_metadata(&handle);
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
        self.observe(false);
    }

    fn spawn_forget(&self, handle: Arc<ManagedTorrent>) {
        let session = self.inner.session.clone();
        tokio::spawn(async move {
            let _ = session
                .delete(TorrentIdOrHash::Hash(handle.info_hash()), false)
                .await;
        });
    }
}

fn parse_id(id: &str) -> Option<Id20> {
    id.parse().ok()
}
