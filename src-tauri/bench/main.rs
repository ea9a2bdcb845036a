//! `magnetar-bench`: Magnetar measured side by side with the clients a user would pick instead,
//! on loopback, in one run, so that ratios hold even when absolute times drift.
//!
//! - `download`: a payload from a seeder (aria2c, then a second Magnetar) through a local
//!   opentracker, to each leecher in turn (Magnetar over its WebSocket API, the `rqbit` CLI on
//!   the same engine, aria2c), runs interleaved, medians, SHA-1 verified.
//! - `api`: N tasks added to a fresh Magnetar over its API: adds per second, `task.list`
//!   latency, request rate with 1 and 50 connections, `task.created` fan-out to C clients, idle
//!   CPU and RSS, start-up time with N tasks restored.
//! - `stream`: a film not yet downloaded, from a seeder at 4 MiB/s: the first byte and
//!   ffprobe's duration from the start, the first byte and a decoded frame at 90 %, Magnetar's
//!   stream endpoint against the `rqbit` CLI's streaming server.
//! - `scale`: libraries of 100, 1,000 and 10,000 tasks, Magnetar and transmission-daemon: adds,
//!   listing, idle cost and descriptors (paused, then half stalled), stop and restart.
//!
//! It sets everything up itself in a temporary folder and removes it; DHT, UPnP, LSD are off.

mod api;
mod browser;
mod download;
mod libtorrent;
mod procs;
mod report;
mod rivals;
mod scale;
mod stream;
mod updates;
mod ws;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "magnetar-bench",
    about = "Magnetar against its peers, on loopback"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
    /// Also write the figures as JSON here
    #[arg(long, global = true, value_name = "FILE")]
    json: Option<PathBuf>,
    /// A small, quick run (10 MiB, 10 tasks, 20 clients, one run): checks that it all works
    #[arg(long, global = true)]
    quick: bool,
    /// Measured runs of each download and stream case (default: 3, or 1 with --quick)
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    runs: Option<u16>,
    /// `scale` only: the library sizes to measure (default: 100,1000,10000; 10,40 with --quick)
    #[arg(long, global = true, value_name = "N,N", value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
}

#[derive(Subcommand, Clone, Copy)]
enum What {
    Download,
    Api,
    Stream,
    /// Not part of `all`: minutes of adds and restarts at 10,000 tasks
    Scale,
    All,
}

/// The sizes of one run.
#[derive(Clone, Copy)]
pub struct Scale {
    pub payload_mib: u64,
    /// The streamed film's size.
    pub stream_mib: u64,
    pub many_files: usize,
    pub runs: usize,
    pub tasks: usize,
    pub clients: usize,
    pub fanout_adds: usize,
    pub idle_seconds: u64,
    /// Tasks that really download while `task.updated` is measured.
    pub active_tasks: usize,
    /// Whether a missing peer or rival may be installed (apt, cargo install) when running as
    /// root. Never in a quick run: the test suite runs one, and a test installs nothing; a
    /// missing one is skipped, saying so.
    pub install: bool,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                payload_mib: 10,
                stream_mib: 16,
                many_files: 10,
                runs: 1,
                tasks: 10,
                clients: 20,
                fanout_adds: 5,
                idle_seconds: 2,
                active_tasks: 3,
                install: false,
            }
        } else {
            Scale {
                payload_mib: 1024,
                stream_mib: 256,
                many_files: 200,
                runs: 3,
                tasks: 1000,
                clients: 500,
                fanout_adds: 100,
                idle_seconds: 20,
                active_tasks: 20,
                install: true,
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut scale = Scale::new(cli.quick);
    if let Some(runs) = cli.runs {
        scale.runs = usize::from(runs);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    procs::choose_magnetar(cli.quick)?;
    let work = procs::WorkDir::new()?;
    let mut report = report::Report::default();
    runtime.block_on(async {
        if matches!(cli.what, What::Download | What::All) {
            download::run(&work, scale, &mut report).await?;
        }
        if matches!(cli.what, What::Api | What::All) {
            api::run(&work, scale, &mut report).await?;
        }
        if matches!(cli.what, What::Stream | What::All) {
            stream::run(&work, scale, &mut report).await?;
        }
        if matches!(cli.what, What::Scale) {
            scale::run(&work, scale, cli.sizes.as_deref(), &mut report).await?;
        }
        anyhow::Ok(())
    })?;
    print!("{}", report.text());
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report.json())?)?;
        eprintln!("figures written to {}", path.display());
    }
    Ok(())
}
