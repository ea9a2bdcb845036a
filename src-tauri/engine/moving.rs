//! Moving a task's data to another folder (`task.move`).
//!
//! librqbit keeps one output folder per torrent, fixed at its add, and offers no call to change
//! it. So a move, in the task's turn (pause, resume, remove and the rest wait for it, and find
//! the task where the move left it):
//! 1. checks the new folder (the same rules as `task.add`'s, see `folders.rs`) and refuses a
//!    collision before anything moves: a path another task owns (`placement.rs`), or anything
//!    already on disk where one of the task's files or folders would go;
//! 2. records the move in the sidecar, and the torrent in the add journal (so that a task that
//!    librqbit lets go of is never lost), both on disk before step 3;
//! 3. takes the torrent out of librqbit, files left alone (the task shows state 0, or 4 if
//!    paused, with a `moving` progress in its summary);
//! 4. moves each of the task's files that exists: a rename where the new folder is on the same
//!    file system, else a copy (fsynced), compared byte for byte with the original;
//! 5. on success, records in one sidecar change that the new folder is the task's and the move
//!    is committed, then deletes the originals of copied files and the task's own folders left
//!    empty (never the old folder itself, nor a folder holding anything else), and forgets the
//!    move; on a failure (a full disk, a cancelled shutdown), undoes it: renames back, deletes
//!    the partial copy and the folders the move created, forgets the move;
//! 6. adds the torrent to librqbit again, in the task's folder, paused if librqbit had it
//!    paused; librqbit checks the data and the task goes back to what it was (seeding seeds,
//!    paused stays paused, finished stays finished). Id, label, totals, goals, file choice and
//!    added time are the task's own and stay.
//!
//! **After a kill.** The sidecar record says where the complete data is: before the commit, in
//! the old folder (every original is still there, or was renamed whole); after it, in the new
//! one. At the next start, before librqbit opens a file, [`recover`] rolls an uncommitted move
//! back (a file only in the new folder is renamed back, a copy beside its original is deleted)
//! or finishes a committed one (deletes the originals whose copy exists), and forgets it.
//! librqbit's session holds the torrent in the old folder (the kill came before step 3), or
//! not at all: then the add journal adds it again, in the folder the sidecar names.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::adapter::AddOptions;
use super::registry;
use super::sidecar::{MoveRecord, Sidecar};
use super::task::Lifecycle;
use super::{find, Engine, EngineError};
use crate::protocol::{Event, MoveProgress, TaskId};

/// How much a copy reads and writes at once.
const CHUNK: usize = 1 << 20;

/// A move's progress, shared between the copy and the summaries.
pub struct MoveMeter {
    done: AtomicU64,
    total: AtomicU64,
    /// The task's `total_bytes` and `dl_bytes` when the move began, shown meanwhile.
    pub shown: (u64, u64),
}

impl MoveMeter {
    pub fn progress(&self) -> MoveProgress {
        MoveProgress {
            done_bytes: self.done.load(Ordering::Relaxed),
            total_bytes: self.total.load(Ordering::Relaxed),
        }
    }
}

/// What the librqbit side of a task was before its move.
struct Before {
    lifecycle: Lifecycle,
    /// librqbit's torrent: re-added after the move, paused if it was, with its file choice.
    readd: Option<(bool, Option<Vec<usize>>)>,
    /// The torrent's bytes.
    bytes: Vec<u8>,
}

impl Engine {
    /// Moves task `id`'s data to `dir` (already checked, see `folders.rs`), in its turn; see
    /// the module's doc. Answered when the task is in its new folder, or back in its old one
    /// with the error.
    pub async fn move_data(&self, id: &TaskId, dir: PathBuf) -> Result<(), EngineError> {
        let id = id.as_str().to_owned();
        let turn = self.turn(&id).await?;
        // However the caller fares (a dropped connection), the move completes or rolls back.
        let engine = self.clone();
        let job = self.inner.tracker.spawn(async move {
            let result = engine.move_in_turn(&id, dir).await;
            drop(turn);
            engine.observe_task(&id);
            result
        });
        job.await
            .unwrap_or_else(|e| Err(EngineError::Internal(format!("the move failed: {e}"))))
    }

