//! What the engine knows of its tasks, behind one lock: the tasks themselves, the paths each
//! owns, and the removals in flight. One lock, so that no code has to know an order between
//! several (an add checks all three at once: no task of that id, no removal of it, no path of
//! another task's).
//!
//! The tasks are kept in the order they were added (as `task.list` shows them) and found by id
//! in constant time: every API call on one task looks it up, and with a linear search a bulk
//! pause of N tasks, or N adds (each checking for a duplicate), cost O(N²) compares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::placement::{Layout, PathOwners};
use super::task::Task;
use super::EngineError;

#[derive(Default)]
pub struct Registry {
    /// The tasks by id, in added order.
    tasks: IndexMap<String, Task>,
    /// The paths each task owns (see `placement.rs`).
    pub owners: PathOwners,
    /// Tasks whose removal is in flight, and how to wake an add waiting for it.
    pub removing: HashMap<String, Arc<tokio::sync::Notify>>,
}

impl Registry {
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.tasks.get_mut(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.tasks.contains_key(id)
    }

    /// Adds a task after the others. The caller has checked that its id is new; a task with
    /// the same id would be replaced in place.
    pub fn push(&mut self, task: Task) {
        self.tasks.insert(task.id.clone(), task);
    }

    /// Takes a task out; the others keep their order.
    pub fn remove(&mut self, id: &str) -> Option<Task> {
        self.tasks.shift_remove(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Task> {
        self.tasks.values_mut()
    }

    /// Claims `layout`'s paths (under `root`) for task `id`, or says which task holds one of
    /// them already.
    pub fn claim_paths(
        &mut self,
        root: &Path,
        id: &str,
        layout: &Layout,
    ) -> Result<(), EngineError> {
        let files = absolute(root, layout);
        if let Some(collision) = self.owners.collision(id, &files) {
            return Err(EngineError::InvalidInput(collision.message()));
        }
        self.owners.claim(id, files);
        Ok(())
    }

    /// Claims paths for a task restored from disk: it owns what it owns already, so a
    /// collision (left by an older version) is logged, not refused.
    pub fn claim_restored(&mut self, id: &str, files: Vec<PathBuf>) {
        if let Some(collision) = self.owners.collision(id, &files) {
            tracing::warn!(task = %id, "restored task shares a path: {}", collision.message());
        }
        self.owners.claim(id, files);
    }
}

/// `layout`'s files as absolute paths under `root`.
pub fn absolute(root: &Path, layout: &Layout) -> Vec<PathBuf> {
    layout.files.iter().map(|f| root.join(f)).collect()
}
