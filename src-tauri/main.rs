//! The `magnetar` command: the desktop app by default, `magnetar serve` for the headless server.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "magnetar",
    version,
    about = "A BitTorrent client with a WebSocket API"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The desktop app takes the same settings as `serve` (DHT, UPnP and LSD stay on unless
    /// turned off).
    #[command(flatten)]
    desktop: ServeArgs,
    /// Magnet links and .torrent files to add (handed to the running Magnetar, if there is one)
    #[arg(value_name = "MAGNET|FILE")]
    links: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine and the API server without a GUI.
    Serve(ServeArgs),
    /// Control a running Magnetar from the command line.
    Remote(magnetar::remote::RemoteArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// API address (HTTP + WebSocket); port 0 picks a free port [default: 127.0.0.1:7345]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Where downloads go [default: your Downloads folder]
    #[arg(long, value_name = "DIR")]
    download_dir: Option<PathBuf>,
    /// Where settings, session state and the API token live
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// BitTorrent port for incoming peers; 0 picks a free port
    #[arg(long, value_name = "N")]
    peer_port: Option<u16>,
    /// API token that clients from other machines must present
    #[arg(long, value_name = "T", env = "MAGNETAR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Turn off the DHT
    #[arg(long)]
    no_dht: bool,
    /// Turn off UPnP / NAT-PMP port forwarding
    #[arg(long)]
    no_upnp: bool,
    /// Turn off local service discovery
    #[arg(long)]
    no_lsd: bool,
    /// Stop tasks when they complete instead of seeding them
    #[arg(long)]
    no_seed: bool,
    /// Serve the API and the web UI over TLS (wss://, https://) with a self-signed certificate
    /// made on first use; its fingerprint is printed once (a certificate of your own goes in
    /// the settings: tls_cert, tls_key)
    #[arg(long, value_name = "MODE")]
    tls: Option<TlsMode>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TlsMode {
    SelfSigned,
}

impl From<ServeArgs> for magnetar::startup::Overrides {
    fn from(args: ServeArgs) -> Self {
        magnetar::startup::Overrides {
            listen: args.listen,
            download_dir: args.download_dir,
            data_dir: args.data_dir,
            peer_port: args.peer_port,
            token: args.token.map(magnetar::config::Secret::new),
            no_dht: args.no_dht,
            no_upnp: args.no_upnp,
            no_lsd: args.no_lsd,
            no_seed: args.no_seed,
            tls_self_signed: matches!(args.tls, Some(TlsMode::SelfSigned)),
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAGNETAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librqbit=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// glibc gives every thread that meets a busy allocator an arena of its own (up to 8 per core),
/// and each keeps its freed memory: with 1,000 tasks that was 9 MiB of the 32 MiB of heap
/// (`magnetar-bench api`, idle RSS). Two arenas, one per core here, cost no measured speed.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable; called first thing, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_logging();
    if !matches!(cli.command, Some(Command::Remote(_))) {
        magnetar::runtime::raise_descriptor_limit();
    }
    let result = match cli.command {
        Some(Command::Remote(args)) => return remote(args),
        Some(Command::Serve(args)) => serve(args.into()),
        None => desktop(cli.desktop.into(), cli.links),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("magnetar: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn remote(args: magnetar::remote::RemoteArgs) -> std::process::ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(magnetar::remote::run(args)),
        Err(e) => {
            eprintln!("magnetar remote: {e}");
            std::process::ExitCode::from(3)
        }
    }
}

fn serve(overrides: magnetar::startup::Overrides) -> anyhow::Result<()> {
    let runtime = magnetar::runtime::build()?;
    runtime.block_on(magnetar::headless::run(overrides))
}

#[cfg(feature = "desktop")]
fn desktop(overrides: magnetar::startup::Overrides, links: Vec<String>) -> anyhow::Result<()> {
    magnetar::desktop::run(overrides, links)
}

#[cfg(not(feature = "desktop"))]
fn desktop(_overrides: magnetar::startup::Overrides, _links: Vec<String>) -> anyhow::Result<()> {
    anyhow::bail!("this build has no desktop shell (built without the `desktop` feature); run `magnetar serve`")
}
