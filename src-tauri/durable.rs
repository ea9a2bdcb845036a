//! Files that must survive a crash, and the lock that keeps two Magnetars out of one data folder.
//!
//! [`write_atomically`] is the one way Magnetar replaces a file it owns (settings, the token, the
//! task sidecar): a temporary file beside it, written and fsynced, renamed over the old one, then
//! the folder fsynced, so that after a power cut the file is either the old one or the new one,
//! never empty or half-written.
//!
//! [`DataDirLock`] is an advisory lock (`flock`) on `DATA_DIR/lock`. The kernel drops it when the
//! process dies, even by SIGKILL, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Who may read a file written by [`write_atomically`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The usual permissions (umask).
    Shared,
    /// The owner only (0600), from the first byte written: for secrets.
    Private,
}

/// Replaces `path` with `bytes` atomically and durably, creating parent folders.
///
/// Each call writes its own temporary file (`.NAME.PID.N.tmp`, created new, never reused), so two
/// writers of one path at once never write into each other's bytes: the last rename wins whole.
/// Callers that read, modify and write a file still need their own lock for the read.
pub fn write_atomically(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    match access {
        // A secret's folder is as private as the secret.
        Access::Private => create_private_dir(&folder)?,
        Access::Shared => std::fs::create_dir_all(&folder)?,
    }
    let (tmp, mut file) = create_temporary(&folder, path, access)?;
    let written = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_folder(&folder)
}

/// A new temporary file beside `path`, named for this process and a counter, created with
/// `create_new` (so a stale file of the same name is never written into, nor its mode kept).
fn create_temporary(
    folder: &Path,
    path: &Path,
    access: Access,
) -> std::io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = folder.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if access == Access::Private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = access;
        match options.open(&tmp) {
            // Left by an earlier process with this pid (pids are reused): take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
            Ok(file) => return Ok((tmp, file)),
        }
    }
}

/// Makes a rename in `folder` durable.
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(folder)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

/// Creates `folder` (and missing parents) readable by the owner only (0700): it holds the API
/// token, the TLS key and what every task is. An existing folder is left as it is.
pub fn create_private_dir(folder: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(folder)
}

/// Exclusive use of a data folder, for as long as this value lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock on `data_dir`, or says that another Magnetar (with its pid) holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<DataDirLock> {
        create_private_dir(data_dir)?;
        let path = data_dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if let Err(e) = file.try_lock() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            anyhow::bail!(
                "the data folder {} is already in use by another Magnetar{who}: stop it, or \
                 pass another --data-dir ({e})",
                data_dir.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_keeps_secrets_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/token");
        write_atomically(&path, b"one", Access::Private).unwrap();
        write_atomically(&path, b"two", Access::Private).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["token"], "no temporary file is left behind");
    }

    #[test]
    fn writers_at_once_never_mix_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        // Each writer's content is long and its own, so a mix of two would show.
        let contents: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 256 * 1024]).collect();
        for _round in 0..5 {
            std::thread::scope(|scope| {
                for content in &contents {
                    scope.spawn(|| write_atomically(&path, content, Access::Private).unwrap());
                }
            });
            let read = std::fs::read(&path).unwrap();
            assert!(contents.contains(&read), "a mix of writers' bytes");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty folder: the rename fails.
        let path = dir.path().join("settings.json");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        assert!(write_atomically(&path, b"{}", Access::Private).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_data_folder_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        let _lock = DataDirLock::acquire(&data).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&data).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already in use"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