    async fn move_in_turn(&self, id: &str, dir: PathBuf) -> Result<(), EngineError> {
        let (from, layout, bytes) = self.with_task(id, |t| {
            let bytes = t
                .handle()
                .and_then(|h| h.with_metadata(|m| m.torrent_bytes.to_vec()).ok())
                .or_else(|| match (&t.lifecycle, &t.origin) {
                    (Lifecycle::Resting(resting), _) => Some(resting.torrent.to_vec()),
                    (_, super::task::Origin::Torrent { bytes }) => Some(bytes.to_vec()),
                    (_, super::task::Origin::Magnet { .. }) => None,
                });
            (t.dir.clone(), t.layout.clone(), bytes)
        })?;
        if from == dir {
            return Ok(());
        }
        if self.with_task(id, |t| matches!(t.lifecycle, Lifecycle::Adding))? {
            return Err(EngineError::InvalidState(
                "the task is being added: move it once that is over".into(),
            ));
        }
        let Some(layout) = layout else {
            // A magnet without metadata has nothing on disk: it will simply go there.
            let saved = self.inner.sidecar.set_dir(id, self.sidecar_dir(&dir));
            self.with_task(id, |t| t.dir = dir.clone())?;
            self.inner.sidecar.saved(saved).await;
            self.publish_metadata(id);
            return Ok(());
        };
        let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
            return Err(EngineError::Internal(
                "the task's torrent is not known; cannot move it".into(),
            ));
        };
        // 1. Collisions, before anything moves: another task's paths, then the disk.
        let old_paths = registry::absolute(&from, &layout);
        let new_paths = registry::absolute(&dir, &layout);
        let owned = self.tasks().owners.collision(id, &new_paths);
        if let Some(collision) = owned {
            return Err(EngineError::InvalidInput(format!(
                "download_dir: {}; nothing was moved",
                collision.message()
            )));
        }
        let (target, files, source) = (dir.clone(), layout.files.clone(), from.clone());
        let (created, total) = tokio::task::spawn_blocking(move || {
            check_target(&target, &files).map(|created| (created, present_bytes(&source, &files)))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("checking the new folder failed: {e}")))?
        .map_err(EngineError::InvalidInput)?;
        {
            let mut tasks = self.tasks();
            if let Some(collision) = tasks.owners.collision(id, &new_paths) {
                return Err(EngineError::InvalidInput(format!(
                    "download_dir: {}; nothing was moved",
                    collision.message()
                )));
            }
            // Both sets are the task's until the move ends: no add lands in either meanwhile.
            let both = old_paths.iter().chain(&new_paths).cloned().collect();
            tasks.owners.claim(id, both);
        }
        // 2. On disk before anything moves.
        let record = MoveRecord {
            from: from.clone(),
            to: dir.clone(),
            files: layout.files.clone(),
            created,
            committed: false,
        };
        let recorded = self.inner.sidecar.set_move(id, Some(record.clone()));
        self.journal_add(id, &bytes, None).await;
        self.inner.sidecar.saved(recorded).await;
        // 3. Out of librqbit.
        let meter = self.with_task(id, |t| {
            let shown = t.observe_summary();
            t.end_live_period();
            let meter = Arc::new(MoveMeter {
                done: AtomicU64::new(0),
                total: AtomicU64::new(total),
                shown: (shown.total_bytes, shown.dl_bytes),
            });
            t.moving = Some(meter.clone());
            t.forget_summary();
            meter
        })?;
        let before = match self.leave_librqbit(id, bytes).await {
            Ok(before) => before,
            Err(e) => {
                self.end_move(id, &old_paths, None).await;
                return Err(e);
            }
        };
        self.observe_task(id);
        // Every move is announced with its size before a byte moves.
        if let Ok(summary) = self.with_task(id, |t| {
            let summary = t.observe_summary();
            t.remember_summary(summary.clone());
            summary
        }) {
            self.publish(Event::Updated(vec![summary]));
        }
        // 4. The files.
        let cancel = self.inner.cancel.clone();
        let moving = record.clone();
        let moved = tokio::task::spawn_blocking(move || move_files(&moving, &meter, &cancel))
            .await
            .unwrap_or_else(|e| Err(format!("the copy stopped: {e}")));
        // 5. Commit, or the rollback already happened.
        let result = match moved {
            Ok(copied) => {
                let committed = self.inner.sidecar.commit_move(id, self.sidecar_dir(&dir));
                self.inner.sidecar.saved(committed).await;
                let (old, files) = (from.clone(), layout.files.clone());
                let deleted = tokio::task::spawn_blocking(move || {
                    delete_originals(&old, &files, &copied);
                })
                .await;
                if let Err(e) = deleted {
                    tracing::warn!(task = %id, "deleting the moved files' originals: {e}");
                }
                self.with_task(id, |t| t.dir = dir.clone())?;
                self.end_move(id, &new_paths, Some(before)).await;
                tracing::info!(task = %id, from = %from.display(), to = %dir.display(), "moved");
                self.publish_metadata(id);
                Ok(())
            }
            Err(why) => {
                tracing::warn!(task = %id, "the move failed and was undone: {why}");
                self.end_move(id, &old_paths, Some(before)).await;
                Err(EngineError::Internal(format!(
                    "the move failed ({why}); nothing was moved: the data stays in {}",
                    from.display()
                )))
            }
        };
        self.settle(id).await;
        result
    }

    /// Takes the task's torrent out of librqbit (files left alone), if librqbit holds it.
    async fn leave_librqbit(&self, id: &str, bytes: Vec<u8>) -> Result<Before, EngineError> {
        let (lifecycle, handle) = self.with_task(id, |t| {
            let handle = t.handle().cloned();
            (
                std::mem::replace(&mut t.lifecycle, Lifecycle::Moving),
                handle,
            )
        })?;
        let Some(handle) = handle else {
            return Ok(Before {
                lifecycle,
                readd: None,
                bytes,
            });
        };
        let paused = handle.is_paused();
        let only_files = handle.only_files();
        if let Err(e) = self.inner.librqbit.delete(handle.info_hash(), false).await {
            if self.inner.librqbit.holds(handle.info_hash()) {
                self.with_task(id, |t| t.lifecycle = lifecycle)?;
                return Err(EngineError::Internal(format!(
                    "cannot stop the task for its move: {e:#}; nothing was moved"
                )));
            }
        }
        Ok(Before {
            lifecycle,
            readd: Some((paused, only_files)),
            bytes,
        })
    }

    /// Ends a move: the task owns `paths`, the record is forgotten (on disk before the paths
    /// of the other folder are free for other tasks), and librqbit holds the torrent again in
    /// the task's folder.
    async fn end_move(&self, id: &str, paths: &[PathBuf], before: Option<Before>) {
        let forgotten = self.inner.sidecar.set_move(id, None);
        self.inner.sidecar.saved(forgotten).await;
        self.tasks().owners.claim(id, paths.to_vec());
        let readd = match before {
            None => None,
            Some(Before {
                readd: Some((paused, only_files)),
                bytes,
                ..
            }) => Some((paused, only_files, bytes)),
            Some(Before { lifecycle, .. }) => {
                let _ = self.with_task(id, |t| t.lifecycle = lifecycle);
                None
            }
        };
        if let Some((paused, only_files, bytes)) = readd {
            let lifecycle = match self.readd(id, paused, only_files, bytes).await {
                Ok(handle) => Lifecycle::Managed {
                    handle,
                    restarting: false,
                },
                Err(e) => {
                    tracing::warn!(task = %id, "adding again after the move failed: {e:#}");
                    Lifecycle::Failed(format!("{e:#}"))
                }
            };
            let _ = self.with_task(id, |t| t.lifecycle = lifecycle);
        }
        let _ = self.with_task(id, |t| {
            t.moving = None;
            t.forget_summary();
        });
    }

    /// Adds the task's torrent to librqbit again, in the task's folder.
    async fn readd(
        &self,
        id: &str,
        paused: bool,
        only_files: Option<Vec<usize>>,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Arc<librqbit::ManagedTorrent>> {
        let (dir, layout) = self.with_task(id, |t| (t.dir.clone(), t.layout.clone()))?;
        let layout = layout.ok_or_else(|| anyhow::anyhow!("the task has no layout"))?;
        let output_folder =
            (dir != self.inner.config.download_dir).then(|| dir.join(&layout.sub_folder));
        let options = AddOptions {
            id: id.to_owned(),
            paused,
            only_files,
            sub_folder: layout.sub_folder,
            output_folder,
            peers: Vec::new(),
        };
        let handle = self.inner.librqbit.add(bytes, options).await?;
        if handle.info_hash().as_string() != id {
            anyhow::bail!("librqbit returned another torrent");
        }
        Ok(handle)
    }

    /// The sidecar's folder for a task in `dir`: `None` for the download folder.
    fn sidecar_dir(&self, dir: &Path) -> Option<PathBuf> {
        (dir != self.inner.config.download_dir).then(|| dir.to_owned())
    }

    /// Tells clients the task's folder (`task.metadataReceived`, whose `download_dir` changed).
    fn publish_metadata(&self, id: &str) {
        if let Ok(task) = find(&mut self.tasks(), id) {
            let metadata = task.metadata();
            self.publish(Event::MetadataReceived(metadata));
        }
    }
}

