//! Magnetar: a BitTorrent client with a JSON WebSocket API.
//!
//! The layout, from the bottom up:
//! - [`protocol`]: the wire types (requests, responses, events, states, error codes). A leaf.
//! - [`engine`]: the only code that names librqbit. Tasks, states, numbers, and the watcher
//!   that turns librqbit's changing numbers into events.
//! - [`api`]: dispatch from a method name to a handler, one file per method group; used by the
//!   WebSocket server and, in-process, by the desktop shell.
//! - [`server`]: one HTTP port for the web UI and the WebSocket endpoint: its own accept loop
//!   (connections, request heads and TLS handshakes bounded before anyone proved anything), one
//!   extractor that says who is calling, Host and Origin checks, size and connection limits.
//! - [`config`]: settings, their defaults and where they live.
//! - [`durable`]: crash-safe file replacement, and the lock on the data folder.
//! - [`runtime`]: the tokio runtime of both shells, with timers that coalesce (idle CPU).
//! - [`startup`]: settings resolved, engine and server started, one shutdown; used by both shells.
//! - [`tls`]: certificates (given or self-signed), and fingerprint pinning for clients.
//! - [`headless`]: `magnetar serve`, the engine and the server with no GUI.
//! - [`remote`]: `magnetar remote`, a command-line client of the same API.
//! - [`actions`]: the desktop's quick adds and bulk actions as plain functions over the API.
//! - [`bulk`]: pause all and resume all, one plan for the tray and `magnetar remote --all`.
//! - [`format`]: sizes, speeds and state names for people (the tray and `magnetar remote`).
//! - `desktop` (feature `desktop`): the Tauri shell: window, tray, links, notifications.

pub mod actions;
pub mod api;
pub mod bulk;
pub mod config;
pub mod durable;
pub mod engine;
pub mod format;
pub mod headless;
pub mod memory;
pub mod protocol;
pub mod remote;
pub mod runtime;
pub mod server;
pub mod startup;
pub mod tls;

#[cfg(feature = "desktop")]
pub mod desktop;
