//! The engine's tasks: in the order they were added (as `task.list` shows them), and found by
//! id in constant time. Every API call on one task looks it up; with a linear search, a bulk
//! pause of N tasks, or N adds (each checking for a duplicate), cost O(N²) compares.

use indexmap::IndexMap;

use super::task::Task;

#[derive(Default)]
pub struct TaskTable {
    by_id: IndexMap<String, Task>,
}

impl TaskTable {
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.by_id.get_mut(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Adds a task after the others. The caller has checked that its id is new; a task with
    /// the same id would be replaced in place.
    pub fn push(&mut self, task: Task) {
        self.by_id.insert(task.id.clone(), task);
    }

    /// Takes a task out; the others keep their order.
    pub fn remove(&mut self, id: &str) -> Option<Task> {
        self.by_id.shift_remove(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Task> {
        self.by_id.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Task> {
        self.by_id.values_mut()
    }
}
