//! Desktop notifications: a task completed, a task failed, a quick add refused, and the first
//! close to the tray. They carry the app icon, written once into the data folder so that the
//! path works whether Magnetar is installed or run from a build folder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;

use super::Shell;
use crate::durable::Access;
use crate::protocol::{Event, TaskState, TaskSummary};

/// The app icon, as shipped.
const ICON_PNG: &[u8] = include_bytes!("../../icons/128x128.png");

/// Shows one notification; a missing notification server is logged, never fatal.
pub(crate) fn show(app: &AppHandle, title: &str, body: &str) {
    let mut builder = app.notification().builder().title(title).body(body);
    if let Some(icon) = &app.state::<Shell>().icon_file {
        builder = builder.icon(icon.to_string_lossy());
    }
    if let Err(e) = builder.show() {
        tracing::warn!("cannot show a notification ({title}: {body}): {e}");
    }
}

/// Writes the icon for notifications into the data folder.
pub(crate) fn write_icon(data_dir: &Path) -> Option<PathBuf> {
    let path = data_dir.join("magnetar.png");
    let current = std::fs::read(&path).is_ok_and(|bytes| bytes == ICON_PNG);
    if current || crate::durable::write_atomically(&path, ICON_PNG, Access::Shared).is_ok() {
        Some(path)
    } else {
        None
    }
}

/// The first time the window closes to the tray (ever, for this data folder), says so.
pub(crate) fn first_close_hint(app: &AppHandle) {
    let marker = app.state::<Shell>().data_dir.join("tray-hint-shown");
    if marker.exists() {
        return;
    }
    let _ = crate::durable::write_atomically(&marker, b"", Access::Shared);
    show(
        app,
        "Magnetar is still running",
        "Downloads go on in the background. Use the tray icon to show the window or to quit.",
    );
}

/// Notifies when a task completes or fails, and when a file in the watch folder could not be
/// added. A task counts as completing only once it was seen
/// incomplete in this run (added now, or seen downloading), so tasks restored complete at start
/// stay quiet.
pub(crate) fn watch_tasks(app: &AppHandle) {
    let app = app.clone();
    let api = app.state::<Shell>().api.clone();
    let mut events = api.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut incomplete: HashSet<String> = HashSet::new();
        loop {
            let published = match events.recv().await {
                Ok(published) => published,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            match published.event.as_ref() {
                Event::Created(task) => {
                    incomplete.insert(task.id.clone());
                }
                Event::StateUpdated {
                    task_id, new_state, ..
                } => match new_state {
                    TaskState::Downloading => {
                        incomplete.insert(task_id.clone());
                    }
                    TaskState::Uploading | TaskState::Finished if incomplete.remove(task_id) => {
                        let name = task(&api, task_id).map_or_else(|| task_id.clone(), |t| t.name);
                        show(&app, "Download complete", &name);
                    }
                    TaskState::Error => {
                        let (name, why) = task(&api, task_id)
                            .map(|t| (t.name, t.error.unwrap_or_default()))
                            .unwrap_or_else(|| (task_id.clone(), String::new()));
                        show(&app, "Download failed", &format!("{name}: {why}"));
                    }
                    _ => {}
                },
                Event::Removed { task_id } => {
                    incomplete.remove(task_id);
                }
                Event::WatchFailed { path, message } => {
                    show(
                        &app,
                        "Watch folder: not added",
                        &format!("{path}: {message}"),
                    );
                }
                _ => {}
            }
        }
    });
}

/// A task's summary, if it is still there.
fn task(api: &crate::api::Api, task_id: &str) -> Option<TaskSummary> {
    api.tasks().into_iter().find(|t| t.id == task_id)
}