/// The bytes of the task's files that exist under `root`.
fn present_bytes(root: &Path, files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::symlink_metadata(root.join(f)).ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}

/// Refuses a target where anything is already on disk at one of the task's paths, or a file
/// where one of its folders goes; returns the folders the move will create (deepest first).
fn check_target(dir: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut created: Vec<PathBuf> = Vec::new();
    for file in files {
        let path = dir.join(file);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(format!(
                "download_dir: refused: {} already exists; nothing was moved",
                path.display()
            ));
        }
        for folder in path.ancestors().skip(1) {
            match std::fs::symlink_metadata(folder) {
                Ok(meta) if meta.is_dir() => break,
                Ok(_) => {
                    return Err(format!(
                        "download_dir: refused: {} is a file where the task needs a folder; \
                         nothing was moved",
                        folder.display()
                    ))
                }
                Err(_) => {
                    if !created.iter().any(|c| c == folder) {
                        created.push(folder.to_owned());
                    }
                }
            }
        }
    }
    created.sort_by_key(|f| std::cmp::Reverse(f.components().count()));
    Ok(created)
}

/// Moves every file of `record` that exists from its `from` to its `to` folder (see the
/// module's doc); returns the files copied (their originals are still there). On a failure
/// everything is undone and the error returned.
fn move_files(
    record: &MoveRecord,
    meter: &MoveMeter,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Vec<PathBuf>, String> {
    let present: Vec<(&PathBuf, u64)> = record
        .files
        .iter()
        .filter_map(|f| {
            let meta = std::fs::symlink_metadata(record.from.join(f)).ok()?;
            meta.is_file().then_some((f, meta.len()))
        })
        .collect();
    meter
        .total
        .store(present.iter().map(|(_, len)| len).sum(), Ordering::Relaxed);
    let mut renamed = Vec::new();
    let mut copied = Vec::new();
    let mut outcome = Ok(());
    for (file, len) in &present {
        let (old, new) = (record.from.join(file), record.to.join(file));
        let step = (|| {
            if cancel.is_cancelled() {
                return Err("the server is shutting down".to_owned());
            }
            if let Some(parent) = new.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            match rename_no_replace(&old, &new) {
                Ok(()) => {
                    renamed.push((*file).clone());
                    meter.done.fetch_add(*len, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    // Never over anything: a file that appeared there since the check stays.
                    let target = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&new)
                        .map_err(|e| format!("cannot write {}: {e}", new.display()))?;
                    copied.push((*file).clone());
                    copy_verified(&old, target, &new, meter, cancel)
                }
                Err(e) => Err(format!("cannot move {}: {e}", old.display())),
            }
        })();
        if let Err(why) = step {
            outcome = Err(why);
            break;
        }
    }
    if outcome.is_ok() {
        // The new names and the copies' entries on disk before the commit.
        for folder in record
            .files
            .iter()
            .filter_map(|f| record.to.join(f).parent().map(Path::to_owned))
        {
            if let Ok(handle) = std::fs::File::open(&folder) {
                let _ = handle.sync_all();
            }
        }
        return Ok(copied);
    }
    // Undo: renames back, copies (whole or partial) deleted, created folders removed.
    for file in renamed.iter().rev() {
        if let Err(e) = std::fs::rename(record.to.join(file), record.from.join(file)) {
            tracing::error!(file = %file.display(), "cannot undo a move's rename: {e}");
        }
    }
    for file in &copied {
        let _ = std::fs::remove_file(record.to.join(file));
    }
    remove_empty(&record.created);
    outcome.map(|()| Vec::new())
}

/// Copies `old` to `new` (which must not exist), syncs it and compares it with the original
/// byte for byte. A failed copy is deleted by the caller's rollback.
fn copy_verified(
    old: &Path,
    mut target: std::fs::File,
    new: &Path,
    meter: &MoveMeter,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), String> {
    use std::io::Write;
    let read_err = |e: std::io::Error| format!("cannot read {}: {e}", old.display());
    let write_err = |e: std::io::Error| format!("cannot write {}: {e}", new.display());
    let mut source = std::fs::File::open(old).map_err(read_err)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.is_cancelled() {
            return Err("the server is shutting down".to_owned());
        }
        let n = read_full(&mut source, &mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        target.write_all(&buf[..n]).map_err(write_err)?;
        meter.done.fetch_add(n as u64, Ordering::Relaxed);
    }
    target.sync_all().map_err(write_err)?;
    drop(target);
    // Verify: the copy as read back equals the original.
    let mut a = std::fs::File::open(old).map_err(read_err)?;
    let mut b = std::fs::File::open(new).map_err(write_err)?;
    let mut other = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut a, &mut buf).map_err(read_err)?;
        let m = read_full(&mut b, &mut other).map_err(write_err)?;
        if n != m || buf[..n] != other[..m] {
            return Err(format!(
                "the copy {} differs from its original",
                new.display()
            ));
        }
        if n == 0 {
            return Ok(());
        }
    }
}

