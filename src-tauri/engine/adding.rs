//! Adding a task: synchronous up to the point where the task exists (validated, its paths
//! claimed, the files in its way surveyed, `task.created` published, the add on disk); the rest
//! runs in the background, in one job per add.
//!
//! For a magnet that job has two parts. First librqbit only fetches the metadata (`list_only`);
//! nothing is in librqbit yet, so a pause or a removal may call this part off. Then, in the
//! task's turn (see `lifecycle.rs`), the metadata is validated, its paths claimed and the files
//! in its way surveyed like a .torrent's, and the torrent is added to librqbit for real, into
//! its own folder. That second part is never called off: a command that comes meanwhile waits
//! for it, so librqbit never holds a torrent that Magnetar has forgotten. A magnet whose
//! metadata is hostile, or whose files would land on another task's or on a file of the user's,
//! fails (state 5) without writing a byte.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse};

use super::existing::{self, Kept};
use super::placement::Layout;
use super::sidecar::{PendingMagnet, StoredTorrent};
use super::task::{Lifecycle, Origin};
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
    /// `task.removed` always comes before the new `task.created`. The add is answered once it
    /// is on disk (see [`Engine::store_torrent`], and the sidecar for a magnet).
    pub async fn add(&self, source: Source, paused: bool) -> Result<(), EngineError> {
        self.wait_for_removal(&source.id).await?;
        let id = source.id.clone();
        if self.tasks().contains(&id) {
            return Err(EngineError::AlreadyExists(id));
        }
        let torrent = match &source.kind {
            SourceKind::Torrent { bytes, layout, .. } => {
                let kept = self
                    .survey_files(&id, bytes.clone(), layout.clone())
                    .await?;
                Some((kept, bytes.clone()))
            }
            SourceKind::Magnet { .. } => None,
        };
        let mut must_save = self.add_now(source, paused)?;
        if paused {
            // `task.created` implies state 0: the 0→4 transition follows before the answer.
            self.observe_task(&id);
        }
        if let Some((kept, bytes)) = torrent {
            must_save = self.store_torrent(&id, bytes, kept).await;
        }
        if let Some(version) = must_save {
            self.inner.sidecar.saved(version).await;
        }
        Ok(())
    }

    /// Waits (up to [`REMOVAL_WAIT`]) for the removal of task `id`, if one is in flight.
    async fn wait_for_removal(&self, id: &str) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + REMOVAL_WAIT;
        loop {
            let removed = match self.removing().get(id) {
                Some(done) => done.clone(),
                None => return Ok(()),
            };
            // Registered before looking again: a removal that ends between the two looks
            // wakes this waiter instead of leaving it to time out (notify_waiters keeps no
            // permit for a waiter that was not registered yet).
            let notified = removed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.removing().contains_key(id) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(EngineError::AlreadyExists(format!(
                    "{id} (its removal is still in progress; try again)"
                )));
            }
        }
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

    /// Puts an added torrent on disk: its bytes in `torrents/<id>.torrent` (written and
    /// fsynced), and the task in the sidecar. librqbit persists it only later, without fsync.
    /// Returns the sidecar version to wait for (none if the task was removed meanwhile).
    async fn store_torrent(&self, id: &str, bytes: Vec<u8>, kept: Option<Kept>) -> Option<u64> {
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
        let mut tasks = self.tasks();
        let Ok(task) = find(&mut tasks, id) else {
            drop(tasks);
            let _ = std::fs::remove_file(&path);
            return None;
        };
        // The intent now, not the add's: a pause or resume answered meanwhile found nothing
        // stored to record itself in.
        let paused = task.intent.paused;
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
        let mut task = self.new_task(source.id.clone(), source.name.clone(), origin, Lifecycle::Stopped);
        task.fill_metadata(&source);
        task.intent.paused = paused;
        // A paused magnet waits, fetching nothing; anything else starts its add now.
        let magnet_waits = paused && must_save.is_some();
        if !magnet_waits {
            task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone());
        }
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

    /// Starts the background add of task `id` and returns the lifecycle it is in meanwhile:
    /// a magnet's metadata fetch may be called off; a torrent's add may not (it waits for the
    /// task's turn, which `queue` is).
    pub(super) fn start_add(
        &self,
        id: &str,
        origin: &Origin,
        queue: Arc<tokio::sync::Mutex<()>>,
    ) -> Lifecycle {
        let job = self.spawn_add(id.to_owned(), origin.clone(), queue);
        match origin {
            Origin::Magnet { .. } => Lifecycle::AwaitingMetadata(job),
            Origin::Torrent { .. } => Lifecycle::Adding,
        }
    }

    /// The background add. A panic anywhere in it (librqbit included) fails the task with a
    /// message; it never leaves the task in state 0.
    ///
    /// A shutdown lets a torrent's add into librqbit finish (within the engine's grace
    /// period); a magnet's metadata fetch is called off (the sidecar remembers the magnet).
    fn spawn_add(
        &self,
        id: String,
        origin: Origin,
        queue: Arc<tokio::sync::Mutex<()>>,
    ) -> tokio::task::AbortHandle {
        let engine = self.clone();
        let cancel = self.inner.cancel.clone();
        self.inner
            .tracker
            .spawn(async move {
                let fetched = match origin {
                    Origin::Torrent { bytes } => Ok(Fetched {
                        bytes: bytes.to_vec(),
                        peers: Vec::new(),
                    }),
                    Origin::Magnet { uri, peers } => {
                        let fetch = AssertUnwindSafe(engine.fetch(&id, &uri, &peers)).catch_unwind();
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            fetched = fetch => fetched.unwrap_or_else(|panic| Err(panicked(&id, panic))),
                        }
                    }
                };
                // From here on, in the task's turn: never called off.
                let turn = queue.clone().lock_owned().await;
                if !engine.is_current_queue(&id, &queue) {
                    return; // removed (and maybe added again) meanwhile
                }
                let result = match fetched {
                    Ok(fetched) => AssertUnwindSafe(engine.add_to_librqbit(&id, fetched))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Err(panicked(&id, panic))),
                    Err(e) => Err(e),
                };
                engine.finish_add(&id, result).await;
                drop(turn);
            })
            .abort_handle()
    }

    /// Fetches and checks a magnet's metadata: what the peers sent, and the peers seen.
    async fn fetch(&self, id: &str, uri: &str, peers: &[String]) -> anyhow::Result<Fetched> {
        let peers = source::resolve_peers(peers).await;
        let (bytes, seen) = self.fetch_metadata(uri, &peers).await?;
        let mut all = peers;
        for peer in seen {
            if !all.contains(&peer) {
                all.push(peer);
            }
        }
        let torrent = parse_torrent(bytes.clone())
            .map_err(|e| anyhow::anyhow!("the metadata from peers is not acceptable: {e}"))?;
        if torrent.id != id {
            anyhow::bail!(
                "the peers sent metadata of another torrent ({})",
                torrent.id
            );
        }
        Ok(Fetched { bytes, peers: all })
    }

    /// Adds the torrent to librqbit, in the task's turn; for a magnet, first accepts its
    /// metadata (the task learns its files, claims their paths, surveys the files in their way)
    /// and remembers it as its torrent.
    async fn add_to_librqbit(
        &self,
        id: &str,
        fetched: Fetched,
    ) -> anyhow::Result<AddTorrentResponse> {
        let magnet = self.with_task(id, |t| {
            let magnet = matches!(t.origin, Origin::Magnet { .. });
            t.lifecycle = Lifecycle::Adding;
            magnet
        })?;
        if magnet {
            let torrent = parse_torrent(fetched.bytes.clone())?;
            self.accept_metadata(id, &torrent)?;
            if let SourceKind::Torrent { layout, .. } = &torrent.kind {
                if self.inner.sidecar.surveyed(id).is_none() {
                    let dir = self.inner.config.download_dir.clone();
                    let (bytes, layout) = (fetched.bytes.clone(), layout.clone());
                    let kept = tokio::task::spawn_blocking(move || {
                        existing::survey(&dir, &bytes, &layout)
                    })
                    .await?
                    .map_err(|why| anyhow::anyhow!(why))?;
                    self.inner.sidecar.set_surveyed(id, kept);
                }
            }
            // From here on the magnet is remembered as its torrent: librqbit drops the pending
            // magnet's place in its session without fsync.
            self.store_torrent(id, fetched.bytes.clone(), None).await;
        }
        let (layout, paused, only_files) = self.with_task(id, |t| {
            (t.layout.clone(), t.intent.paused, t.chosen_files.clone())
        })?;
        let layout = layout.ok_or_else(|| anyhow::anyhow!("the task has no layout"))?;
        let opts = AddTorrentOptions {
            paused,
            only_files: only_files.map(|chosen| chosen.into_iter().collect()),
            preferred_id: Some(self.inner.next_torrent_id.fetch_add(1, Ordering::Relaxed)),
            // Data already on disk that no other task owns was surveyed: it is this torrent's.
            overwrite: true,
            sub_folder: Some(layout.sub_folder),
            initial_peers: (!fetched.peers.is_empty()).then_some(fetched.peers),
            ..Default::default()
        };
        self.inner
            .session
            .add_torrent(AddTorrent::from_bytes(fetched.bytes), Some(opts))
            .await
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
        if !task.metadata_known() {
            task.fill_metadata(torrent);
            self.publish(Event::MetadataReceived(task.metadata()));
        }
        Ok(())
    }

    /// Records the outcome of a background add, in the task's turn, and starts driving the
    /// torrent towards what the user wants (see `lifecycle.rs`).
    async fn finish_add(&self, id: &str, result: anyhow::Result<AddTorrentResponse>) {
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
        {
            let mut tasks = self.tasks();
            let Ok(task) = find(&mut tasks, id) else {
                return;
            };
            match handle {
                Ok(handle) => {
                    self.inner.sidecar.set_pending(id, None);
                    // The file choice went into the add (a later one is given by `settle`).
                    if handle.only_files().map(|o| o.into_iter().collect())
                        == task.chosen_files
                    {
                        task.chosen_files = None;
                    }
                    task.lifecycle = Lifecycle::Managed {
                        handle,
                        restarting: false,
                    };
                }
                Err(e) => {
                    tracing::warn!(task = id, "adding failed: {e:#}");
                    task.lifecycle = Lifecycle::Failed(format!("{e:#}"));
                }
            }
        }
        self.settle(id).await;
        self.observe_task(id);
    }

    /// Is `queue` still the turn of the task called `id` (not removed, nor added again)?
    fn is_current_queue(&self, id: &str, queue: &Arc<tokio::sync::Mutex<()>>) -> bool {
        self.with_task(id, |t| Arc::ptr_eq(&t.queue, queue))
            .unwrap_or(false)
    }
}

/// A torrent ready to be added: its bytes, and the peers to start from.
struct Fetched {
    bytes: Vec<u8>,
    peers: Vec<std::net::SocketAddr>,
}

fn panicked(id: &str, panic: Box<dyn std::any::Any + Send>) -> anyhow::Error {
    let why = super::panic_message(panic.as_ref());
    tracing::error!(task = %id, "adding panicked: {why}");
    anyhow::anyhow!("internal error while adding: {why}")
}
