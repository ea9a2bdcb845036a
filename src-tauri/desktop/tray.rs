//! The tray icon. On Linux a tray emits no click events, so every action is a menu item; each
//! item only calls a plain function from [`crate::actions`] (tested directly) and reports the
//! outcome in a notification.

use std::sync::atomic::Ordering;

use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_dialog::DialogExt;
use tokio::sync::broadcast::error::RecvError;

use super::{notify, window, Shell};
use crate::actions::{self, Speeds};
use crate::bulk::Bulk;

const SHOW_HIDE: &str = "show-hide";
const ADD_CLIPBOARD: &str = "add-clipboard";
const ADD_FILE: &str = "add-file";
const PAUSE_ALL: &str = "pause-all";
const RESUME_ALL: &str = "resume-all";
const SPEED: &str = "speed";
const QUIT: &str = "quit";

/// Installs the tray icon and its menu. Without a tray (libayatana-appindicator missing, which
/// panics inside tray-icon), Magnetar logs it and runs with the window alone.
pub(crate) fn install(app: &AppHandle) {
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(app)));
    let error = match built {
        Ok(Ok(speed)) => {
            app.state::<Shell>().has_tray.store(true, Ordering::Relaxed);
            keep_speed_current(app, speed);
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => crate::engine::panic_message(panic.as_ref()),
    };
    // One line in the log: the loader's message lists every library it tried, one per line.
    let error = error.lines().collect::<Vec<_>>().join("; ");
    tracing::warn!(
        "no tray icon ({error}); Magnetar runs with its window only, and closing it quits \
         (install libayatana-appindicator3-1 for the tray)"
    );
}

/// Builds the tray; returns the speed line, which [`keep_speed_current`] rewrites.
fn build(app: &AppHandle) -> tauri::Result<MenuItem<tauri::Wry>> {
    let item = |id: &str, text: &str| MenuItem::with_id(app, id, text, true, None::<&str>);
    let speed = MenuItem::with_id(app, SPEED, "↓ 0 B/s   ↑ 0 B/s", false, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &item(SHOW_HIDE, "Show/Hide window")?,
            &PredefinedMenuItem::separator(app)?,
            &item(ADD_CLIPBOARD, "Add magnet from clipboard")?,
            &item(ADD_FILE, "Add torrent file…")?,
            &PredefinedMenuItem::separator(app)?,
            &item(PAUSE_ALL, "Pause all")?,
            &item(RESUME_ALL, "Resume all")?,
            &PredefinedMenuItem::separator(app)?,
            &speed,
            &PredefinedMenuItem::separator(app)?,
            &item(QUIT, "Quit")?,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("main")
        .tooltip("Magnetar")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(speed)
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        SHOW_HIDE => window::toggle(app),
        ADD_CLIPBOARD => add_from_clipboard(app),
        ADD_FILE => add_torrent_files(app),
        PAUSE_ALL => run_action(app, "Pause all", |api| async move {
            actions::pause_all(&api)
                .await
                .map(|outcome| outcome.summary(Bulk::Pause))
        }),
        RESUME_ALL => run_action(app, "Resume all", |api| async move {
            actions::resume_all(&api)
                .await
                .map(|outcome| outcome.summary(Bulk::Resume))
        }),
        QUIT => super::quit(app),
        _ => {}
    }
}

fn add_from_clipboard(app: &AppHandle) {
    // An empty or non-text clipboard reads as an error: both mean "nothing to add".
    let text = app.clipboard().read_text().unwrap_or_default();
    run_action(app, "Add magnet from clipboard", |api| async move {
        actions::add_from_clipboard(&api, &text)
            .await
            .map(|n| plural(n, "magnet link added"))
    });
}

fn add_torrent_files(app: &AppHandle) {
    let handle = app.clone();
    app.dialog()
        .file()
        .set_title("Add torrent files")
        .add_filter("Torrent files", &["torrent"])
        .pick_files(move |picked| {
            let paths: Vec<_> = picked
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.into_path().ok())
                .collect();
            for path in paths {
                let item = actions::LaunchItem::TorrentFile(path);
                super::launch::add_reporting_errors(&handle, item);
            }
        });
}

/// Runs an action off the menu's thread; its outcome becomes a notification.
fn run_action<F, Fut>(app: &AppHandle, title: &'static str, action: F)
where
    F: FnOnce(crate::api::Api) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<String, actions::ActionError>> + Send,
{
    let app = app.clone();
    let api = app.state::<Shell>().api.clone();
    tauri::async_runtime::spawn(async move {
        match action(api).await {
            Ok(done) => notify::show(&app, title, &done),
            Err(e) => notify::show(&app, title, &format!("Nothing done: {e}")),
        }
    });
}

/// Rewrites the disabled speed line when the events change the speeds (`task.updated`,
/// `session.resync`, `task.removed`): no timer, so an idle Magnetar is not woken for it.
fn keep_speed_current(app: &AppHandle, speed: MenuItem<tauri::Wry>) {
    let api = app.state::<Shell>().api.clone();
    // Subscribed before the list is read: no event falls between the two.
    let mut events = api.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut speeds = Speeds::from_tasks(&api.tasks());
        let mut shown = String::new();
        loop {
            let line = speeds.line();
            if line != shown && speed.set_text(&line).is_ok() {
                shown = line;
            }
            match events.recv().await {
                Ok(published) => {
                    speeds.apply(&published.event);
                }
                // Events were missed: start again from the whole list.
                Err(RecvError::Lagged(_)) => speeds = Speeds::from_tasks(&api.tasks()),
                Err(RecvError::Closed) => return,
            }
        }
    });
}

fn plural(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => {
            let (noun, rest) = what.split_once(' ').unwrap_or((what, ""));
            format!("{n} {noun}s {rest}")
        }
    }
}
