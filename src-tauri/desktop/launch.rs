//! Links and files handed to Magnetar by a launch: `magnetar 'magnet:?…'`, `magnetar a.torrent`,
//! a browser's magnet link or a file manager's double-click (both through the `.desktop` entry's
//! `%U`). A second launch hands its arguments and working directory to the first instance
//! (single-instance plugin) and exits; the first adds them and shows its window.
//!
//! The arguments are parsed here rather than through deep-link's open-url event: that event only
//! fires for a lone URL argument, never for a file association.

use std::path::Path;

use tauri::{AppHandle, Manager};

use super::{notify, window, Shell};
use crate::actions::{self, LaunchItem};

/// The single-instance callback: a second launch's arguments and working directory.
pub(crate) fn from_second_instance(app: &AppHandle, args: Vec<String>, cwd: String) {
    tracing::info!(?args, %cwd, "a second launch handed over its arguments");
    window::show(app);
    for item in actions::launch_items(&args, Path::new(&cwd)) {
        add_reporting_errors(app, item);
    }
}

/// This process's own links and files (the command line's positional arguments), at start.
pub(crate) fn from_own_arguments(app: &AppHandle, links: &[String]) {
    let args: Vec<String> = std::iter::once(String::new())
        .chain(links.iter().cloned())
        .collect();
    let cwd = std::env::current_dir().unwrap_or_default();
    for item in actions::launch_items(&args, &cwd) {
        add_reporting_errors(app, item);
    }
}

/// Adds one item in the background; a refusal becomes a notification.
pub(crate) fn add_reporting_errors(app: &AppHandle, item: LaunchItem) {
    let app = app.clone();
    let api = app.state::<Shell>().api.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = actions::add_launch_item(&api, &item).await {
            let what = match &item {
                LaunchItem::Magnet(_) => "a magnet link".to_owned(),
                LaunchItem::TorrentFile(path) => path.display().to_string(),
            };
            tracing::warn!("cannot add {what}: {e}");
            notify::show(&app, "Cannot add", &format!("{what}: {e}"));
        }
    });
}
