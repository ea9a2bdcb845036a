//! The desktop shell (feature `desktop`): a Tauri window over the same engine and server that
//! `magnetar serve` runs, with the same settings and flags, plus a tray, magnet links and
//! `.torrent` files from the OS, and notifications.
//!
//! The window is one more client of the WebSocket API: an initialization script tells it the
//! API's URL (and the token, for a server that listens on another interface only). Everything
//! else (tray actions, links, notifications) goes through the in-process [`crate::api::Api`],
//! so it is validated and announced as any client's request is.
//!
//! Order matters at start: single-instance is the first plugin, so a second launch hands its
//! arguments to the first and exits before it touches the data folder; only then does the engine
//! start. Quitting (tray Quit, Ctrl-C, SIGTERM) takes the same graceful path as `serve`: every
//! client closed with 1001, the engine stopped.

mod launch;
mod notify;
mod tray;
mod window;

use std::path::PathBuf;

use sha2::Digest;
use tauri::{AppHandle, Manager};

use crate::api::Api;
use crate::startup::{self, Overrides, RunConfig};

/// What the shell's parts share, kept in Tauri's state.
pub(crate) struct Shell {
    pub api: Api,
    pub data_dir: PathBuf,
    /// The app icon as a file, for notifications (a path works installed or not).
    pub icon_file: Option<PathBuf>,
    /// Whether a tray icon exists: without one, closing the window quits.
    pub has_tray: std::sync::atomic::AtomicBool,
}

/// Runs the desktop app until it quits.
/// `links`: the magnets and `.torrent` files given on the command line, added once the engine runs.
pub fn run(overrides: Overrides, links: Vec<String>) -> anyhow::Result<()> {
    if !display_available() {
        anyhow::bail!(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); run \
             `magnetar serve` instead: the same engine, with the web UI at \
             http://127.0.0.1:7345/ by default"
        );
    }
    let config = RunConfig::resolve(overrides)?;
    // Tauri's tasks and ours run on the engine's runtime, whose timers coalesce
    // (crate::runtime); it must outlive the app, so it lives until this function returns.
    let runtime = crate::runtime::build()?;
    tauri::async_runtime::set(runtime.handle().clone());
    let builder = tauri::Builder::default()
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id(&config))
                .callback(launch::from_second_instance)
                .build(),
        )
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .setup(move |app| {
            window::open(app.handle())?;
            tray::install(app.handle());
            notify::watch_tasks(app.handle());
            launch::from_own_arguments(app.handle(), &links);
            stop_on_signal(app.handle());
            Ok(())
        });
    // GTK panics (inside tao) when it cannot open the display after all: say so plainly.
    let app = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.build(tauri::generate_context!("tauri.conf.json"))
    })) {
        Ok(Ok(app)) => app,
        Ok(Err(e)) => anyhow::bail!("cannot start the desktop shell: {e}"),
        Err(_) => anyhow::bail!(
            "cannot open a window (the display refused GTK); run `magnetar serve` instead"
        ),
    };
    // Here this is the only instance for this data folder: start the engine and the server.
    let running = tauri::async_runtime::block_on(startup::start(&config))?;
    tracing::info!(url = %running.url, "engine and API ready");
    app.manage(window::ApiAddress {
        url: running.url.clone(),
        token: config.token.as_ref().map(|t| t.expose().to_owned()),
    });
    // "Open folder" (task.openFolder): the user's file manager, through the official plugin.
    let opener = app.handle().clone();
    running.api.set_folder_opener(Box::new(move |folder| {
        use tauri_plugin_opener::OpenerExt;
        opener
            .opener()
            .open_path(folder.to_string_lossy(), None::<&str>)
            .map_err(|e| e.to_string())
    }));
    app.manage(Shell {
        api: running.api.clone(),
        data_dir: config.paths.data_dir.clone(),
        icon_file: notify::write_icon(&config.paths.data_dir),
        has_tray: false.into(),
    });
    let mut running = Some(running);
    app.run(move |_handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(running) = running.take() {
                tracing::info!("quitting: closing clients, stopping the engine");
                tauri::async_runtime::block_on(running.shutdown());
            }
        }
    });
    drop(runtime);
    Ok(())
}

/// Quits the app through the graceful path (the `Exit` event above).
pub(crate) fn quit(app: &AppHandle) {
    app.exit(0);
}

/// Ctrl-C or SIGTERM in the terminal: quit through the same path as the tray's Quit.
fn stop_on_signal(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        crate::headless::wait_for_stop_signal().await;
        tracing::info!("stop signal: quitting");
        quit(&app);
    });
}

/// The single-instance key: one Magnetar per data folder. The default folder keeps the app's
/// identifier; another `--data-dir` gets its own key, so two data folders run side by side.
fn instance_id(config: &RunConfig) -> String {
    const IDENTIFIER: &str = "app.magnetar.desktop";
    let default = crate::config::Paths::resolve(None).ok();
    if default.is_some_and(|paths| paths.data_dir == config.paths.data_dir) {
        return IDENTIFIER.to_owned();
    }
    let dir = std::path::absolute(&config.paths.data_dir).unwrap_or(config.paths.data_dir.clone());
    let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{IDENTIFIER}.d{hex}")
}

/// Is there a display server to open a window on (X11 or Wayland)?
fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}
