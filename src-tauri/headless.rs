//! `magnetar serve`: the engine and the API server, with no GUI: start (through [`crate::startup`],
//! as the desktop shell does), print the one ready line, run until a signal, shut down cleanly.

use crate::startup::{self, Overrides, RunConfig};

/// `magnetar serve`: start, print the URL line, run until Ctrl-C or SIGTERM, shut down cleanly.
pub async fn run(overrides: Overrides) -> anyhow::Result<()> {
    let run = RunConfig::resolve(overrides)?;
    let running = startup::start(&run).await?;
    if run.token_generated {
        eprintln!(
            "A new API token was generated for remote clients (saved in {}): {}",
            run.paths.token_file().display(),
            run.token.as_ref().map(|t| t.expose()).unwrap_or_default()
        );
    }
    if let (true, Some(fingerprint)) = (running.tls_generated, &running.tls_fingerprint) {
        eprintln!(
            "A self-signed TLS certificate was generated (in {}). Its SHA-256 fingerprint, to \
             pin with `magnetar remote --fingerprint`: {fingerprint}",
            run.paths.data_dir.join("tls").display()
        );
    }
    tracing::info!(
        download_dir = %run.download_dir.display(),
        data_dir = %run.paths.data_dir.display(),
        web_ui = %format!("http://{}/", running.addr),
        "serving"
    );
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "Magnetar is ready at {}", running.url)?;
        stdout.flush()?;
    }
    wait_for_stop_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
