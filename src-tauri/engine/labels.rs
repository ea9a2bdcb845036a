//! Labels and folders as the engine keeps them: the session's labels (`session.setLabels`),
//! each task's label (`task.setLabel`), and the download roots a remote client's folder must
//! be under. The checks themselves are in `folders.rs`.

use std::path::PathBuf;
use std::sync::MutexGuard;

use super::folders::{self, Folders, Refusal};
use super::goals::{parse_label_goal, GoalOverrides};
use super::{find, Engine, EngineError};
use crate::protocol::{Label, TaskId};

impl Engine {
    pub(super) fn folders(&self) -> MutexGuard<'_, Folders> {
        self.inner
            .folders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the folders (beside the download folder) under which clients on other machines
    /// may name a task's folder (the `download_roots` setting).
    pub fn set_download_roots(&self, roots: &[PathBuf]) {
        let download_dir = self.inner.config.download_dir.clone();
        self.folders().set_roots(&download_dir, roots);
    }

    /// Checks a folder a client names (see `folders.rs`); `remote`: the client is on another
    /// machine.
    pub fn resolve_folder(
        &self,
        requested: &str,
        remote: bool,
        what: &str,
    ) -> Result<PathBuf, Refusal> {
        let roots = self.folders().roots().to_vec();
        folders::resolve(requested, &roots, remote, what)
    }

    /// The seeding goal of label `name` (checked when the labels were set; a goal that no
    /// longer parses, from a hand-edited settings file, inherits).
    pub(super) fn label_goal(&self, name: Option<&str>) -> GoalOverrides {
        let folders = self.folders();
        name.and_then(|name| folders.label(name))
            .and_then(|label| label.seed_goal.as_ref())
            .and_then(|goal| parse_label_goal(goal, "seed_goal").ok())
            .unwrap_or_default()
    }

    /// Gives every task its label's seeding goal again (the labels or a task's label changed).
    fn refresh_label_goals(&self) {
        let goals: Vec<(String, GoalOverrides)> = self
            .tasks()
            .iter()
            .map(|task| (task.id.clone(), task.label.clone()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(id, label)| (id, self.label_goal(label.as_deref())))
            .collect();
        {
            let mut tasks = self.tasks();
            for (id, goal) in goals {
                if let Some(task) = tasks.get_mut(&id) {
                    task.label_goal = goal;
                }
            }
        }
        self.inner.watcher_wake.notify_one();
    }

    /// The session's labels.
    pub fn labels(&self) -> Vec<Label> {
        self.folders().labels().to_vec()
    }

    /// Checks a label list for [`Engine::set_labels`]; returns it as it would be kept.
    pub fn check_labels(&self, labels: Vec<Label>, remote: bool) -> Result<Vec<Label>, Refusal> {
        let roots = self.folders().roots().to_vec();
        folders::check_labels(labels, &roots, remote)
    }

    /// Replaces the session's labels (checked by [`Engine::check_labels`], or loaded from the
    /// settings). A task whose label is no longer in the list loses it (`task.updated` says so).
    pub fn set_labels(&self, labels: Vec<Label>) {
        let names: Vec<String> = labels.iter().map(|l| l.name.clone()).collect();
        self.folders().set_labels(labels);
        let mut changed = Vec::new();
        {
            let mut tasks = self.tasks();
            for task in tasks.iter_mut() {
                if task.label.as_ref().is_some_and(|l| !names.contains(l)) {
                    task.label = None;
                    task.forget_summary();
                    self.inner.sidecar.set_label(&task.id, None);
                    changed.push(task.id.clone());
                }
            }
        }
        for id in changed {
            self.observe_task(&id);
        }
        self.refresh_label_goals();
    }

    /// Sets (or, with `None`, clears) task `id`'s label; the label must exist. Its data stays
    /// where it is. Answered once the change is on disk; `task.updated` carries it.
    pub async fn set_label(&self, id: &TaskId, label: Option<String>) -> Result<(), EngineError> {
        let id = id.as_str();
        if let Some(name) = &label {
            if self.folders().label(name).is_none() {
                return Err(EngineError::InvalidInput(format!(
                    "label: unknown label {name:?}; define it with session.setLabels first"
                )));
            }
        }
        let saved = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            if task.label == label {
                return Ok(());
            }
            task.label = label.clone();
            task.forget_summary();
            self.inner.sidecar.set_label(id, label)
        };
        self.observe_task(id);
        self.refresh_label_goals();
        self.inner.sidecar.saved(saved).await;
        Ok(())
    }
}