/// Renames `old` to `new`, failing if `new` exists (`renameat2` with `RENAME_NOREPLACE`; a
/// plain rename where the file system does not support it, after the caller's check).
fn rename_no_replace(old: &Path, new: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (old_c, new_c) = (c(old)?, c(new)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            old_c.as_ptr(),
            libc::AT_FDCWD,
            new_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINVAL) {
        return std::fs::rename(old, new);
    }
    Err(e)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// After a committed move: deletes the originals of `copied` files (each only if its copy is
/// there), then the task's own folders under `from` that are left empty.
fn delete_originals(from: &Path, files: &[PathBuf], copied: &[PathBuf]) {
    for file in copied {
        let path = from.join(file);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), "cannot delete a moved file's original: {e}");
            }
        }
    }
    remove_empty(&own_folders(from, files));
}

/// The task's own folders under `root`: those between it and its files (never `root`),
/// deepest first.
fn own_folders(root: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = Vec::new();
    for file in files {
        for folder in file.ancestors().skip(1) {
            if folder.as_os_str().is_empty() {
                break;
            }
            let folder = root.join(folder);
            if !folders.contains(&folder) {
                folders.push(folder);
            }
        }
    }
    folders.sort_by_key(|f| std::cmp::Reverse(f.components().count()));
    folders
}

