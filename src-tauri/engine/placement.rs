//! Where a task's files go, and the rule that no two tasks share one.
//!
//! BEP 3: a torrent with a `files` list is a folder named after the torrent, even when the list
//! holds one file; a single-file torrent is one file named after the torrent. librqbit makes the
//! folder only for two or more files, so the facade always tells it the sub folder itself.
//!
//! Every task owns the paths of its files from the moment it is added (before anything is
//! written) until it is removed, whatever its state. A new task whose files would land on
//! another task's file, or need a folder where another task has a file (or the reverse), is
//! refused. A file on disk that no task owns is not a collision: librqbit hash-checks and reuses
//! it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Where one torrent's files go, relative to the download folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// librqbit's `sub_folder`: the torrent's name for a multi-file torrent, empty for a
    /// single-file one.
    pub sub_folder: String,
    /// Every file that will exist on disk (BEP 47 padding files never do), relative to the
    /// download folder, in torrent order.
    pub files: Vec<PathBuf>,
}

/// Two tasks (or one torrent with itself) would share a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Collision {
    /// The task that holds the path already, or `None` when a torrent collides with itself.
    pub owner: Option<String>,
    pub path: PathBuf,
}

impl Collision {
    /// What a client is told.
    pub fn message(&self) -> String {
        match &self.owner {
            Some(owner) => format!(
                "refused: task {owner} already owns {}; remove that task first, or add this \
                 torrent to another download folder",
                self.path.display()
            ),
            None => format!(
                "invalid torrent: it lists {} twice, or as both a file and a folder",
                self.path.display()
            ),
        }
    }
}

/// The paths every task owns.
#[derive(Debug, Default)]
pub struct PathOwners {
    /// Each owned file, and its task.
    files: HashMap<PathBuf, String>,
    /// Each folder that an owned file lives in (at any depth): how many tasks need it. Counts,
    /// not the tasks' names: with ten thousand tasks in one download folder, every folder
    /// above them is needed by all of them, and a set of names per folder cost a string per
    /// task and level (megabytes, and a tenth of a start-up). A collision, which is rare,
    /// finds an owner to name in `by_task`.
    folders: HashMap<PathBuf, usize>,
    /// Each task's files, to release them.
    by_task: HashMap<String, Vec<PathBuf>>,
}

impl PathOwners {
    /// The first collision of `files` (absolute) with other tasks or with themselves, if any.
    pub fn collision(&self, task: &str, files: &[PathBuf]) -> Option<Collision> {
        let mut own_files: BTreeSet<&Path> = BTreeSet::new();
        let mut own_folders: BTreeSet<&Path> = BTreeSet::new();
        for file in files {
            if let Some(owner) = self.files.get(file).filter(|o| *o != task) {
                return Some(collision(Some(owner), file));
            }
            if let Some(owner) = self.other_owner_of_folder(task, file) {
                return Some(collision(Some(&owner), file));
            }
            if !own_files.insert(file) || own_folders.contains(file.as_path()) {
                return Some(collision(None, file));
            }
            for folder in file.ancestors().skip(1) {
                if let Some(owner) = self.files.get(folder).filter(|o| *o != task) {
                    return Some(collision(Some(owner), folder));
                }
                if own_files.contains(folder) {
                    return Some(collision(None, folder));
                }
                own_folders.insert(folder);
            }
        }
        None
    }

    /// A task other than `task` that needs `folder` (has a file in it), if any.
    fn other_owner_of_folder(&self, task: &str, folder: &Path) -> Option<String> {
        let needed_by = *self.folders.get(folder)?;
        let in_folder = |files: &Vec<PathBuf>| files.iter().any(|f| is_inside(f, folder));
        let mine = self.by_task.get(task).is_some_and(in_folder);
        if needed_by <= usize::from(mine) {
            return None;
        }
        self.by_task
            .iter()
            .find(|(owner, files)| *owner != task && in_folder(files))
            .map(|(owner, _)| owner.clone())
    }

    /// Records `files` as `task`'s, without checking: call [`Self::collision`] first, except for
    /// tasks restored from disk, which already own what they own.
    pub fn claim(&mut self, task: &str, files: Vec<PathBuf>) {
        self.release(task);
        for folder in folders_of(&files) {
            *self.folders.entry(folder.to_owned()).or_default() += 1;
        }
        for file in &files {
            self.files.insert(file.clone(), task.to_owned());
        }
        self.by_task.insert(task.to_owned(), files);
    }

    /// Frees every path of `task`.
    pub fn release(&mut self, task: &str) {
        let Some(files) = self.by_task.remove(task) else {
            return;
        };
        for folder in folders_of(&files) {
            if let Some(needed_by) = self.folders.get_mut(folder) {
                *needed_by -= 1;
                if *needed_by == 0 {
                    self.folders.remove(folder);
                }
            }
        }
        for file in files {
            if self.files.get(&file).is_some_and(|o| o == task) {
                self.files.remove(&file);
            }
        }
    }
}

