//! The desktop shell (feature `desktop`): a Tauri window over the same engine and server that
//! `magnetar serve` runs. The window is one more client of the WebSocket API.

use crate::headless::{self, Overrides, RunConfig};

/// Starts the engine and server on Tauri's runtime, then opens the main window.
pub fn run() -> anyhow::Result<()> {
    let config = RunConfig::resolve(Overrides::default())?;
    let running = tauri::async_runtime::block_on(headless::start(&config))?;
    tracing::info!(url = %running.url, "engine and API ready");
    let app = tauri::Builder::default()
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
