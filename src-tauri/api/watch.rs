//! The watch folder (setting `watch_dir`): `.torrent` and `.magnet` files dropped there are
//! added, then renamed `<name>.added`; a file that cannot be added is renamed `<name>.invalid`,
//! with the reason in `<name>.invalid.txt` beside it, and announced (`session.watchFailed`).
//!
//! - **One path.** Each file becomes a `task.add` call made in-process as a local caller, so
//!   validation, placement, errors and events are those of any client's add.
//! - **Labels.** A file in a sub folder of the watch folder gets the label named like that sub
//!   folder (`watch/tv/x.torrent`: label `tv`, which must exist; its folder and seeding goal
//!   apply). Files in the watch folder itself get none. Deeper folders are not looked into.
//! - **`.magnet` files**: text, one magnet link (or bare info hash) per line; empty lines and
//!   lines starting with `#` are skipped. All of its links are added; if any fails, the file is
//!   renamed `.invalid` and the reason names each failed line (the others stay added).
//! - **Whole files only.** The folder is looked at once a second; a file is read only once its
//!   size and modification time have stayed the same for [`STABLE_LOOKS`] looks in a row, and
//!   its size is checked again after reading. (A writer that pauses longer than that mid-file
//!   should write under another name and rename.)
//! - **Bounds.** A `.torrent` must fit in one `task.add` message (base64 of it within the
//!   `max_message_bytes` setting); a `.magnet` file is at most [`MAX_MAGNET_FILE`] bytes. At
//!   most [`MAX_ADDS_PER_LOOK`] files are added per look, so thousands of files are taken a
//!   batch a second. Symbolic links (files or folders) are never followed. A missing or
//!   unreadable folder is logged (once per kind of error) and looked at again a second later.
//! - **Live.** The setting is read at every look: `session.setSettings` changes it at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Api;
use crate::protocol::Event;

/// How often the folder is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How many looks in a row a file's size and modification time must stay the same.
const STABLE_LOOKS: u32 = 2;
/// The largest `.magnet` file read.
const MAX_MAGNET_FILE: u64 = 64 * 1024;
/// The most files added in one look.
const MAX_ADDS_PER_LOOK: usize = 100;

/// One candidate file: where it is, what it looked like, and the label its folder gives.
#[derive(Debug, Clone)]
struct Seen {
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
    label: Option<String>,
    magnet: bool,
}

/// Watches the folder the `watch_dir` setting names until `cancel`.
pub async fn watch_folder(api: Api, cancel: CancellationToken) {
    // Per file: its last size and time, and how many looks in a row they stayed.
    let mut pending: HashMap<PathBuf, (u64, Option<SystemTime>, u32)> = HashMap::new();
    // Files whose rename failed: not added again while they stay.
    let mut stuck: HashSet<PathBuf> = HashSet::new();
    let mut watched: Option<PathBuf> = None;
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let dir = api.settings_now().watch_dir;
        if dir != watched {
            pending.clear();
            stuck.clear();
            last_error = None;
            if let Some(dir) = &dir {
                tracing::info!(folder = %dir.display(), "watching for .torrent and .magnet files");
            }
            watched = dir.clone();
        }
        let Some(dir) = dir else { continue };
        let scan_dir = dir.clone();
        let seen = match tokio::task::spawn_blocking(move || scan(&scan_dir)).await {
            Ok(Ok(seen)) => {
                last_error = None;
                seen
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                if last_error.as_ref() != Some(&why) {
                    tracing::warn!(folder = %dir.display(), "cannot read the watch folder (looking again every second): {why}");
                    last_error = Some(why);
                }
                continue;
            }
            Err(e) => {
                tracing::error!("watch folder scan failed: {e}");
                continue;
            }
        };
        let present: HashSet<&PathBuf> = seen.iter().map(|s| &s.path).collect();
        pending.retain(|path, _| present.contains(path));
        stuck.retain(|path| present.contains(path));
        let mut ready = Vec::new();
        for file in &seen {
            if stuck.contains(&file.path) {
                continue;
            }
            let entry = pending
                .entry(file.path.clone())
                .or_insert((file.size, file.modified, 0));
            if entry.0 == file.size && entry.1 == file.modified {
                entry.2 += 1;
            } else {
                *entry = (file.size, file.modified, 0);
            }
            if entry.2 >= STABLE_LOOKS && ready.len() < MAX_ADDS_PER_LOOK {
                ready.push(file.clone());
            }
        }
        for file in ready {
            if cancel.is_cancelled() {
                return;
            }
            pending.remove(&file.path);
            if !take(&api, &file, &mut stuck).await {
                // Changed while read: looked at afresh.
                continue;
            }
        }
    }
}