/// Every folder that one of `files` lives in, at any depth, once each.
fn folders_of(files: &[PathBuf]) -> HashSet<&Path> {
    files
        .iter()
        .flat_map(|file| file.ancestors().skip(1))
        .collect()
}

/// Whether `file` lives in `folder` (at any depth).
fn is_inside(file: &Path, folder: &Path) -> bool {
    file != folder && file.starts_with(folder)
}

fn collision(owner: Option<&String>, path: &Path) -> Collision {
    Collision {
        owner: owner.cloned(),
        path: path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn same_file_name_in_different_folders_is_fine() {
        let mut owners = PathOwners::default();
        owners.claim("alpha", paths(&["/dl/alpha/data.bin"]));
        assert_eq!(
            owners.collision("beta", &paths(&["/dl/beta/data.bin"])),
            None
        );
        assert_eq!(owners.collision("single", &paths(&["/dl/data.bin"])), None);
        // Two folders of the same name share the folder, not a file.
        assert_eq!(
            owners.collision("other", &paths(&["/dl/alpha/other.bin"])),
            None
        );
    }

    #[test]
    fn the_same_file_collides_and_names_its_owner() {
        let mut owners = PathOwners::default();
        owners.claim("single", paths(&["/dl/data.bin"]));
        let c = owners
            .collision("again", &paths(&["/dl/data.bin"]))
            .unwrap();
        assert_eq!(c.owner.as_deref(), Some("single"));
        assert!(c.message().contains("single") && c.message().contains("/dl/data.bin"));
        // A task never collides with itself (a re-claim on restore or retry).
        assert_eq!(owners.collision("single", &paths(&["/dl/data.bin"])), None);
    }

    #[test]
    fn a_file_where_a_folder_is_needed_collides_both_ways() {
        let mut owners = PathOwners::default();
        owners.claim("file", paths(&["/dl/alpha"]));
        let c = owners
            .collision("folder", &paths(&["/dl/alpha/x"]))
            .unwrap();
        assert_eq!(
            (c.owner.as_deref(), c.path),
            (Some("file"), "/dl/alpha".into())
        );
        let mut owners = PathOwners::default();
        owners.claim("folder", paths(&["/dl/alpha/x"]));
        let c = owners.collision("file", &paths(&["/dl/alpha"])).unwrap();
        assert_eq!(c.owner.as_deref(), Some("folder"));
    }

    #[test]
    fn a_torrent_colliding_with_itself_is_refused() {
        let owners = PathOwners::default();
        let twice = owners
            .collision("t", &paths(&["/dl/t/a", "/dl/t/a"]))
            .unwrap();
        assert_eq!(twice.owner, None);
        let nested = owners
            .collision("t", &paths(&["/dl/t/a/b", "/dl/t/a"]))
            .unwrap();
        assert_eq!(nested.path, PathBuf::from("/dl/t/a"));
        let nested = owners
            .collision("t", &paths(&["/dl/t/a", "/dl/t/a/b"]))
            .unwrap();
        assert_eq!(nested.path, PathBuf::from("/dl/t/a"));
    }

    #[test]
    fn a_folder_is_named_by_another_task_that_needs_it_until_the_last_one_goes() {
        let mut owners = PathOwners::default();
        owners.claim("a", paths(&["/dl/x/a.bin", "/dl/x/b.bin"]));
        owners.claim("b", paths(&["/dl/x/c.bin"]));
        owners.claim("c", paths(&["/dl/y.bin"]));
        let c = owners.collision("file", &paths(&["/dl/x"])).unwrap();
        assert!(matches!(c.owner.as_deref(), Some("a" | "b")), "{c:?}");
        // A task that needs the folder itself still collides with the other that needs it.
        let c = owners.collision("a", &paths(&["/dl/x"])).unwrap();
        assert_eq!(c.owner.as_deref(), Some("b"));
        owners.release("b");
        assert_eq!(owners.collision("a", &paths(&["/dl/x"])), None);
        let c = owners.collision("file", &paths(&["/dl/x"])).unwrap();
        assert_eq!(c.owner.as_deref(), Some("a"));
        // Claimed again (a move, a restore): counted once, not twice.
        owners.claim("a", paths(&["/dl/x/a.bin"]));
        owners.release("a");
        assert_eq!(owners.collision("file", &paths(&["/dl/x"])), None);
        assert_eq!(owners.folders.get(Path::new("/dl")), Some(&1));
    }

    #[test]
    fn release_frees_every_path() {
        let mut owners = PathOwners::default();
        owners.claim("a", paths(&["/dl/a/x", "/dl/a/y/z"]));
        owners.release("a");
        assert_eq!(owners.collision("b", &paths(&["/dl/a"])), None);
        assert!(owners.files.is_empty() && owners.folders.is_empty());
    }
}
