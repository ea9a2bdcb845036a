//! Where a task may go: the folder a client names for it (`task.add`'s `download_dir`, a
//! label's folder), checked before anything is created, and the session's labels.
//!
//! A named folder must be absolute and free of `..`; it is normalized, and its longest existing
//! prefix is resolved through symlinks (`canonicalize`), so that what is compared is where the
//! files would really land. A folder named under a download root (the download folder, or one
//! of `download_roots`) must stay under that root once resolved: a symlink planted in it that
//! leads elsewhere is refused, whoever asks. Clients from other machines may only name folders
//! under a root; loopback clients may name any absolute folder. Nothing on disk is created or
//! changed here: librqbit creates the folders when it opens the files.

use std::path::{Component, Path, PathBuf};

use crate::protocol::{check_label_name, Label, MAX_LABELS};

/// Longest folder name accepted, in bytes.
const MAX_FOLDER_BYTES: usize = 4096;

/// Why a named folder is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not a usable folder (relative, `..`, a file, a symlink out of a root): `-2`.
    Invalid(String),
    /// A usable folder, but not one this caller may name: `-6`.
    Outside(String),
}

/// The folders a task may go to, and the labels.
#[derive(Debug, Default)]
pub struct Folders {
    /// The download roots, resolved; the download folder is always one.
    roots: Vec<PathBuf>,
    labels: Vec<Label>,
}

impl Folders {
    pub fn new(download_dir: &Path) -> Folders {
        Folders {
            roots: vec![download_dir.to_owned()],
            labels: Vec::new(),
        }
    }

    /// Sets the roots beside the download folder (`download_roots`); each is resolved as far
    /// as it exists.
    pub fn set_roots(&mut self, download_dir: &Path, roots: &[PathBuf]) {
        self.roots = vec![download_dir.to_owned()];
        for root in roots {
            if let Ok(resolved) = resolve_existing_prefix(root) {
                if !self.roots.contains(&resolved) {
                    self.roots.push(resolved);
                }
            }
        }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    pub fn set_labels(&mut self, labels: Vec<Label>) {
        self.labels = labels;
    }

    pub fn label(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.name == name)
    }
}

/// Checks the folder `requested` (see the module's doc) against `roots`; `remote`: the caller
/// is on another machine. Returns the folder as it will be used: absolute, normalized, its
/// existing part resolved. `what` names the field in messages.
pub fn resolve(
    requested: &str,
    roots: &[PathBuf],
    remote: bool,
    what: &str,
) -> Result<PathBuf, Refusal> {
    let invalid = |why: String| Refusal::Invalid(format!("{what}: {why}"));
    if requested.is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    if requested.len() > MAX_FOLDER_BYTES {
        return Err(invalid(format!("longer than {MAX_FOLDER_BYTES} bytes")));
    }
    if requested.contains('\0') {
        return Err(invalid("must not contain a NUL character".into()));
    }
    let path = Path::new(requested);
    if !path.is_absolute() {
        return Err(invalid(format!(
            "{requested:?} is not an absolute path (it must start with /)"
        )));
    }
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                return Err(invalid(format!("{requested:?} must not contain \"..\"")));
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let resolved = resolve_existing_prefix(&normal).map_err(invalid)?;
    // Named under a root: must stay under it once resolved.
    for root in roots {
        if normal.starts_with(root) && !resolved.starts_with(root) {
            return Err(invalid(format!(
                "{requested:?} leads out of the download root {} (through a symlink, to {})",
                root.display(),
                resolved.display()
            )));
        }
    }
    if remote && !roots.iter().any(|root| resolved.starts_with(root)) {
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return Err(Refusal::Outside(format!(
            "unauthorized: {what} {requested:?} is outside the download roots ({}); clients \
             on other machines may only name folders under them",
            list.join(", ")
        )));
    }
    Ok(resolved)
}

/// `path` (absolute, without `..`) with its longest existing prefix resolved through symlinks;
/// refuses a path whose existing part is not a folder.
fn resolve_existing_prefix(path: &Path) -> Result<PathBuf, String> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(format!("{} cannot be resolved", path.display()));
                };
                rest.push(name.to_owned());
                existing = parent;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(format!(
                    "{} is not a folder (a file is in its way)",
                    path.display()
                ));
            }
            Err(e) => return Err(format!("{} cannot be read: {e}", existing.display())),
        }
    }
    let mut resolved = std::fs::canonicalize(existing)
        .map_err(|e| format!("{} cannot be resolved: {e}", existing.display()))?;
    if !resolved.is_dir() {
        return Err(format!(
            "{} is not a folder",
            if rest.is_empty() { path } else { existing }.display()
        ));
    }
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

/// Checks a whole label list for `session.setLabels`: names valid and unique (ignoring case),
/// folders resolved (see [`resolve`]), seeding goals objects. Returns the list as kept, with
/// each folder as it will be used.
pub fn check_labels(
    labels: Vec<Label>,
    roots: &[PathBuf],
    remote: bool,
) -> Result<Vec<Label>, Refusal> {
    if labels.len() > MAX_LABELS {
        return Err(Refusal::Invalid(format!(
            "labels: at most {MAX_LABELS} labels, not {}",
            labels.len()
        )));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut kept = Vec::with_capacity(labels.len());
    for (i, mut label) in labels.into_iter().enumerate() {
        check_label_name(&label.name)
            .map_err(|why| Refusal::Invalid(format!("labels[{i}].name: {why}")))?;
        let folded = label.name.to_lowercase();
        if seen.contains(&folded) {
            return Err(Refusal::Invalid(format!(
                "labels[{i}].name: {:?} is listed twice",
                label.name
            )));
        }
        seen.push(folded);
        if let Some(folder) = &label.folder {
            let folder = resolve(folder, roots, remote, &format!("labels[{i}].folder"))?;
            label.folder = Some(folder.display().to_string());
        }
        match &label.seed_goal {
            None => {}
            Some(serde_json::Value::Null) => label.seed_goal = None,
            Some(goal) => {
                super::goals::parse_label_goal(goal, &format!("labels[{i}].seed_goal"))
                    .map_err(Refusal::Invalid)?;
            }
        }
        kept.push(label);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(r: Result<PathBuf, Refusal>) -> String {
        match r {
            Err(Refusal::Invalid(why)) => why,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn folders_are_checked_before_anything_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("dl");
        std::fs::create_dir(&root).unwrap();
        let outside = dir.path().canonicalize().unwrap().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(root.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let roots = vec![root.clone()];
        let r = |s: &str, remote| resolve(s, &roots, remote, "download_dir");
        assert!(invalid(r("relative/dir", false)).contains("absolute"));
        assert!(invalid(r("", false)).contains("empty"));
        assert!(invalid(r(&format!("{}/../x", root.display()), false)).contains(".."));
        assert!(invalid(r(&format!("{}/file", root.display()), false)).contains("not a folder"));
        assert!(
            invalid(r(&format!("{}/file/below", root.display()), false)).contains("not a folder")
        );
        assert!(invalid(r(&format!("{}/escape/x", root.display()), false)).contains("symlink"));
        // Under the root, existing or not: fine for anyone, normalized.
        assert_eq!(
            r(&format!("{}/./new/sub", root.display()), true).unwrap(),
            root.join("new/sub")
        );
        // Outside: fine locally, refused remotely.
        assert_eq!(r(outside.to_str().unwrap(), false).unwrap(), outside);
        assert!(matches!(
            r(outside.to_str().unwrap(), true),
            Err(Refusal::Outside(_))
        ));
        assert!(!root.join("new").exists());
    }
}
