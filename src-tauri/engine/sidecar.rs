//! What Magnetar must remember across restarts that librqbit's own session persistence does not
//! hold: magnets whose metadata has not arrived yet (librqbit only learns of a torrent once its
//! metadata is known), tasks that stopped because they finished (state 3, not a user pause), and
//! each task's uploaded bytes (librqbit counts uploads only while a torrent is live).
//!
//! Stored as one small JSON file, rewritten atomically and durably (see `durable.rs`) on every
//! change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable;

/// A magnet still waiting for its metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingMagnet {
    pub uri: String,
    #[serde(default)]
    pub peers: Vec<String>,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SidecarData {
    #[serde(default)]
    pending: BTreeMap<String, PendingMagnet>,
    #[serde(default)]
    finished: Vec<String>,
    #[serde(default)]
    uploaded: BTreeMap<String, u64>,
    /// When each task was added (Unix seconds).
    #[serde(default)]
    added: BTreeMap<String, u64>,
}

/// The sidecar file and its in-memory copy.
#[derive(Debug)]
pub struct Sidecar {
    path: Option<PathBuf>,
    data: std::sync::Mutex<SidecarData>,
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
        Sidecar {
            path,
            data: std::sync::Mutex::new(data),
        }
    }

    pub fn pending(&self) -> Vec<(String, PendingMagnet)> {
        let data = self.lock();
        data.pending
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn is_finished(&self, id: &str) -> bool {
        self.lock().finished.iter().any(|f| f == id)
    }

    pub fn set_pending(&self, id: &str, magnet: Option<PendingMagnet>) {
        self.update(|data| match magnet {
            Some(m) => data.pending.insert(id.to_owned(), m.clone()).as_ref() != Some(&m),
            None => data.pending.remove(id).is_some(),
        });
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

    /// Uploaded bytes saved for a task by an earlier run.
    pub fn uploaded(&self, id: &str) -> u64 {
        self.lock().uploaded.get(id).copied().unwrap_or(0)
    }

    /// Saves every task's uploaded bytes (one write, and only if something changed).
    pub fn set_uploaded(&self, totals: BTreeMap<String, u64>) {
        self.update(|data| {
            let totals: BTreeMap<String, u64> =
                totals.into_iter().filter(|(_, n)| *n > 0).collect();
            if data.uploaded == totals {
                return false;
            }
            data.uploaded = totals;
            true
        });
    }

    pub fn forget(&self, id: &str) {
        self.set_pending(id, None);
        self.set_finished(id, false);
        self.update(|data| data.uploaded.remove(id).is_some() | data.added.remove(id).is_some());
    }

    /// When task `id` was added (Unix seconds), recording now if it is new.
    pub fn added(&self, id: &str) -> u64 {
        if let Some(at) = self.lock().added.get(id) {
            return *at;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.update(|data| data.added.insert(id.to_owned(), now).is_none());
        now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SidecarData> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `change` and saves if it reports a change.
    fn update(&self, change: impl FnOnce(&mut SidecarData) -> bool) {
        let mut data = self.lock();
        if !change(&mut data) {
            return;
        }
        if let Some(path) = &self.path {
            if let Err(e) = save_atomically(path, &data) {
                tracing::error!(path = %path.display(), "cannot save task state: {e}");
            }
        }
    }
}

fn save_atomically(path: &Path, data: &SidecarData) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(data).map_err(std::io::Error::other)?;
    durable::write_atomically(path, &bytes, durable::Access::Shared)
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
        };
        sidecar.set_pending("a", Some(magnet.clone()));
        sidecar.set_finished("b", true);
        sidecar.set_uploaded([("b".to_string(), 42), ("c".to_string(), 0)].into());
        let reloaded = Sidecar::load(Some(path));
        assert_eq!((reloaded.uploaded("b"), reloaded.uploaded("c")), (42, 0));
        assert_eq!(reloaded.pending(), vec![("a".to_string(), magnet)]);
        assert!(reloaded.is_finished("b"));
        reloaded.forget("b");
        assert!(!reloaded.is_finished("b"));
        assert_eq!(reloaded.uploaded("b"), 0);
    }
}
