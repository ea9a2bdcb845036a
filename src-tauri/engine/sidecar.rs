//! What Magnetar must remember across restarts that librqbit's own session persistence does not
//! hold: magnets whose metadata has not arrived yet (librqbit only learns of a torrent once its
//! metadata is known), tasks that stopped because they finished
//! (state 3, not a user pause), each task's totals (bytes up and down, seconds downloading and
//! seeding: librqbit counts bytes only while a torrent is live, from 0 at every resume), the
//! removed tasks' totals summed, each task's own seeding goal and whether a goal stopped it, and
//! which files in a task's way were found empty (never to be deleted).
//!
//! Stored as one small JSON file, rewritten atomically and durably (see `durable.rs`). Changes
//! are saved behind the caller's back by [`Sidecar::write_behind`]: a change only marks the
//! copy dirty, and one write saves every change made meanwhile. So a thousand adds cost a few
//! writes instead of a thousand fsyncs on the request path (issue 14's profile: the per-add
//! fsync was the largest single cost of `task.add`). A caller that must not answer before its
//! change is on disk (a magnet add: nothing else remembers it) awaits [`Sidecar::saved`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::goals::{GoalOverrides, Totals};
use crate::durable;

/// How long a caller waits for its change to reach the disk.
const SAVE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the writer rests after a save, in multiples of what the save took: the saves of a
/// burst then take at most a fifth of the writer's time (see [`Sidecar::write_behind`]).
const REST_PER_SAVE: u32 = 4;
/// The longest rest between two saves: a change is on disk within about this much more.
const MAX_REST: std::time::Duration = std::time::Duration::from_millis(500);

/// A magnet still waiting for its metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingMagnet {
    pub uri: String,
    #[serde(default)]
    pub peers: Vec<String>,
    #[serde(default)]
    pub paused: bool,
    /// The files chosen at the add (`task.add`'s `files`), given to librqbit with the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<usize>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SidecarData {
    #[serde(default)]
    pending: BTreeMap<String, PendingMagnet>,
    #[serde(default)]
    finished: Vec<String>,
    /// Uploaded bytes per task, as saved before the totals below existed: read once, into
    /// `totals`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    uploaded: BTreeMap<String, u64>,
    /// Each task's totals (bytes up and down ever, seconds downloading and seeding).
    #[serde(default)]
    totals: BTreeMap<String, Totals>,
    /// The totals of removed tasks, summed: part of the session's all-time totals.
    #[serde(default)]
    removed: Totals,
    /// Each task's own seeding goal (`task.setSeedGoal`), where it is not all "inherit".
    #[serde(default)]
    goals: BTreeMap<String, GoalOverrides>,
    /// Tasks a seeding goal stopped, with the reason: they stay stopped across restarts.
    #[serde(default)]
    goal_met: BTreeMap<String, String>,
    /// When each task was added (Unix seconds).
    #[serde(default)]
    added: BTreeMap<String, u64>,
    /// Finished tasks the user resumed to seed them, with seeding off: they seed after a
    /// restart too.
    #[serde(default)]
    seeding: Vec<String>,
    /// Tasks whose files in the way were surveyed (see `existing.rs`), with the empty files
    /// found there: used, but never deleted.
    #[serde(default)]
    surveyed: BTreeMap<String, Vec<PathBuf>>,
    /// Tasks added to a folder other than the download folder, and that folder.
    #[serde(default)]
    dirs: BTreeMap<String, PathBuf>,
    /// Each labelled task's label.
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Moves of tasks' data under way (`task.move`, see `moving.rs`): finished or rolled
    /// back at the next start if a kill cut them short.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    moves: BTreeMap<String, MoveRecord>,
    /// Each task's file choice (`task.setFiles`, `task.add`'s `files`), where not all: given
    /// to librqbit whenever the task is added to it again (see `resting.rs`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    chosen: BTreeMap<String, Vec<usize>>,
}

