//! The main window: the web UI, told where the API is; closing it hides it to the tray.

use std::sync::atomic::Ordering;

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder, WindowEvent};

use super::{notify, Shell};

pub(crate) const MAIN: &str = "main";

/// Where the window's UI connects: the server's own URL, and its token when there is one (a
/// server listening on another interface only sees the window as a remote client).
pub(crate) struct ApiAddress {
    pub url: String,
    pub token: Option<String>,
}

/// Opens the main window on the bundled UI.
pub(crate) fn open(app: &AppHandle) -> tauri::Result<()> {
    let address = app.state::<ApiAddress>();
    let mut script = format!("window.MAGNETAR_API_URL = {};", json_string(&address.url));
    if let Some(token) = &address.token {
        script.push_str(&format!(
            "window.MAGNETAR_API_TOKEN = {};",
            json_string(token)
        ));
    }
    let window = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Magnetar")
        .inner_size(1200.0, 760.0)
        .min_inner_size(640.0, 400.0)
        .initialization_script(&script)
        .build()?;
    let handle = app.clone();
    window.on_window_event(move |event| {
        if let WindowEvent::CloseRequested { api, .. } = event {
            let shell = handle.state::<Shell>();
            // With no tray to come back from, closing the window quits as usual.
            if shell.has_tray.load(Ordering::Relaxed) {
                api.prevent_close();
                hide(&handle);
                notify::first_close_hint(&handle);
            }
        }
    });
    Ok(())
}

/// Shows, un-minimizes and focuses the main window.
pub(crate) fn show(app: &AppHandle) {
    if let Some(window) = main_window(app) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

pub(crate) fn hide(app: &AppHandle) {
    if let Some(window) = main_window(app) {
        let _ = window.hide();
    }
}

/// Show when hidden, hide when shown (the tray's first item).
pub(crate) fn toggle(app: &AppHandle) {
    match main_window(app).map(|w| w.is_visible()) {
        Some(Ok(true)) => hide(app),
        _ => show(app),
    }
}

fn main_window(app: &AppHandle) -> Option<WebviewWindow> {
    app.get_webview_window(MAIN)
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