/// Removes each of `folders` (deepest first) that is empty.
fn remove_empty(folders: &[PathBuf]) {
    for folder in folders {
        let _ = std::fs::remove_dir(folder);
    }
}

/// At start, before librqbit opens a file: finishes or rolls back every move a kill cut short
/// (see the module's doc), and forgets it.
pub fn recover(sidecar: &Sidecar, download_dir: &Path) {
    let moves = sidecar.moves();
    for (id, record) in &moves {
        let sidecar_dir = |dir: &Path| (dir != download_dir).then(|| dir.to_owned());
        if record.committed {
            tracing::info!(task = %id, to = %record.to.display(), "finishing a move cut short");
            for file in &record.files {
                let (old, new) = (record.from.join(file), record.to.join(file));
                if new.exists() && old.exists() {
                    let _ = std::fs::remove_file(&old);
                }
            }
            remove_empty(&own_folders(&record.from, &record.files));
            sidecar.set_dir(id, sidecar_dir(&record.to));
        } else {
            tracing::info!(task = %id, from = %record.from.display(), "rolling back a move cut short");
            for file in &record.files {
                let (old, new) = (record.from.join(file), record.to.join(file));
                if std::fs::symlink_metadata(&new).is_err() {
                    continue;
                }
                if std::fs::symlink_metadata(&old).is_err() {
                    // Renamed whole: back where it was.
                    if let Some(parent) = old.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    if let Err(e) = std::fs::rename(&new, &old) {
                        tracing::error!(path = %new.display(), "cannot move back: {e}");
                    }
                } else {
                    // A copy, whole or partial, beside its original.
                    let _ = std::fs::remove_file(&new);
                }
            }
            remove_empty(&record.created);
            sidecar.set_dir(id, sidecar_dir(&record.from));
        }
        sidecar.set_move(id, None);
    }
    if !moves.is_empty() {
        sidecar.save_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(root: &Path, files: &[&str]) -> MoveRecord {
        let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        let to = root.join("new/place");
        MoveRecord {
            from: root.join("old"),
            created: check_target(&to, &files).unwrap(),
            to,
            files,
            committed: false,
        }
    }

    fn write(path: &Path, data: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    #[test]
    fn a_move_renames_within_a_file_system_and_leaves_the_old_folder() {
        let dir = tempfile::tempdir().unwrap();
        let r = record(dir.path(), &["t/a", "t/sub/b", "t/skipped"]);
        write(&r.from.join("t/a"), b"aaa");
        write(&r.from.join("t/sub/b"), b"bb");
        std::fs::write(r.from.join("user-file"), b"mine").unwrap();
        let meter = MoveMeter {
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            shown: (0, 0),
        };
        let copied = move_files(&r, &meter, &Default::default()).unwrap();
        assert!(copied.is_empty(), "same file system: renamed");
        assert_eq!(meter.progress().done_bytes, 5);
        assert_eq!(meter.progress().total_bytes, 5);
        delete_originals(&r.from, &r.files, &copied);
        assert_eq!(std::fs::read(r.to.join("t/sub/b")).unwrap(), b"bb");
        assert!(
            !r.to.join("t/skipped").exists(),
            "a skipped file is not made"
        );
        assert!(!r.from.join("t").exists(), "the task's own folder is gone");
        assert!(r.from.join("user-file").exists(), "the old folder stays");
    }

    #[test]
    fn a_collision_is_refused_and_folders_to_create_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![PathBuf::from("t/a")];
        write(&dir.path().join("x/t/a"), b"in the way");
        assert!(check_target(&dir.path().join("x"), &files)
            .unwrap_err()
            .contains("already exists"));
        write(&dir.path().join("y/t"), b"a file where a folder goes");
        assert!(check_target(&dir.path().join("y"), &files)
            .unwrap_err()
            .contains("is a file"));
        let created = check_target(&dir.path().join("z/w"), &files).unwrap();
        assert_eq!(
            created,
            vec![
                dir.path().join("z/w/t"),
                dir.path().join("z/w"),
                dir.path().join("z")
            ]
        );
    }

    #[test]
    fn recovery_rolls_back_an_uncommitted_move_and_finishes_a_committed_one() {
        let dir = tempfile::tempdir().unwrap();
        let sidecar = Sidecar::load(Some(dir.path().join("tasks.json")));
        // Uncommitted: one file renamed, one copied half-way.
        let r = record(dir.path(), &["t/a", "t/b"]);
        write(&r.to.join("t/a"), b"renamed");
        write(&r.from.join("t/b"), b"original");
        write(&r.to.join("t/b"), b"orig");
        sidecar.set_move("one", Some(r.clone()));
        recover(&sidecar, &dir.path().join("downloads"));
        assert_eq!(std::fs::read(r.from.join("t/a")).unwrap(), b"renamed");
        assert_eq!(std::fs::read(r.from.join("t/b")).unwrap(), b"original");
        assert!(
            !dir.path().join("new").exists(),
            "the created folders are gone"
        );
        assert_eq!(sidecar.dir("one"), Some(r.from.clone()));
        assert!(sidecar.moves().is_empty());
        // Committed: originals deleted where the copy is there.
        let mut r = record(dir.path(), &["t/a", "t/b"]);
        r.committed = true;
        write(&r.to.join("t/a"), b"renamed");
        write(&r.to.join("t/b"), b"original");
        std::fs::remove_file(r.from.join("t/a")).unwrap();
        sidecar.set_move("one", Some(r.clone()));
        recover(&sidecar, &dir.path().join("downloads"));
        assert!(!r.from.join("t").exists());
        assert_eq!(std::fs::read(r.to.join("t/b")).unwrap(), b"original");
        assert_eq!(sidecar.dir("one"), Some(r.to.clone()));
        assert!(Sidecar::load(Some(dir.path().join("tasks.json")))
            .moves()
            .is_empty());
    }
}