/// A move of one task's data (see `moving.rs`), recorded before anything moves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MoveRecord {
    /// The task's folder before the move, and the one it moves to (absolute).
    pub from: PathBuf,
    pub to: PathBuf,
    /// Every file of the task (its layout), relative to either folder.
    pub files: Vec<PathBuf>,
    /// The folders the move creates under (or at) `to`, to remove again on a rollback.
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// Every file is in `to`, verified, and `to` is the task's folder: only the originals
    /// remain to be deleted. Until then `from` holds the complete data.
    #[serde(default)]
    pub committed: bool,
}

/// The sidecar file and its in-memory copy.
#[derive(Debug)]
pub struct Sidecar {
    path: Option<PathBuf>,
    data: std::sync::Mutex<Versioned>,
    /// Held while a save runs, so that two saves never share the temporary file.
    saving: std::sync::Mutex<()>,
    /// The newest version on disk.
    saved: watch::Sender<u64>,
    /// Wakes the writer: the copy changed.
    dirty: Notify,
    /// Ends the writer's pause between two saves: a caller waits for its change to be on disk.
    hurry: Notify,
}

/// The in-memory copy and its version, bumped by every change.
#[derive(Debug, Default)]
struct Versioned {
    data: SidecarData,
    version: u64,
}

impl Sidecar {
    /// Loads the sidecar from `path`; a missing or unreadable file starts empty (with a warning
    /// for the unreadable case, never a failure: losing a pending magnet beats not starting).
    pub fn load(path: Option<PathBuf>) -> Self {
        let data = path
            .as_deref()
            .and_then(|p| match std::fs::read(p) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .inspect_err(
                        |e| tracing::warn!(path = %p.display(), "ignoring bad sidecar: {e}"),
                    )
                    .ok(),
                Err(_) => None,
            })
            .unwrap_or_default();
        let mut data: SidecarData = data;
        // An older file: its uploaded bytes become totals.
        for (id, uploaded) in std::mem::take(&mut data.uploaded) {
            data.totals.entry(id).or_default().uploaded = uploaded;
        }
        Sidecar {
            path,
            data: std::sync::Mutex::new(Versioned { data, version: 0 }),
            saving: std::sync::Mutex::new(()),
            saved: watch::Sender::new(0),
            dirty: Notify::new(),
            hurry: Notify::new(),
        }
    }

    /// Saves changes as they come until `cancel`, then once more; run it on the engine's
    /// tracker. Changes made while a save runs are saved together by the next one.
    ///
    /// A save writes the whole file, so its cost grows with the library; saved back to back
    /// through a burst of changes, the saves alone kept a core busy (10,000 paused adds: 71 %
    /// of the server's CPU went to serializing this file, and the adds took 28.8 s instead of
    /// 11). So after each save the writer rests for [`REST_PER_SAVE`] times what that save took
    /// (at most [`MAX_REST`]), and the changes made meanwhile share the next save. A caller that
    /// waits for its change to be on disk ([`Sidecar::saved`]) ends the rest at once.
    pub async fn write_behind(self: std::sync::Arc<Self>, cancel: CancellationToken) {
        let mut rest = std::time::Duration::ZERO;
        loop {
            let stop = tokio::select! {
                _ = self.dirty.notified() => false,
                _ = cancel.cancelled() => true,
            };
            let stop = stop
                || tokio::select! {
                    _ = tokio::time::sleep(rest) => false,
                    _ = self.hurry.notified() => false,
                    _ = cancel.cancelled() => true,
                };
            let sidecar = self.clone();
            let started = std::time::Instant::now();
            let _ = tokio::task::spawn_blocking(move || sidecar.save_now()).await;
            rest = (started.elapsed() * REST_PER_SAVE).min(MAX_REST);
            if stop {
                return;
            }
        }
    }

    /// Waits until the change that returned `version` is on disk (at once if there is no
    /// file). A save that cannot happen (a full or read-only disk, logged by the writer; the
    /// writer stopped at shutdown) is not waited for beyond [`SAVE_PATIENCE`].
    pub async fn saved(&self, version: u64) {
        if self.path.is_none() {
            return;
        }
        let mut saved = self.saved.subscribe();
        if *saved.borrow() < version {
            self.hurry.notify_one();
        }
        let waited =
            tokio::time::timeout(SAVE_PATIENCE, saved.wait_for(|on_disk| *on_disk >= version))
                .await;
        if waited.is_err() {
            tracing::warn!("the task state is not on disk yet; going on without it");
        }
    }

    /// Saves the current copy now if it has unsaved changes (the writer's step, and the last
    /// save at shutdown).
    pub fn save_now(&self) {
        let Some(path) = &self.path else { return };
        let _saving = self
            .saving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (bytes, version) = {
            let copy = self.lock();
            if copy.version <= *self.saved.borrow() {
                return;
            }
            (serde_json::to_vec(&copy.data), copy.version)
        };
        let result = bytes
            .map_err(std::io::Error::other)
            .and_then(|bytes| durable::write_atomically(path, &bytes, durable::Access::Shared));
        match result {
            Ok(()) => {
                self.saved.send_modify(|on_disk| *on_disk = version);
            }
            Err(e) => tracing::error!(path = %path.display(), "cannot save task state: {e}"),
        }
    }

    pub fn pending(&self) -> Vec<(String, PendingMagnet)> {
        let copy = self.lock();
        copy.data
            .pending
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn is_finished(&self, id: &str) -> bool {
        self.lock().data.finished.iter().any(|f| f == id)
    }

    /// Remembers (or forgets) a magnet waiting for its metadata; returns the version to await
    /// with [`Sidecar::saved`].
    pub fn set_pending(&self, id: &str, magnet: Option<PendingMagnet>) -> u64 {
        self.update(|data| match magnet {
            Some(m) => data.pending.insert(id.to_owned(), m.clone()).as_ref() != Some(&m),
            None => data.pending.remove(id).is_some(),
        })
    }

    pub fn set_finished(&self, id: &str, finished: bool) {
        self.update(|data| {
            let present = data.finished.iter().any(|f| f == id);
            match (finished, present) {
                (true, false) => data.finished.push(id.to_owned()),
                (false, true) => data.finished.retain(|f| f != id),
                _ => return false,
            }
            true
        });
    }

    /// Did the user choose to seed this finished task (with seeding off)?
    pub fn is_seeding(&self, id: &str) -> bool {
        self.lock().data.seeding.iter().any(|s| s == id)
    }

    /// Remembers that the user chose to seed this finished task.
    pub fn set_seeding(&self, id: &str) {
        self.update(|data| {
            if data.seeding.iter().any(|s| s == id) {
                return false;
            }
            data.seeding.push(id.to_owned());
            true
        });
    }

    /// The totals saved for a task by an earlier run.
    pub fn totals(&self, id: &str) -> Totals {
        self.lock().data.totals.get(id).copied().unwrap_or_default()
    }

    /// Saves every task's totals (one write, and only if something changed); returns the
    /// version to await with [`Sidecar::saved`].
    pub fn set_totals(&self, totals: BTreeMap<String, Totals>) -> u64 {
        self.update(|data| {
            let totals: BTreeMap<String, Totals> =
                totals.into_iter().filter(|(_, t)| !t.is_zero()).collect();
            if data.totals == totals {
                return false;
            }
            data.totals = totals;
            true
        })
    }

    /// The summed totals of removed tasks.
    pub fn removed_totals(&self) -> Totals {
        self.lock().data.removed
    }

    /// Task `id`'s own seeding goal (all "inherit" if none was set).
    pub fn goal(&self, id: &str) -> GoalOverrides {
        self.lock().data.goals.get(id).copied().unwrap_or_default()
    }

    /// Saves task `id`'s own seeding goal; returns the version to await.
    pub fn set_goal(&self, id: &str, goal: GoalOverrides) -> u64 {
        self.update(|data| {
            if goal.is_inherit() {
                data.goals.remove(id).is_some()
            } else {
                data.goals.insert(id.to_owned(), goal) != Some(goal)
            }
        })
    }

    /// Why a seeding goal stopped task `id`, if one did (and it was not resumed since).
    pub fn goal_met(&self, id: &str) -> Option<String> {
        self.lock().data.goal_met.get(id).cloned()
    }

    /// Records (or clears) that a seeding goal stopped task `id`; returns the version to await.
    pub fn set_goal_met(&self, id: &str, reason: Option<&str>) -> u64 {
        self.update(|data| match reason {
            Some(r) => data.goal_met.insert(id.to_owned(), r.to_owned()).as_deref() != Some(r),
            None => data.goal_met.remove(id).is_some(),
        })
    }

    /// Forgets everything about task `id`; returns the version to await with
    /// [`Sidecar::saved`] (a removal is answered only once it is on disk: a task whose removal
    /// was answered must never come back at the next start).
    ///
    /// `totals`, the task's totals at its removal, are added to the removed tasks' sum.
    pub fn forget(&self, id: &str, totals: Totals) -> u64 {
        self.set_pending(id, None);
        self.set_finished(id, false);
        self.update(|data| {
            data.removed.add(&totals);
            data.totals.remove(id).is_some()
                | !totals.is_zero()
                | data.goals.remove(id).is_some()
                | data.goal_met.remove(id).is_some()
                | data.added.remove(id).is_some()
                | data.surveyed.remove(id).is_some()
                | data.dirs.remove(id).is_some()
                | data.labels.remove(id).is_some()
                | data.moves.remove(id).is_some()
                | data.chosen.remove(id).is_some()
                | {
                    let before = data.seeding.len();
                    data.seeding.retain(|s| s != id);
                    data.seeding.len() != before
                }
        })
    }

    /// The empty files kept in task `id`'s way, if its files were surveyed.
    pub fn surveyed(&self, id: &str) -> Option<Vec<PathBuf>> {
        self.lock().data.surveyed.get(id).cloned()
    }

    /// Records that task `id`'s files were surveyed, and the empty files it must keep.
    pub fn set_surveyed(&self, id: &str, kept: Vec<PathBuf>) -> u64 {
        self.update(|data| data.surveyed.insert(id.to_owned(), kept.clone()) != Some(kept))
    }

    /// The folder task `id` was added to, if not the download folder.
    pub fn dir(&self, id: &str) -> Option<PathBuf> {
        self.lock().data.dirs.get(id).cloned()
    }

    /// Records the folder task `id` goes to (`None`: the download folder).
    pub fn set_dir(&self, id: &str, dir: Option<PathBuf>) -> u64 {
        self.update(|data| match dir {
            Some(dir) => data.dirs.insert(id.to_owned(), dir.clone()) != Some(dir),
            None => data.dirs.remove(id).is_some(),
        })
    }

    /// The moves recorded (see `moving.rs`).
    pub fn moves(&self) -> Vec<(String, MoveRecord)> {
        let copy = self.lock();
        copy.data
            .moves
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Records (or forgets) a move of task `id`'s data; returns the version to await.
    pub fn set_move(&self, id: &str, record: Option<MoveRecord>) -> u64 {
        self.update(|data| match record {
            Some(r) => data.moves.insert(id.to_owned(), r.clone()).as_ref() != Some(&r),
            None => data.moves.remove(id).is_some(),
        })
    }

    /// The move of task `id` is done but for deleting the originals: in one change, its
    /// record says so and its folder becomes `dir` (`None`: the download folder). Returns the
    /// version to await.
    pub fn commit_move(&self, id: &str, dir: Option<PathBuf>) -> u64 {
        self.update(|data| {
            if let Some(record) = data.moves.get_mut(id) {
                record.committed = true;
            }
            match dir {
                Some(dir) => data.dirs.insert(id.to_owned(), dir),
                None => data.dirs.remove(id),
            };
            true
        })
    }

    /// Task `id`'s label, if it has one.
    pub fn label(&self, id: &str) -> Option<String> {
        self.lock().data.labels.get(id).cloned()
    }

    /// Records task `id`'s label (`None`: none).
    pub fn set_label(&self, id: &str, label: Option<String>) -> u64 {
        self.update(|data| match label {
            Some(label) => data.labels.insert(id.to_owned(), label.clone()) != Some(label),
            None => data.labels.remove(id).is_some(),
        })
    }

    /// Task `id`'s file choice, if not all its files.
    pub fn chosen_files(&self, id: &str) -> Option<std::collections::BTreeSet<usize>> {
        let data = &self.lock().data;
        data.chosen
            .get(id)
            .map(|files| files.iter().copied().collect())
    }

    /// Records task `id`'s file choice (`None`: all its files).
    pub fn set_chosen_files(&self, id: &str, files: Option<Vec<usize>>) -> u64 {
        self.update(|data| match files {
            Some(mut files) => {
                files.sort_unstable();
                data.chosen.insert(id.to_owned(), files.clone()) != Some(files)
            }
            None => data.chosen.remove(id).is_some(),
        })
    }

    /// When task `id` was added (Unix seconds), recording now if it is new.
    pub fn added(&self, id: &str) -> u64 {
        if let Some(at) = self.lock().data.added.get(id) {
            return *at;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.update(|data| data.added.insert(id.to_owned(), now).is_none());
        now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Versioned> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `change` and, if it reports a change, has it saved; returns the version that
    /// holds it.
    fn update(&self, change: impl FnOnce(&mut SidecarData) -> bool) -> u64 {
        let mut copy = self.lock();
        if change(&mut copy.data) {
            copy.version += 1;
            self.dirty.notify_one();
        }
        copy.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.json");
        let sidecar = Sidecar::load(Some(path.clone()));
        let magnet = PendingMagnet {
            uri: "magnet:?xt=urn:btih:00".into(),
            peers: vec!["127.0.0.1:1".into()],
            paused: true,
            files: Some(vec![1, 3]),
        };
        sidecar.set_pending("a", Some(magnet.clone()));
        sidecar.set_finished("b", true);
        sidecar.set_label("a", Some("tv".into()));
        sidecar.set_dir("a", Some("/srv/tv".into()));
        let up = |uploaded| Totals {
            uploaded,
            seconds_seeding: 7,
            ..Default::default()
        };
        sidecar.set_totals(
            [
                ("b".to_string(), up(42)),
                ("c".to_string(), Totals::default()),
            ]
            .into(),
        );
        sidecar.save_now();
        let reloaded = Sidecar::load(Some(path.clone()));
        assert_eq!(
            (reloaded.totals("b"), reloaded.totals("c")),
            (up(42), Totals::default())
        );
        assert_eq!(reloaded.pending(), vec![("a".to_string(), magnet)]);
        assert!(reloaded.is_finished("b"));
        assert_eq!(reloaded.label("a").as_deref(), Some("tv"));
        assert_eq!(reloaded.dir("a"), Some(PathBuf::from("/srv/tv")));
        reloaded.forget("a", Totals::default());
        assert_eq!((reloaded.label("a"), reloaded.dir("a")), (None, None));
        reloaded.forget("b", up(50));
        assert!(!reloaded.is_finished("b"));
        reloaded.save_now();
        assert_eq!(reloaded.totals("b"), Totals::default());
        assert_eq!(Sidecar::load(Some(path)).removed_totals(), up(50));
    }

    #[test]
    fn an_older_files_uploaded_bytes_become_totals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.json");
        std::fs::write(&path, r#"{"uploaded": {"b": 42}}"#).unwrap();
        assert_eq!(Sidecar::load(Some(path)).totals("b").uploaded, 42);
    }

    /// The writer saves behind the callers' backs, many changes in few writes, and a caller
    /// that waits for its version finds it on disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_saves_what_callers_wait_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.json");
        let sidecar = std::sync::Arc::new(Sidecar::load(Some(path.clone())));
        let cancel = CancellationToken::new();
        let writer = tokio::spawn(sidecar.clone().write_behind(cancel.clone()));
        let mut version = 0;
        for i in 0..500 {
            let magnet = PendingMagnet {
                uri: format!("magnet:?xt=urn:btih:{i:040x}"),
                peers: Vec::new(),
                paused: false,
                files: None,
            };
            version = sidecar.set_pending(&format!("{i:040x}"), Some(magnet));
        }
        sidecar.saved(version).await;
        assert_eq!(Sidecar::load(Some(path.clone())).pending().len(), 500);
        // A change made just before shutdown is in the writer's last save.
        sidecar.set_finished("done", true);
        cancel.cancel();
        writer.await.unwrap();
        assert!(Sidecar::load(Some(path)).is_finished("done"));
    }
}
