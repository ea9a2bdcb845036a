//! A task's life through the API: added, paused, resumed, removed.
//!
//! Adding is synchronous up to the point where the task exists (validated, its paths claimed,
//! `task.created` published); the rest runs in the background. For a magnet that is two steps:
//! librqbit first only fetches the metadata (`list_only`), which is validated and whose paths are
//! claimed like a .torrent's, and only then is the torrent added for real, into its own folder.
//! So a magnet whose metadata is hostile, or whose files would land on another task's, fails
//! (state 5) without writing a byte.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use librqbit::api::TorrentIdOrHash;
use librqbit::dht::Id20;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ManagedTorrent, ManagedTorrentState,
};

use super::existing::{self, Kept};
use super::placement::Layout;
use super::sidecar::{PendingMagnet, StoredTorrent};
use super::task::{Origin, Phase, Task};
use super::{find, parse_torrent, source, Engine, EngineError, Source, SourceKind};
use crate::durable;
use crate::protocol::Event;

/// Pauses between attempts to fetch a magnet's metadata from its `x.pe` peers.
const MAGNET_RETRIES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
];
/// How long an add of a task whose removal is in flight waits for that removal.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

impl Engine {
    /// Validates nothing: `source` comes from [`super::parse_magnet`] or [`super::parse_torrent`].
    /// Claims the task's paths, registers it, publishes `task.created` and starts adding it in
    /// the background; with `paused`, the task starts paused (state 4): a torrent is added to
    /// librqbit paused (its data on disk is still checked), a magnet waits without fetching.
    /// An add of a task that is being removed waits for the removal to finish, so that the old
    /// `task.removed` always comes before the new `task.created`. A magnet's add answers only
    /// once the magnet is on disk (nothing else remembers it until its metadata arrives).
    pub async fn add(&self, source: Source, paused: bool) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + REMOVAL_WAIT;
        loop {
            let removed = match self.removing().get(&source.id) {
                Some(done) => done.clone(),
                None => break,
            };
            // Registered before looking again: a removal that ends between the two looks
            // wakes this waiter instead of leaving it to time out (notify_waiters keeps no
            // permit for a waiter that was not registered yet).
            let notified = removed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.removing().contains_key(&source.id) {
                break;
            }
            let waited = tokio::time::timeout_at(deadline, notified).await;
            if waited.is_err() {
                return Err(EngineError::AlreadyExists(format!(
                    "{} (its removal is still in progress; try again)",
                    source.id
                )));
            }
        }
        let id = source.id.clone();
        let torrent = match &source.kind {
            SourceKind::Torrent { bytes, layout, .. } => Some((
                self.survey_files(&id, bytes.clone(), layout.clone())
                    .await?,
                bytes.clone(),
            )),
            SourceKind::Magnet { .. } => None,
        };
        let mut must_save = self.add_now(source, paused)?;
        if paused {
            // `task.created` implies state 0: the 0→4 transition follows before the answer.
            self.observe_task(&id);
        }
        if let Some((kept, bytes)) = torrent {
            must_save = self.store_torrent(&id, bytes, kept, paused).await;
        }
        if let Some(version) = must_save {
            self.inner.sidecar.saved(version).await;
        }
        Ok(())
    }

    /// Checks the files already where the torrent's go (see `existing.rs`), unless this task's
    /// were checked before; returns the empty ones it must keep. Refuses a torrent whose file
    /// would land on another task's before reading anything.
    async fn survey_files(
        &self,
        id: &str,
        bytes: Vec<u8>,
        layout: Layout,
    ) -> Result<Option<Kept>, EngineError> {
        if self.inner.sidecar.surveyed(id).is_some() {
            return Ok(None);
        }
        let files: Vec<PathBuf> = layout
            .files
            .iter()
            .map(|f| self.inner.config.download_dir.join(f))
            .collect();
        if let Some(collision) = self.owners().collision(id, &files) {
            return Err(EngineError::InvalidInput(collision.message()));
        }
        let dir = self.inner.config.download_dir.clone();
        tokio::task::spawn_blocking(move || existing::survey(&dir, &bytes, &layout))
            .await
            .map_err(|e| EngineError::Internal(format!("checking files in the way failed: {e}")))?
            .map(Some)
            .map_err(EngineError::InvalidInput)
    }

    /// Puts an answered .torrent add on disk before it is answered: its bytes in
    /// `torrents/<id>.torrent` (written and fsynced), and the task in the sidecar. librqbit
    /// persists it only later, without fsync. Returns the sidecar version to wait for.
    async fn store_torrent(
        &self,
        id: &str,
        bytes: Vec<u8>,
        kept: Option<Kept>,
        paused: bool,
    ) -> Option<u64> {
        let path = self.stored_torrent_path(id);
        let write_path = path.clone();
        let written = tokio::task::spawn_blocking(move || {
            durable::write_atomically(&write_path, &bytes, durable::Access::Shared)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(task = %id, path = %path.display(), "cannot store the torrent: {written:?}");
        }
        // Recorded under the task table's lock: a removal that overtook this add has taken the
        // task out of the table, and must not find it remembered afterwards.
        let tasks = self.tasks();
        if !tasks.contains(id) {
            drop(tasks);
            let _ = std::fs::remove_file(&path);
            return None;
        }
        if let Some(kept) = kept {
            self.inner.sidecar.set_surveyed(id, kept);
        }
        Some(self.inner.sidecar.set_torrent(id, StoredTorrent { paused }))
    }

    /// Where an added .torrent is kept by Magnetar itself.
    pub(super) fn stored_torrent_path(&self, id: &str) -> PathBuf {
        self.inner
            .config
            .state_dir
            .join("torrents")
            .join(format!("{id}.torrent"))
    }

    /// The synchronous part of [`Engine::add`]; returns the sidecar version to wait for, if
    /// the task must be on disk before the add is answered.
    fn add_now(&self, source: Source, paused: bool) -> Result<Option<u64>, EngineError> {
        let mut tasks = self.tasks();
        if tasks.contains(&source.id) || self.removing().contains_key(&source.id) {
            return Err(EngineError::AlreadyExists(source.id));
        }
        if let SourceKind::Torrent { layout, .. } = &source.kind {
            self.claim_paths(&source.id, layout)?;
        }
        let mut must_save = None;
        let origin = match &source.kind {
            SourceKind::Magnet { uri, peers } => {
                let pending = PendingMagnet {
                    uri: uri.clone(),
                    peers: peers.clone(),
                    paused,
                };
                must_save = Some(self.inner.sidecar.set_pending(&source.id, Some(pending)));
                Origin::Magnet {
                    uri: uri.clone(),
                    peers: peers.clone(),
                }
            }
            SourceKind::Torrent { bytes, .. } => Origin::Torrent {
                bytes: Arc::new(bytes.clone()),
            },
        };
        let magnet_waits = paused && must_save.is_some();
        let phase = if magnet_waits {
            Phase::Stopped
        } else {
            Phase::Adding(self.spawn_add(source.id.clone(), origin.clone()))
        };
        let mut task = self.new_task(source.id.clone(), source.name.clone(), origin, phase);
        task.fill_metadata(&source);
        // A paused torrent reports paused from the start; the add tells librqbit so.
        task.pause_pending = paused && !magnet_waits;
        self.publish(Event::Created(task.metadata()));
        tasks.push(task);
        self.inner.watcher_wake.notify_one();
        Ok(must_save)
    }

    /// Claims `layout`'s paths for task `id`, or says which task holds one of them already.
    fn claim_paths(&self, id: &str, layout: &Layout) -> Result<(), EngineError> {
        let files: Vec<PathBuf> = layout
            .files
            .iter()
            .map(|f| self.inner.config.download_dir.join(f))
            .collect();
        let mut owners = self.owners();
        if let Some(collision) = owners.collision(id, &files) {
            return Err(EngineError::InvalidInput(collision.message()));
        }
        owners.claim(id, files);
        Ok(())
    }

    /// Pauses a task. Pausing a paused task is not an error and changes nothing.
    pub async fn pause(&self, id: &str) -> Result<(), EngineError> {
        let handle = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            // A resume still waiting for librqbit's check is called off.
            task.resume_pending = false;
            // A user's pause wins over an engine restart in progress (see stall.rs).
            let restarting = std::mem::replace(&mut task.restarting, false);
            match &task.phase {
                Phase::Managed(handle) if restarting => Some(handle.clone()),
                // librqbit is adding the torrent itself: it is told to add it paused, or
                // paused once it is added (see `finish_add`); its persisted state says paused.
                Phase::Adding(_) if task.ready => {
                    task.pause_pending = true;
                    None
                }
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
                Phase::Managed(handle)
                    if handle.is_paused() || task.finished_stopped || task.pause_pending =>
                {
                    None
                }
                Phase::Managed(handle) => Some(handle.clone()),
            }
        };
        if let Some(handle) = handle {
            let initializing =
                handle.with_state(|state| matches!(state, ManagedTorrentState::Initializing(_)));
            if initializing {
                // librqbit lets a torrent that finishes initializing go live over a pause:
                // keep pausing it until the pause sticks, and report it paused meanwhile.
                if let Some(task) = self.tasks().get_mut(id) {
                    task.pause_pending = true;
                }
                self.spawn_pause_after_add(id.to_owned(), handle);
            } else if let Err(e) = self.inner.session.pause(&handle).await {
                // "Already paused" (a race with an engine restart) is what the caller wanted.
                if !handle.is_paused() {
                    return Err(EngineError::InvalidState(format!("cannot pause: {e:#}")));
                }
            }
        }
        self.inner.sidecar.set_torrent_paused(id, true);
        // Publish the transition now, before answering: a quick pause-resume must not slip
        // between two looks of the watcher.
        self.observe_task(id);
        Ok(())
    }

    /// Resumes a paused, finished or failed task. Resuming a running task changes nothing.
    pub async fn resume(&self, id: &str) -> Result<(), EngineError> {
        let handle = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            // A pause still on its way from the add is called off: the user wants it running.
            task.pause_pending = false;
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
                        // An explicit resume of a finished task means "seed it", for good.
                        task.stop_when_finished = false;
                        task.finished_stopped = false;
                        self.inner.sidecar.set_finished(&task.id, false);
                        self.inner.sidecar.set_seeding(&task.id);
                    }
                    let stopped = handle.is_paused()
                        || handle
                            .with_state(|s| matches!(s, librqbit::ManagedTorrentState::Error(_)));
                    stopped.then(|| handle.clone())
                }
            }
        };
        if let Some(handle) = handle {
            let initializing =
                handle.with_state(|state| matches!(state, ManagedTorrentState::Initializing(_)));
            if initializing {
                // librqbit forgets an unpause that arrives during the check of data on disk
                // (the check still ends paused): resume once the check is over.
                if let Some(task) = self.tasks().get_mut(id) {
                    task.resume_pending = true;
                }
                self.spawn_resume_after_add(id.to_owned(), handle);
            } else {
                self.inner
                    .session
                    .unpause(&handle)
                    .await
                    .map_err(|e| EngineError::InvalidState(format!("cannot resume: {e:#}")))?;
            }
        }
        self.inner.sidecar.set_torrent_paused(id, false);
        // Publish the transition now, before answering: a quick pause-resume must not slip
        // between two looks of the watcher.
        self.observe_task(id);
        Ok(())
    }

    /// Removes a task, and its downloaded files if `delete_files`. Publishes `task.removed`
    /// once librqbit has let go of it; until then an add of the same hash waits.
    pub async fn remove(&self, id: &str, delete_files: bool) -> Result<(), EngineError> {
        let done = Arc::new(tokio::sync::Notify::new());
        let task = {
            let mut tasks = self.tasks();
            let task = tasks
                .remove(id)
                .ok_or_else(|| EngineError::NotFound(id.to_owned()))?;
            self.removing().insert(id.to_owned(), done.clone());
            task
        };
        // However this ends (even if the caller goes away), the removal completes and waiters
        // are released: it runs on its own tracked task.
        let engine = self.clone();
        let removal = self.inner.tracker.spawn(async move {
            let result = engine.finish_remove(task, delete_files).await;
            engine.removing().remove(&result.0);
            done.notify_waiters();
            result.1
        });
        removal
            .await
            .unwrap_or_else(|e| Err(EngineError::Internal(format!("removal failed: {e}"))))
    }

    async fn finish_remove(
        &self,
        task: Task,
        delete_files: bool,
    ) -> (String, Result<(), EngineError>) {
        if let Phase::Adding(abort) = &task.phase {
            abort.abort();
        }
        // Files that were in the task's way, empty, before it came: never deleted.
        let kept = self.inner.sidecar.surveyed(&task.id).unwrap_or_default();
        let forgotten = self.inner.sidecar.forget(&task.id);
        let _ = std::fs::remove_file(self.stored_torrent_path(&task.id));
        let mut result = Ok(());
        if let Some(info_hash) = parse_id(&task.id) {
            if self
                .inner
                .session
                .get(TorrentIdOrHash::Hash(info_hash))
                .is_some()
            {
                // librqbit deletes every file of the torrent; with files to keep, Magnetar
                // deletes the others itself.
                let librqbit_deletes = delete_files && kept.is_empty();
                result = self
                    .inner
                    .session
                    .delete(TorrentIdOrHash::Hash(info_hash), librqbit_deletes)
                    .await
                    .map_err(|e| EngineError::Internal(format!("task removed, but: {e:#}")));
                if delete_files && !kept.is_empty() {
                    if let Some(layout) = &task.layout {
                        self.delete_files_except(layout, &kept);
                    }
                }
            }
        }
        self.owners().release(&task.id);
        self.inner.sidecar.saved(forgotten).await;
        self.publish(Event::Removed {
            task_id: task.id.clone(),
        });
        (task.id, result)
    }

    /// Deletes a removed task's files except `kept`, then the folders that are left empty
    /// (the torrent's own folder included, never the download folder).
    fn delete_files_except(&self, layout: &Layout, kept: &[PathBuf]) {
        let root = &self.inner.config.download_dir;
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

    /// Starts adding `origin` to librqbit in the background, on the engine's tracker. A panic
    /// anywhere in it (librqbit included) fails the task with a message; it never leaves the
    /// task in state 0.
    ///
    /// A shutdown lets a .torrent's add finish (within the engine's grace period): the add was
    /// answered, and until librqbit has stored the torrent nothing else remembers it (1,100
    /// paused adds and an immediate quit kept 162 of them). A magnet's add is called off: the
    /// sidecar remembers the magnet, and its metadata may never come.
    pub(super) fn spawn_add(&self, id: String, origin: Origin) -> tokio::task::AbortHandle {
        let engine = self.clone();
        let cancel = self.inner.cancel.clone();
        let finish_at_shutdown = matches!(origin, Origin::Torrent { .. });
        self.inner
            .tracker
            .spawn(async move {
                let run = AssertUnwindSafe(engine.run_add(&id, origin)).catch_unwind();
                let result = if finish_at_shutdown {
                    run.await
                } else {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        result = run => result,
                    }
                };
                let result = result.unwrap_or_else(|panic| {
                    let why = super::panic_message(panic.as_ref());
                    tracing::error!(task = %id, "adding panicked: {why}");
                    Err(anyhow::anyhow!("internal error while adding: {why}"))
                });
                engine.finish_add(&id, result);
            })
            .abort_handle()
    }

    /// Adds the torrent to librqbit (a magnet: once its metadata is fetched and accepted);
    /// paused if the task was paused by then.
    async fn run_add(&self, id: &str, origin: Origin) -> anyhow::Result<AddTorrentResponse> {
        let (bytes, peers) = match origin {
            Origin::Torrent { bytes } => (bytes.to_vec(), Vec::new()),
            Origin::Magnet { uri, peers } => {
                let peers = source::resolve_peers(&peers).await;
                let (bytes, seen) = self.fetch_metadata(&uri, &peers).await?;
                let torrent = parse_torrent(bytes.clone()).map_err(|e| {
                    anyhow::anyhow!("the metadata from peers is not acceptable: {e}")
                })?;
                if torrent.id != id {
                    anyhow::bail!(
                        "the peers sent metadata of another torrent ({})",
                        torrent.id
                    );
                }
                self.accept_metadata(id, &torrent)?;
                if let SourceKind::Torrent { layout, .. } = &torrent.kind {
                    if let Some(kept) = self
                        .survey_files_claimed(id, bytes.clone(), layout.clone())
                        .await?
                    {
                        self.inner.sidecar.set_surveyed(id, kept);
                    }
                }
                // From here on the magnet is remembered as its torrent: librqbit drops the
                // pending magnet's place in its session without fsync.
                let paused = self.with_task(id, |t| t.pause_pending).unwrap_or(false);
                self.store_torrent(id, bytes.clone(), None, paused).await;
                let mut all = peers;
                for peer in seen {
                    if !all.contains(&peer) {
                        all.push(peer);
                    }
                }
                (bytes, all)
            }
        };
        let (layout, paused) = self
            .with_task(id, |t| (t.layout.clone(), t.pause_pending))
            .ok()
            .and_then(|(layout, paused)| Some((layout?, paused)))
            .ok_or_else(|| anyhow::anyhow!("the task was removed, or has no layout"))?;
        let opts = AddTorrentOptions {
            paused,
            preferred_id: Some(self.inner.next_torrent_id.fetch_add(1, Ordering::Relaxed)),
            // Data already on disk that no other task owns is hash-checked and kept.
            overwrite: true,
            sub_folder: Some(layout.sub_folder),
            initial_peers: (!peers.is_empty()).then_some(peers),
            ..Default::default()
        };
        self.inner
            .session
            .add_torrent(AddTorrent::from_bytes(bytes), Some(opts))
            .await
    }

    /// [`Engine::survey_files`] for a magnet whose metadata just arrived: its paths are
    /// claimed already, so only the files on disk are looked at.
    async fn survey_files_claimed(
        &self,
        id: &str,
        bytes: Vec<u8>,
        layout: Layout,
    ) -> anyhow::Result<Option<Kept>> {
        if self.inner.sidecar.surveyed(id).is_some() {
            return Ok(None);
        }
        let dir = self.inner.config.download_dir.clone();
        let surveyed =
            tokio::task::spawn_blocking(move || existing::survey(&dir, &bytes, &layout)).await?;
        surveyed.map(Some).map_err(|why| anyhow::anyhow!(why))
    }

    /// Fetches a magnet's metadata without adding it (librqbit's `list_only`): the torrent's
    /// bytes and the peers seen meanwhile. A magnet whose only sources are its `x.pe` peers
    /// fails as soon as each has been tried once; a peer that was busy or restarting deserves a
    /// few more tries.
    async fn fetch_metadata(
        &self,
        uri: &str,
        peers: &[std::net::SocketAddr],
    ) -> anyhow::Result<(Vec<u8>, Vec<std::net::SocketAddr>)> {
        let mut attempt = 0;
        loop {
            let opts = AddTorrentOptions {
                list_only: true,
                initial_peers: (!peers.is_empty()).then(|| peers.to_vec()),
                ..Default::default()
            };
            let result = self
                .inner
                .session
                .add_torrent(AddTorrent::from_url(uri), Some(opts))
                .await;
            match result {
                Ok(AddTorrentResponse::ListOnly(listed)) => {
                    return Ok((listed.torrent_bytes.to_vec(), listed.seen_peers));
                }
                Ok(_) => anyhow::bail!("librqbit added a torrent it was asked only to list"),
                Err(e) if peers.is_empty() || attempt >= MAGNET_RETRIES.len() => return Err(e),
                Err(_) => {
                    tracing::info!(
                        attempt,
                        "magnet metadata not fetched from its peers yet; retrying"
                    );
                    tokio::time::sleep(MAGNET_RETRIES[attempt]).await;
                    attempt += 1;
                }
            }
        }
    }

    /// A magnet's metadata arrived and passed validation: the task learns its name and files
    /// (`task.metadataReceived`) and claims its paths, or the add fails naming the collision.
    fn accept_metadata(&self, id: &str, torrent: &Source) -> anyhow::Result<()> {
        let mut tasks = self.tasks();
        let Ok(task) = find(&mut tasks, id) else {
            anyhow::bail!("the task was removed");
        };
        if let SourceKind::Torrent { layout, .. } = &torrent.kind {
            self.claim_paths(id, layout)?;
        }
        if !task.ready {
            task.fill_metadata(torrent);
            self.publish(Event::MetadataReceived(task.metadata()));
        }
        Ok(())
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
        let Some(task) = tasks.get_mut(id) else {
            // Removed while it was being added.
            if let Ok(handle) = handle {
                self.spawn_forget(handle);
            }
            return;
        };
        match handle {
            Ok(handle) => {
                let paused_meanwhile = matches!(task.phase, Phase::Stopped);
                self.inner.sidecar.set_pending(id, None);
                if paused_meanwhile || task.pause_pending {
                    // Paused by a user while librqbit was adding it (or added paused): make
                    // the pause stick, and report it paused meanwhile (never a flash of
                    // "downloading").
                    task.pause_pending = true;
                    self.spawn_pause_after_add(id.to_owned(), handle.clone());
                } else if handle.is_paused() {
                    // Added paused, then resumed before librqbit had it.
                    task.resume_pending = true;
                    self.spawn_resume_after_add(id.to_owned(), handle.clone());
                }
                task.phase = Phase::Managed(handle);
            }
            Err(e) => {
                tracing::warn!(task = id, "adding failed: {e:#}");
                task.phase = Phase::Failed(format!("{e:#}"));
            }
        }
        drop(tasks);
        self.observe_task(id);
    }

    /// Pauses a torrent that librqbit is adding or initializing, until the pause sticks (a
    /// torrent that finishes initializing goes live whatever was asked meanwhile); then the
    /// task reports librqbit's real state again.
    pub(super) fn spawn_pause_after_add(&self, id: String, handle: Arc<ManagedTorrent>) {
        self.spawn_drive(id, handle, Drive::Pause);
    }

    /// Resumes a torrent that librqbit added (or holds) paused after the user resumed it, once
    /// its initialization (the check of data on disk) is over; a pause meanwhile calls it off.
    fn spawn_resume_after_add(&self, id: String, handle: Arc<ManagedTorrent>) {
        self.spawn_drive(id, handle, Drive::Resume);
    }

    /// Drives a torrent that librqbit is adding or checking towards what the user asked, until
    /// it stays there, the user changes their mind, or [`DRIVE_PATIENCE`] runs out. It goes by
    /// librqbit's state, not by `is_paused()`: librqbit lets a check end live over a pause, and
    /// an unpause during the check clears that flag although the check then ends paused.
    fn spawn_drive(&self, id: String, handle: Arc<ManagedTorrent>, drive: Drive) {
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            let started = tokio::time::Instant::now();
            while started.elapsed() < DRIVE_PATIENCE {
                let wanted = engine
                    .tasks()
                    .get_mut(&id)
                    .is_some_and(|t| drive.is_pending(t));
                if !wanted {
                    break; // changed by the user, or removed, meanwhile
                }
                let (act, settled) = handle.with_state(|state| match (drive, state) {
                    (_, ManagedTorrentState::Error(_))
                    | (Drive::Pause, ManagedTorrentState::Paused(_))
                    | (Drive::Resume, ManagedTorrentState::Live(_)) => (false, true),
                    (Drive::Pause, ManagedTorrentState::Live(_))
                    | (Drive::Resume, ManagedTorrentState::Paused(_)) => (true, false),
                    _ => (false, false),
                });
                if settled {
                    break;
                }
                if act {
                    let result = match drive {
                        Drive::Pause => engine.inner.session.pause(&handle).await,
                        Drive::Resume => engine.inner.session.unpause(&handle).await,
                    };
                    if let Err(e) = result {
                        tracing::debug!(task = %id, ?drive, "after add, retrying: {e:#}");
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if let Some(task) = engine.tasks().get_mut(&id) {
                drive.set_pending(task, false);
            }
            engine.observe_task(&id);
        });
    }

    fn spawn_forget(&self, handle: Arc<ManagedTorrent>) {
        let session = self.inner.session.clone();
        self.inner.tracker.spawn(async move {
            let _ = session
                .delete(TorrentIdOrHash::Hash(handle.info_hash()), false)
                .await;
        });
    }
}

/// How long a job keeps driving a torrent through librqbit's add and check (a check of a
/// large torrent's data on disk takes minutes).
const DRIVE_PATIENCE: Duration = Duration::from_secs(600);

/// Which way [`Engine::spawn_drive`] drives a torrent.
#[derive(Clone, Copy, Debug)]
enum Drive {
    Pause,
    Resume,
}

impl Drive {
    /// Whether the task still wants this (the user may have asked the opposite meanwhile).
    fn is_pending(self, task: &Task) -> bool {
        match self {
            Drive::Pause => task.pause_pending,
            Drive::Resume => task.resume_pending,
        }
    }

    fn set_pending(self, task: &mut Task, pending: bool) {
        match self {
            Drive::Pause => task.pause_pending = pending,
            Drive::Resume => task.resume_pending = pending,
        }
    }
}

fn parse_id(id: &str) -> Option<Id20> {
    id.parse().ok()
}
