//! The desktop shell (feature `desktop`): a Tauri window over the same engine and server that
//! `magnetar serve` runs, with the same settings and flags. The window is one more client of the
//! WebSocket API: it is told the API's URL by an initialization script, and talks to it like any
//! other client. Quitting (the window's last close, or Ctrl-C / SIGTERM in the terminal) takes
//! the same graceful path as `serve`: every client closed with 1001, the engine stopped.

use tauri::{Manager, WebviewUrl, WebviewWindowBuilder};

use crate::startup::{self, Overrides, RunConfig};

/// Starts the engine and server on Tauri's runtime, then opens the main window.
pub fn run(overrides: Overrides) -> anyhow::Result<()> {
    if !display_available() {
        anyhow::bail!(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); run \
             `magnetar serve` instead: the same engine, with the web UI at \
             http://127.0.0.1:7345/ by default"
        );
    }
    let config = RunConfig::resolve(overrides)?;
    let running = tauri::async_runtime::block_on(startup::start(&config))?;
    tracing::info!(url = %running.url, "engine and API ready");
    let api_url = running.url.clone();
    let builder = tauri::Builder::default().setup(move |app| {
        let script = format!(
            "window.MAGNETAR_API_URL = {};",
            serde_json::to_string(&api_url)?
        );
        WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
            .title("Magnetar")
            .inner_size(1200.0, 760.0)
            .min_inner_size(640.0, 400.0)
            .initialization_script(&script)
            .build()?;
        // Ctrl-C or SIGTERM in the terminal: quit through the same path as the window.
        let handle = app.app_handle().clone();
        tauri::async_runtime::spawn(async move {
            crate::headless::wait_for_stop_signal().await;
            tracing::info!("stop signal: quitting");
            handle.exit(0);
        });
        Ok(())
    });
    // GTK panics (inside tao) when it cannot open the display after all: say so plainly.
    let app = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.build(tauri::generate_context!("tauri.conf.json"))
    }));
    let app = match app {
        Ok(Ok(app)) => app,
        Ok(Err(e)) => {
            tauri::async_runtime::block_on(running.shutdown());
            anyhow::bail!("cannot start the desktop shell: {e}");
        }
        Err(_) => {
            tauri::async_runtime::block_on(running.shutdown());
            anyhow::bail!(
                "cannot open a window (the display refused GTK); run `magnetar serve` instead"
            );
        }
    };
    let mut running = Some(running);
    app.run(move |_handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(running) = running.take() {
                tauri::async_runtime::block_on(running.shutdown());
            }
        }
    });
    Ok(())
}

/// Is there a display server to open a window on (X11 or Wayland)?
fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}
