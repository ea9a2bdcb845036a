//! The desktop shell (feature `desktop`): a Tauri window over the same engine and server that
//! `magnetar serve` runs. The window is one more client of the WebSocket API: it is told the
//! API's URL by an initialization script, and talks to it like any other client.

use tauri::{WebviewUrl, WebviewWindowBuilder};

use crate::startup::{self, Overrides, RunConfig};

/// Starts the engine and server on Tauri's runtime, then opens the main window.
pub fn run() -> anyhow::Result<()> {
    let config = RunConfig::resolve(Overrides::default())?;
    let running = tauri::async_runtime::block_on(startup::start(&config))?;
    tracing::info!(url = %running.url, "engine and API ready");
    let api_url = running.url.clone();
    let app = tauri::Builder::default()
        .setup(move |app| {
            let script = format!(
                "window.MAGNETAR_API_URL = {};",
                serde_json::to_string(&api_url)?
            );
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                .title("Magnetar")
                .inner_size(1100.0, 720.0)
                .min_inner_size(640.0, 400.0)
                .initialization_script(&script)
                .build()?;
            Ok(())
        })
        .build(tauri::generate_context!("tauri.conf.json"))
        .map_err(|e| anyhow::anyhow!("cannot start the desktop shell: {e}"))?;
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