/// The candidate files in `dir` and its label folders (one level), never through a link.
fn scan(dir: &Path) -> std::io::Result<Vec<Seen>> {
    let mut seen = Vec::new();
    scan_one(dir, None, &mut seen, true)?;
    Ok(seen)
}

fn scan_one(
    dir: &Path,
    label: Option<&str>,
    seen: &mut Vec<Seen>,
    top: bool,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            if top {
                if let Some(name) = entry.file_name().to_str() {
                    if let Err(e) = scan_one(&path, Some(name), seen, false) {
                        tracing::debug!(folder = %path.display(), "cannot read: {e}");
                    }
                }
            }
            continue;
        }
        // Symbolic links are not followed; other special files are not read.
        if !kind.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_lowercase();
        let magnet = name.ends_with(".magnet");
        if !magnet && !name.ends_with(".torrent") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        seen.push(Seen {
            path,
            size: meta.len(),
            modified: meta.modified().ok(),
            label: label.map(str::to_owned),
            magnet,
        });
    }
    Ok(())
}

/// Adds one file and renames it. Returns false if the file changed while it was read (left
/// for the next looks).
async fn take(api: &Api, file: &Seen, stuck: &mut HashSet<PathBuf>) -> bool {
    let limit = if file.magnet {
        MAX_MAGNET_FILE
    } else {
        // Its base64 and the rest of a task.add request must fit in one message.
        (api.settings_now().max_message_bytes.saturating_sub(1024) / 4 * 3) as u64
    };
    let path = file.path.clone();
    let read = tokio::task::spawn_blocking(move || read_bounded(&path, limit)).await;
    let outcome = match read {
        Ok(Ok(Some(bytes))) if bytes.len() as u64 != file.size => return false,
        Ok(Ok(Some(bytes))) => {
            if file.magnet {
                add_magnets(api, &bytes, file.label.as_deref()).await
            } else {
                add_torrent(api, &bytes, file.label.as_deref()).await
            }
        }
        Ok(Ok(None)) => Err(format!(
            "the file is larger than {limit} bytes, the most a {} file may be here",
            if file.magnet { ".magnet" } else { ".torrent" }
        )),
        Ok(Err(e)) => Err(format!("cannot read the file: {e}")),
        Err(e) => Err(format!("cannot read the file: {e}")),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(file = %file.path.display(), "added from the watch folder");
            if let Err(e) = rename_with(&file.path, "added") {
                tracing::warn!(file = %file.path.display(), "added, but cannot rename it: {e}");
                stuck.insert(file.path.clone());
            }
        }
        Err(message) => {
            tracing::warn!(file = %file.path.display(), "cannot add from the watch folder: {message}");
            match rename_with(&file.path, "invalid") {
                Ok(renamed) => {
                    let mut note = renamed.into_os_string();
                    note.push(".txt");
                    if let Err(e) = std::fs::write(&note, format!("{message}\n")) {
                        tracing::warn!(file = %PathBuf::from(&note).display(), "cannot write: {e}");
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %file.path.display(), "cannot rename it: {e}");
                    stuck.insert(file.path.clone());
                }
            }
            api.engine.announce(Event::WatchFailed {
                path: file.path.display().to_string(),
                message,
            });
        }
    }
    true
}

/// Reads at most `limit` bytes of `path`; `None` if it holds more.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

async fn add_torrent(api: &Api, bytes: &[u8], label: Option<&str>) -> Result<(), String> {
    let uri = base64::engine::general_purpose::STANDARD.encode(bytes);
    api.call(
        "task.add",
        json!({"type": "torrent", "uri": uri, "label": label}),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.message)
}

async fn add_magnets(api: &Api, bytes: &[u8], label: Option<&str>) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())?;
    let mut failed = Vec::new();
    let mut links = 0;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        links += 1;
        let added = api
            .call(
                "task.add",
                json!({"type": "magnet", "uri": line, "label": label}),
            )
            .await;
        if let Err(e) = added {
            failed.push(format!("line {}: {}", number + 1, e.message));
        }
    }
    if links == 0 {
        return Err("the file holds no magnet link".into());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// Renames `path` to `<path>.<suffix>`, or `<path>.<suffix>.2` and so on if that is taken;
/// returns the new path.
fn rename_with(path: &Path, suffix: &str) -> std::io::Result<PathBuf> {
    for n in 1..1000 {
        let mut target = path.as_os_str().to_owned();
        target.push(format!(".{suffix}"));
        if n > 1 {
            target.push(format!(".{n}"));
        }
        let target = PathBuf::from(target);
        if std::fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        std::fs::rename(path, &target)?;
        return Ok(target);
    }
    Err(std::io::Error::other("too many renamed copies beside it"))
}
