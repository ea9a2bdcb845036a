//! The desktop's quick actions, as plain functions over the in-process API: the tray menu and
//! the launch handling only wire them, and tests call them directly. They go through
//! [`Api::call`], so a quick add is validated, refused and announced exactly as a WebSocket
//! client's `task.add` is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::{Api, ApiError};
use crate::bulk::{self, Bulk, Outcome};
use crate::format;
use crate::protocol::{Event, MagnetLink, TaskSummary};

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
        .filter(|word| MagnetLink::looks_like(word))
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

/// Pauses every task that runs (preparing, downloading, seeding); a finished or failed task is
/// skipped and reported, not an error for the rest. The same plan as `magnetar remote pause
/// --all` (see [`crate::bulk`]).
pub async fn pause_all(api: &Api) -> Result<Outcome, ActionError> {
    Ok(bulk::run(Bulk::Pause, &mut api.clone()).await?)
}

/// Resumes every paused task; a finished or failed one is skipped and reported (see
/// [`crate::bulk`]).
pub async fn resume_all(api: &Api) -> Result<Outcome, ActionError> {
    Ok(bulk::run(Bulk::Resume, &mut api.clone()).await?)
}

impl bulk::Calls for Api {
    type Error = ApiError;

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, ApiError> {
        Api::call(self, method, params).await
    }

    fn api_error(error: &ApiError) -> Option<(i64, String)> {
        Some((error.code.code().into(), error.message.clone()))
    }
}

/// The tray's speed line, `↓ 1.2 MiB/s   ↑ 30.0 KiB/s`: the sum of the speeds of the tasks it
/// knows, kept from the events (`task.updated`, `session.resync`, `task.removed`) rather than
/// asked for: nothing polls, so an idle session stays asleep. Start it from [`Api::tasks`]
/// read after subscribing, then [`Speeds::apply`] every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Speeds {
    /// Each task's download and upload speed, as last announced.
    tasks: HashMap<String, (u64, u64)>,
}

impl Speeds {
    pub fn from_tasks(tasks: &[TaskSummary]) -> Speeds {
        let mut speeds = Speeds::default();
        speeds.take(tasks);
        speeds
    }

    /// Takes in one event; returns whether it was about speeds.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::Updated(tasks) => self.take(tasks),
            Event::Resync(tasks) => {
                self.tasks.clear();
                self.take(tasks);
            }
            Event::Removed { task_id } => {
                self.tasks.remove(task_id);
            }
            _ => return false,
        }
        true
    }

    fn take(&mut self, tasks: &[TaskSummary]) {
        for task in tasks {
            self.tasks
                .insert(task.id.clone(), (task.dl_speed, task.ul_speed));
        }
    }

    /// The totals, in bytes per second: (download, upload).
    pub fn totals(&self) -> (u64, u64) {
        self.tasks.values().fold((0, 0), |(dl, ul), (d, u)| {
            (dl.saturating_add(*d), ul.saturating_add(*u))
        })
    }

    /// The line the tray shows.
    pub fn line(&self) -> String {
        let (dl, ul) = self.totals();
        format!("↓ {}   ↑ {}", format::rate(dl), format::rate(ul))
    }
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
            if MagnetLink::has_scheme(arg) {
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

    fn summary(id: &str, dl_speed: u64, ul_speed: u64) -> TaskSummary {
        TaskSummary {
            id: id.into(),
            name: id.into(),
            state: crate::protocol::TaskState::Downloading,
            total_bytes: 0,
            dl_bytes: 0,
            dl_speed,
            ul_bytes: 0,
            ul_speed,
            connected_peers: 0,
            connected_seeds: 0,
            added: 0,
            label: None,
            error: None,
            moving: None,
            uploaded_ever: 0,
            downloaded_ever: 0,
            seconds_downloading: 0,
            seconds_seeding: 0,
            state_since: 0,
            ratio: 0.0,
        }
    }

    #[test]
    fn the_speed_line_sums_the_speeds_the_events_announce() {
        let mut speeds = Speeds::from_tasks(&[summary("a", 1024, 0), summary("b", 512, 100)]);
        assert_eq!(speeds.line(), "↓ 1.5 KiB/s   ↑ 100 B/s");
        // task.updated carries only the tasks that changed: the others keep their speeds.
        assert!(speeds.apply(&Event::Updated(vec![summary("a", 3 * 1024 * 1024, 0)])));
        assert_eq!(speeds.totals(), (3 * 1024 * 1024 + 512, 100));
        assert!(speeds.apply(&Event::Updated(vec![summary("c", 0, 2048)])));
        assert_eq!(speeds.totals(), (3 * 1024 * 1024 + 512, 2148));
        assert!(speeds.apply(&Event::Removed {
            task_id: "a".into()
        }));
        assert_eq!(speeds.line(), "↓ 512 B/s   ↑ 2.1 KiB/s");
        // Other events say nothing about speeds.
        assert!(!speeds.apply(&Event::StateUpdated {
            task_id: "b".into(),
            old_state: crate::protocol::TaskState::Downloading,
            new_state: crate::protocol::TaskState::Paused,
            reason: None,
        }));
        assert_eq!(speeds.totals(), (512, 2148));
        // A resync is the whole truth: tasks it does not list are gone.
        assert!(speeds.apply(&Event::Resync(vec![summary("b", 0, 0)])));
        assert_eq!(speeds.line(), "↓ 0 B/s   ↑ 0 B/s");
        assert_eq!(Speeds::default().line(), "↓ 0 B/s   ↑ 0 B/s");
    }

    #[test]
    fn a_bare_launch_adds_nothing() {
        assert!(launch_items(&args(&["magnetar"]), Path::new("/")).is_empty());
        assert!(launch_items(&[], Path::new("/")).is_empty());
    }
}
