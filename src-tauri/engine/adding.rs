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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::FutureExt;
use librqbit::ManagedTorrent;

use super::adapter::AddOptions;

use super::existing::{self, Kept};
use super::folders::{self, Refusal};
use super::journal::Record;
use super::lifecycle::validate_choice;
use super::placement::Layout;
use super::sidecar::PendingMagnet;
use super::task::{Lifecycle, Origin};
use super::{find, parse_torrent, registry, source, Engine, EngineError, Source, SourceKind};
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
    /// is on disk (the add journal for a torrent, the sidecar for a magnet).
    pub async fn add(&self, source: Source, paused: bool) -> Result<(), EngineError> {
        let choices = AddChoices {
            paused,
            ..AddChoices::default()
        };
        self.add_with(source, choices).await
    }

    /// [`Engine::add`] with the client's choices: a folder (already checked, see
    /// `folders.rs`), a label (which must exist; its folder is used when no folder is given),
    /// and the files to download (checked against the torrent now, against a magnet's
    /// metadata when it comes: a magnet whose metadata has fewer files fails, writing nothing).
    pub async fn add_with(&self, source: Source, choices: AddChoices) -> Result<(), EngineError> {
        self.wait_for_removal(&source.id).await?;
        let id = source.id.clone();
        if self.tasks().contains(&id) {
            return Err(EngineError::AlreadyExists(id));
        }
        let dir = self.folder_for(&choices)?;
        // A bitfield left by an earlier task of this hash (removed, then killed before it
        // was deleted) must not vouch for this one's pieces.
        self.inner.bitfields.forget(&id);
        let chosen = match (&choices.files, &source.kind) {
            (None, _) => None,
            (Some(files), SourceKind::Torrent { files: all, .. }) => {
                Some(validate_choice(files, all.len()).map_err(in_files)?)
            }
            (Some(files), SourceKind::Magnet { .. }) => {
                Some(validate_choice(files, super::validate::MAX_FILES).map_err(in_files)?)
            }
        };
        let torrent = match &source.kind {
            SourceKind::Torrent { bytes, layout, .. } => {
                let kept = self
                    .survey_files(&id, bytes.clone(), layout.clone(), &dir)
                    .await?;
                Some((kept, bytes.clone()))
            }
            SourceKind::Magnet { .. } => None,
        };
        // A paused torrent none of whose files exists has nothing to check: it rests at once,
        // out of librqbit (see `resting.rs`). One with data on disk is checked first.
        let resting = choices.paused
            && match &source.kind {
                SourceKind::Torrent { layout, .. } => registry::absolute(&dir, layout)
                    .iter()
                    .all(|path| std::fs::symlink_metadata(path).is_err()),
                SourceKind::Magnet { .. } => false,
            };
        let placed = Placed {
            dir,
            label: choices.label,
            chosen,
            resting,
        };
        let (must_save, placed_saved) = self.add_now(source, choices.paused, placed)?;
        if choices.paused {
            // `task.created` implies state 0: the 0→4 transition follows before the answer.
            self.observe_task(&id);
        }
        if let Some((kept, bytes)) = torrent {
            self.journal_add(&id, &bytes, kept).await;
        }
        if let Some(version) = must_save.max(placed_saved) {
            self.inner.sidecar.saved(version).await;
        }
        Ok(())
    }

    /// The folder an add goes to: the one asked for, else its label's, else the download
    /// folder. The label must exist.
    fn folder_for(&self, choices: &AddChoices) -> Result<PathBuf, EngineError> {
        let default = self.inner.config.download_dir.clone();
        let label_folder = match &choices.label {
            None => None,
            Some(name) => {
                let folders = self.folders();
                let label = folders.label(name).ok_or_else(|| {
                    EngineError::InvalidInput(format!(
                        "label: unknown label {name:?}; define it with session.setLabels first"
                    ))
                })?;
                label
                    .folder
                    .clone()
                    .map(|folder| (folder, folders.roots().to_vec()))
            }
        };
        if let Some(dir) = &choices.dir {
            return Ok(dir.clone());
        }
        match label_folder {
            // Checked again: the folder may have changed on disk since the label was set.
            Some((folder, roots)) => folders::resolve(&folder, &roots, false, "the label's folder")
                .map_err(|r| match r {
                    Refusal::Invalid(why) | Refusal::Outside(why) => EngineError::InvalidInput(why),
                }),
            None => Ok(default),
        }
    }

    /// Waits (up to [`REMOVAL_WAIT`]) for the removal of task `id`, if one is in flight.
    async fn wait_for_removal(&self, id: &str) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + REMOVAL_WAIT;
        loop {
            let removed = match self.tasks().removing.get(id) {
                Some(done) => done.clone(),
                None => return Ok(()),
            };
            // Registered before looking again: a removal that ends between the two looks
            // wakes this waiter instead of leaving it to time out (notify_waiters keeps no
            // permit for a waiter that was not registered yet).
            let notified = removed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.tasks().removing.contains_key(id) {
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
        dir: &Path,
    ) -> Result<Option<Kept>, EngineError> {
        if self.inner.sidecar.surveyed(id).is_some() {
            return Ok(None);
        }
        let files = registry::absolute(dir, &layout);
        if let Some(collision) = self.tasks().owners.collision(id, &files) {
            return Err(EngineError::InvalidInput(collision.message()));
        }
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || existing::survey(&dir, &bytes, &layout))
            .await
            .map_err(|e| EngineError::Internal(format!("checking files in the way failed: {e}")))?
            .map(Some)
            .map_err(EngineError::InvalidInput)
    }

    /// Puts an added torrent on disk before its add is answered: one line in the add journal
    /// (see `journal.rs`), synced. A task removed meanwhile is not recorded.
    pub(super) async fn journal_add(&self, id: &str, bytes: &[u8], kept: Option<Kept>) {
        if let Some(kept) = kept {
            self.inner.sidecar.set_surveyed(id, kept);
        }
        let torrent = base64::engine::general_purpose::STANDARD.encode(bytes);
        let engine = self.clone();
        let id = id.to_owned();
        let written = tokio::task::spawn_blocking(move || {
            // Written under the registry's lock: a removal that overtook this add has taken
            // the task out, and must not find it recorded after its own "forget". Synced after
            // the lock is let go, so that no other call waits for the disk.
            // With the intent of this moment: a pause answered meanwhile found nothing recorded
            // to record itself beside.
            {
                let mut tasks = engine.tasks();
                let Ok(task) = find(&mut tasks, &id) else {
                    return Ok(());
                };
                let record = Record::Add {
                    id: id.clone(),
                    torrent,
                    paused: task.intent.paused,
                };
                engine.inner.journal.append(&record, false)?;
            }
            engine.inner.journal.sync()
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!("cannot record an add in the journal: {written:?}");
        }
    }

    /// The synchronous part of [`Engine::add`]; returns the sidecar versions to wait for, if
    /// the task must be on disk before the add is answered: the pending magnet, and the task's
    /// folder and label.
    fn add_now(
        &self,
        source: Source,
        paused: bool,
        placed: Placed,
    ) -> Result<(Option<u64>, Option<u64>), EngineError> {
        let mut tasks = self.tasks();
        if tasks.contains(&source.id) || tasks.removing.contains_key(&source.id) {
            return Err(EngineError::AlreadyExists(source.id));
        }
        if let SourceKind::Torrent { layout, .. } = &source.kind {
            tasks.claim_paths(&placed.dir, &source.id, layout)?;
        }
        let elsewhere = (placed.dir != self.inner.config.download_dir).then(|| placed.dir.clone());
        let placed_saved = (elsewhere.is_some() || placed.label.is_some()).then(|| {
            self.inner.sidecar.set_dir(&source.id, elsewhere);
            self.inner
                .sidecar
                .set_label(&source.id, placed.label.clone())
        });
        let mut must_save = None;
        let origin = match &source.kind {
            SourceKind::Magnet { uri, peers } => {
                let pending = PendingMagnet {
                    uri: uri.clone(),
                    peers: peers.clone(),
                    paused,
                    files: placed.chosen.as_ref().map(|c| c.iter().copied().collect()),
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
        let mut task = self.new_task(
            source.id.clone(),
            source.name.clone(),
            origin,
            Lifecycle::Stopped,
        );
        task.fill_metadata(&source);
        task.intent.paused = paused;
        task.dir = placed.dir;
        task.label = placed.label;
        if let Some(chosen) = &placed.chosen {
            let files = chosen.iter().copied().collect();
            self.inner.sidecar.set_chosen_files(&source.id, Some(files));
        }
        task.chosen_files = placed.chosen;
        // A paused magnet waits, fetching nothing; a paused torrent with nothing on disk
        // rests; anything else starts its add now.
        let magnet_waits = paused && must_save.is_some();
        match (&task.origin, placed.resting) {
            (Origin::Torrent { bytes }, true) => {
                let sizes: Vec<u64> = task.files.iter().map(|f| f.size).collect();
                let piece_length = match &source.kind {
                    SourceKind::Torrent { piece_length, .. } => *piece_length,
                    SourceKind::Magnet { .. } => 0,
                };
                let resting = self.resting_from_disk(&task.id, bytes.clone(), piece_length, &sizes);
                task.lifecycle = Lifecycle::Resting(resting);
            }
            _ if magnet_waits => {}
            _ => task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone()),
        }
        self.publish(Event::Created(task.metadata()));
        tasks.push(task);
        self.inner.watcher_wake.notify_one();
        Ok((must_save, placed_saved))
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
    ) -> anyhow::Result<Arc<ManagedTorrent>> {
        let (magnet, dir) = self.with_task(id, |t| {
            let magnet = matches!(t.origin, Origin::Magnet { .. });
            t.lifecycle = Lifecycle::Adding;
            (magnet, t.dir.clone())
        })?;
        if magnet {
            let torrent = parse_torrent(fetched.bytes.clone())?;
            self.accept_metadata(id, &torrent)?;
            if let SourceKind::Torrent { layout, .. } = &torrent.kind {
                if self.inner.sidecar.surveyed(id).is_none() {
                    let dir = dir.clone();
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
            self.journal_add(id, &fetched.bytes, None).await;
        }
        self.add_known_torrent(id, fetched.bytes, fetched.peers)
            .await
    }

    /// Adds a task whose metadata is known to librqbit, into its folder, with its intent and
    /// file choice (an add, and a re-check: see `recheck.rs`).
    pub(super) async fn add_known_torrent(
        &self,
        id: &str,
        bytes: Vec<u8>,
        peers: Vec<std::net::SocketAddr>,
    ) -> anyhow::Result<Arc<ManagedTorrent>> {
        let dir = self.with_task(id, |t| t.dir.clone())?;
        let (layout, paused, only_files) = self.with_task(id, |t| {
            (t.layout.clone(), t.intent.paused, t.chosen_files.clone())
        })?;
        let layout = layout.ok_or_else(|| anyhow::anyhow!("the task has no layout"))?;
        // Its bitfield from when it last rested, where librqbit looks for it.
        self.inner.bitfields.restore(id);
        if paused {
            // In librqbit only to be checked, then to rest: a few at a time (a permit it
            // may hold already, from a check before, is given back first).
            self.with_task(id, |t| t.check_permit = None)?;
            let permit = self.inner.paused_checks.clone().acquire_owned().await?;
            self.with_task(id, |t| t.check_permit = Some(permit))?;
        }
        // Another folder than the download folder: librqbit takes it whole (its sub folder is
        // relative to the download folder).
        let output_folder =
            (dir != self.inner.config.download_dir).then(|| dir.join(&layout.sub_folder));
        let options = AddOptions {
            id: id.to_owned(),
            paused,
            only_files: only_files.map(|chosen| chosen.into_iter().collect()),
            sub_folder: layout.sub_folder,
            output_folder,
            peers,
        };
        self.inner.librqbit.add(bytes, options).await
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
            match self.inner.librqbit.fetch_metadata(uri, peers).await {
                Ok(fetched) => return Ok(fetched),
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
        let dir = task.dir.clone();
        if let (Some(chosen), SourceKind::Torrent { files, .. }) =
            (&task.chosen_files, &torrent.kind)
        {
            if let Some(last) = chosen.last().filter(|last| **last >= files.len()) {
                anyhow::bail!(
                    "files: index {last} was chosen at the add, but the torrent has {} files; \
                     nothing was downloaded",
                    files.len()
                );
            }
        }
        if let SourceKind::Torrent { layout, .. } = &torrent.kind {
            tasks.claim_paths(&dir, id, layout)?;
        }
        let Ok(task) = find(&mut tasks, id) else {
            anyhow::bail!("the task was removed");
        };
        if !task.metadata_known() {
            task.fill_metadata(torrent);
            self.publish(Event::MetadataReceived(task.metadata()));
        }
        Ok(())
    }

    /// Records the outcome of a background add, in the task's turn, and starts driving the
    /// torrent towards what the user wants (see `lifecycle.rs`).
    pub(super) async fn finish_add(&self, id: &str, result: anyhow::Result<Arc<ManagedTorrent>>) {
        let handle = result.and_then(|handle| {
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
                    let only: Option<std::collections::BTreeSet<usize>> =
                        handle.only_files().map(|o| o.into_iter().collect());
                    let chosen = task.chosen_files.clone().or(only.clone());
                    self.inner
                        .sidecar
                        .set_chosen_files(id, chosen.map(|c| c.into_iter().collect()));
                    if only == task.chosen_files {
                        task.chosen_files = None;
                    }
                    task.lifecycle = Lifecycle::Managed {
                        handle,
                        restarting: false,
                    };
                }
                Err(e) => {
                    tracing::warn!(task = id, "adding failed: {e:#}");
                    task.check_permit = None;
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

/// What a client chose at an add, beside the torrent (`task.add`'s options).
#[derive(Debug, Default, Clone)]
pub struct AddChoices {
    pub paused: bool,
    /// The folder, already checked (see `folders.rs`); `None`: the label's, else the download
    /// folder.
    pub dir: Option<PathBuf>,
    /// The label; it must exist.
    pub label: Option<String>,
    /// The indices of the files to download; `None`: all.
    pub files: Option<Vec<u64>>,
}

/// Where an add goes, decided.
struct Placed {
    dir: PathBuf,
    label: Option<String>,
    chosen: Option<std::collections::BTreeSet<usize>>,
    /// Added paused with nothing on disk: it starts resting.
    resting: bool,
}

/// A file choice's refusal, naming the field.
fn in_files(e: EngineError) -> EngineError {
    EngineError::InvalidInput(format!("files: {e}"))
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
