//! The desktop's quick actions, as plain functions over the in-process API: the tray menu and
//! the launch handling only wire them, and tests call them directly. They go through
//! [`Api::call`], so a quick add is validated, refused and announced exactly as a WebSocket
//! client's `task.add` is.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::{Api, ApiError};
use crate::protocol::TaskState;

/// Why a quick action did nothing; its text is shown to the user as it is.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("the clipboard is empty")]
    EmptyClipboard,
    #[error("the clipboard holds no magnet link or info hash (it starts with {0:?})")]
    NotAMagnet(String),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The API refused it (an invalid torrent, a duplicate, a path another task owns…).
    #[error("{}", .0.message)]
    Refused(ApiError),
}

impl From<ApiError> for ActionError {
    fn from(e: ApiError) -> Self {
        ActionError::Refused(e)
    }
}

/// Adds every magnet link (or bare 40-hex info hash) in a clipboard text: one per line, or the
/// whole text. Returns how many were added; the first refusal stops and is returned.
pub async fn add_from_clipboard(api: &Api, text: &str) -> Result<usize, ActionError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ActionError::EmptyClipboard);
    }
    let links: Vec<&str> = text
        .split_whitespace()
        .filter(|word| is_magnet(word) || is_info_hash(word))
        .collect();
    if links.is_empty() {
        let start: String = text.chars().take(40).collect();
        return Err(ActionError::NotAMagnet(start));
    }
    for link in &links {
        add_magnet(api, link).await?;
    }
    Ok(links.len())
}

/// Adds a magnet link (or a bare info hash).
pub async fn add_magnet(api: &Api, magnet: &str) -> Result<(), ActionError> {
    api.call("task.add", json!({ "type": "magnet", "uri": magnet }))
        .await?;
    Ok(())
}

/// Adds the `.torrent` file at `path`.
pub async fn add_torrent_file(api: &Api, path: &Path) -> Result<(), ActionError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| ActionError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    let uri = base64::engine::general_purpose::STANDARD.encode(bytes);
    api.call("task.add", json!({ "type": "torrent", "uri": uri }))
        .await?;
    Ok(())
}

/// Pauses every running task (preparing, downloading, seeding). Returns how many were paused;
/// a task that went away or failed meanwhile is skipped, not an error for the rest.
pub async fn pause_all(api: &Api) -> Result<usize, ActionError> {
    let running = [
        TaskState::Preparing,
        TaskState::Downloading,
        TaskState::Uploading,
    ];
    let ids = task_ids(api, |state| running.iter().any(|s| s.code() == state)).await?;
    Ok(call_each(api, "task.pause", &ids).await)
}

/// Resumes every paused task. Returns how many were resumed.
pub async fn resume_all(api: &Api) -> Result<usize, ActionError> {
    let ids = task_ids(api, |state| state == TaskState::Paused.code()).await?;
    Ok(call_each(api, "task.resume", &ids).await)
}

/// Calls `method` for each task; how many calls succeeded.
async fn call_each(api: &Api, method: &str, ids: &[String]) -> usize {
    let mut done = 0;
    for id in ids {
        match api.call(method, json!({ "task_id": id })).await {
            Ok(_) => done += 1,
            Err(e) => tracing::info!(task = %id, "{method} skipped: {}", e.message),
        }
    }
    done
}

/// The tray's live speed line: `↓ 1.2 MiB/s   ↑ 30.0 KiB/s`.
pub async fn speed_line(api: &Api) -> Result<String, ActionError> {
    let info = api.call("session.info", Value::Null).await?;
    let rate = |key: &str| match info[key].as_u64().unwrap_or(0) {
        0 => "0 B/s".to_owned(),
        bps => crate::remote::output::speed(bps),
    };
    Ok(format!("↓ {}   ↑ {}", rate("dl_speed"), rate("ul_speed")))
}

async fn task_ids(api: &Api, keep: impl Fn(u8) -> bool) -> Result<Vec<String>, ActionError> {
    let list = api.call("task.list", Value::Null).await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|task| task["state"].as_u64().is_some_and(|s| keep(s as u8)))
        .filter_map(|task| task["id"].as_str().map(str::to_owned))
        .collect())
}

/// Something a launch asks to add: `magnetar 'magnet:?…'`, `magnetar file.torrent`, or the same
/// handed over by a second launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchItem {
    Magnet(String),
    TorrentFile(PathBuf),
}

/// The magnets and `.torrent` files in a launch's arguments (`args[0]` is the program), with
/// relative paths resolved against `cwd`, the launching process's working directory. Flags and
/// their values are skipped: a file manager passes only paths, a browser only links.
pub fn launch_items(args: &[String], cwd: &Path) -> Vec<LaunchItem> {
    args.iter()
        .skip(1)
        .filter_map(|arg| {
            if is_magnet(arg) {
                return Some(LaunchItem::Magnet(arg.clone()));
            }
            let path = match url::Url::parse(arg) {
                Ok(url) if url.scheme() == "file" => url.to_file_path().ok()?,
                _ if arg.starts_with('-') => return None,
                _ => PathBuf::from(arg),
            };
            let is_torrent = path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("torrent"));
            is_torrent.then(|| LaunchItem::TorrentFile(cwd.join(path)))
        })
        .collect()
}

/// Adds one launch item.
pub async fn add_launch_item(api: &Api, item: &LaunchItem) -> Result<(), ActionError> {
    match item {
        LaunchItem::Magnet(magnet) => add_magnet(api, magnet).await,
        LaunchItem::TorrentFile(path) => add_torrent_file(api, path).await,
    }
}

fn is_magnet(text: &str) -> bool {
    text.get(..8)
        .is_some_and(|start| start.eq_ignore_ascii_case("magnet:?"))
}

fn is_info_hash(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn launch_items_resolve_relative_paths_against_the_launch_folder() {
        let cwd = Path::new("/home/me/Downloads");
        let items = launch_items(
            &args(&[
                "/usr/bin/magnetar",
                "--data-dir",
                "/tmp/data",
                "MAGNET:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
                "sub/a.torrent",
                "/abs/B.TORRENT",
                "file:///srv/c%20d.torrent",
                "notes.txt",
                "--no-dht",
            ]),
            cwd,
        );
        assert_eq!(
            items,
            vec![
                LaunchItem::Magnet(
                    "MAGNET:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567".into()
                ),
                LaunchItem::TorrentFile("/home/me/Downloads/sub/a.torrent".into()),
                LaunchItem::TorrentFile("/abs/B.TORRENT".into()),
                LaunchItem::TorrentFile("/srv/c d.torrent".into()),
            ]
        );
    }

    #[test]
    fn a_bare_launch_adds_nothing() {
        assert!(launch_items(&args(&["magnetar"]), Path::new("/")).is_empty());
        assert!(launch_items(&[], Path::new("/")).is_empty());
    }
}
