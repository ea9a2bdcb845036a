//! Starting from what the previous run left: the tasks rebuilt from Magnetar's own store (the
//! add journal and the sidecar), and the librqbit session options (persistence and fastresume
//! on: librqbit keeps the bitfields of the torrents it holds).

use std::net::{Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;

use librqbit::dht::DhtPersistenceConfig;
use librqbit::{DhtSessionConfig, ListenerOptions, SessionOptions, SessionPersistenceConfig};

use std::collections::BTreeMap;

use super::journal::{Entry, Journal, Record};
use super::resting::Resting;
use super::sidecar::Sidecar;
use super::task::{AtCompletion, Lifecycle, Origin, Waking};
use super::{parse_magnet, parse_torrent, registry, Engine, EngineConfig, SourceKind};
use crate::protocol::TaskState;

impl Engine {
    /// Rebuilds every task from Magnetar's own store, at once: the add journal (each task's
    /// torrent and the user's last pause or resume) and the sidecar (folder, label, file
    /// choice, totals, goals, pending magnets). librqbit starts empty; a task that rests
    /// (paused, or complete with seeding off) stays out of it, and every other is added to it
    /// again in the background, each in its own turn: it shows state 0 meanwhile, and a command
    /// sent to it waits for that add, then applies. So the API lists every task the moment it
    /// starts, however large the library.
    ///
    /// `journal` is what the add journal holds, read once at start, and `lines` its length.
    pub(super) fn restore(&self, journal: BTreeMap<String, Entry>, lines: usize) {
        let ids: Vec<&str> = journal.keys().map(String::as_str).collect();
        let mut bitfields = self.inner.bitfields.read_all(&ids);
        let mut tasks = self.tasks();
        for (id, entry) in &journal {
            let Some(torrent) = entry.torrent.clone() else {
                tracing::warn!(task = %id, "the journal has no torrent for this task; it is not restored");
                continue;
            };
            let source = match parse_torrent(torrent) {
                Ok(source) if source.id == *id => source,
                _ => {
                    tracing::warn!(task = %id, "a journaled torrent cannot be read back");
                    continue;
                }
            };
            let SourceKind::Torrent {
                bytes,
                layout,
                piece_length,
                ..
            } = &source.kind
            else {
                continue;
            };
            let torrent = Arc::new(bytes.clone());
            let origin = Origin::Torrent {
                bytes: torrent.clone(),
            };
            let mut task =
                self.new_task(id.clone(), source.name.clone(), origin, Lifecycle::Stopped);
            task.fill_metadata(&source);
            task.intent.paused = entry.paused;
            task.chosen_files = self.inner.sidecar.chosen_files(id);
            tasks.claim_restored(id, registry::absolute(&task.dir, layout));
            let stopped_complete = task.intent.at_completion == AtCompletion::Stop
                && self.inner.sidecar.is_finished(id);
            let sizes: Vec<u64> = task.files.iter().map(|f| f.size).collect();
            let bits = bitfields.remove(id).unwrap_or_default();
            let resting = Resting::of(torrent.clone(), bits, *piece_length, &sizes);
            if entry.paused || stopped_complete {
                task.lifecycle = Lifecycle::Resting(resting);
            } else {
                task.lifecycle = self.start_wake(&mut task, torrent);
                // State 0 until librqbit has it, with its bytes as it was left.
                task.waking = Some(Waking {
                    state: TaskState::Preparing,
                    files: resting.files,
                });
            }
            task.state = task.current_state();
            tasks.push(task);
        }
        for (id, pending) in self.inner.sidecar.pending() {
            if tasks.contains(&id) {
                self.inner.sidecar.set_pending(&id, None);
                continue;
            }
            let Ok(source) = parse_magnet(&pending.uri) else {
                self.inner.sidecar.set_pending(&id, None);
                continue;
            };
            let origin = Origin::Magnet {
                uri: pending.uri.clone(),
                peers: pending.peers.clone(),
            };
            let mut task = self.new_task(id, source.name, origin, Lifecycle::Stopped);
            task.intent.paused = pending.paused;
            task.chosen_files = pending.files.map(|files| files.into_iter().collect());
            if !pending.paused {
                task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone());
            }
            task.state = task.current_state();
            tasks.push(task);
        }
        drop(tasks);
        // Everything read is kept, restored or not: a line this version cannot use loses
        // nothing.
        if super::journal::worth_compacting(lines, journal.len()) {
            if let Err(e) = self.inner.journal.compact(&journal) {
                tracing::warn!("cannot compact the add journal: {e}");
            }
        }
    }
}

/// Takes what librqbit's own session file holds into Magnetar's store, then removes that
/// file, so that librqbit starts with nothing to restore (see [`Engine::restore`]).
///
/// Versions before this one left the torrents that librqbit held to its session file only
/// (`session/session.json` and `session/<hash>.torrent`): each joins the add journal with its
/// paused flag (unless the journal has the user's own), and its file choice joins the sidecar.
/// Their fastresume bitfields stay where they are, and are used when each is added again.
///
/// `known` is what the journal holds (read once at start); each task adopted joins it. Returns
/// how many lines were appended to the journal.
pub(super) fn adopt_librqbit_session(
    state_dir: &Path,
    journal: &Journal,
    known: &mut BTreeMap<String, Entry>,
    sidecar: &Sidecar,
) -> usize {
    let folder = state_dir.join("session");
    let file = folder.join("session.json");
    let Ok(text) = std::fs::read(&file) else {
        return 0;
    };
    let db: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(
                "librqbit's session file {} does not parse ({e}); it is left as it is",
                file.display()
            );
            return 0;
        }
    };
    let torrents = db
        .get("torrents")
        .and_then(|t| t.as_object())
        .cloned()
        .unwrap_or_default();
    let mut adopted = 0;
    for torrent in torrents.values() {
        let Some(id) = torrent.get("info_hash").and_then(|h| h.as_str()) else {
            continue;
        };
        let id = id.to_lowercase();
        let only_files: Option<Vec<usize>> = torrent
            .get("only_files")
            .and_then(|o| serde_json::from_value(o.clone()).ok());
        if only_files.is_some() && sidecar.chosen_files(&id).is_none() {
            sidecar.set_chosen_files(&id, only_files);
        }
        if known.get(&id).is_some_and(|entry| entry.torrent.is_some()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(folder.join(format!("{id}.torrent"))) else {
            tracing::warn!(task = %id, "librqbit's session names a torrent whose file is gone");
            continue;
        };
        let paused = match known.get(&id) {
            Some(entry) => entry.paused,
            None => torrent
                .get("is_paused")
                .and_then(|p| p.as_bool())
                .unwrap_or(false),
        };
        let record = Record::Add {
            id: id.clone(),
            torrent: base64::engine::general_purpose::STANDARD.encode(&bytes),
            paused,
        };
        if let Err(e) = journal.append(&record, false) {
            tracing::error!("cannot adopt librqbit's session (it stays for the next start): {e}");
            return adopted;
        }
        known.insert(
            id,
            Entry {
                torrent: Some(bytes),
                paused,
            },
        );
        adopted += 1;
    }
    if let Err(e) = journal.sync() {
        tracing::error!("cannot adopt librqbit's session (it stays for the next start): {e}");
        return adopted;
    }
    sidecar.save_now();
    if adopted > 0 {
        tracing::info!(
            adopted,
            "took librqbit's session file into Magnetar's store"
        );
    }
    if let Err(e) = std::fs::remove_file(&file) {
        tracing::warn!("cannot remove {}: {e}", file.display());
    }
    adopted
}

/// librqbit session options from our config. Persistence and fastresume are always on.
pub(super) fn session_options(config: &EngineConfig) -> SessionOptions {
    let dht = config.dht.then(|| DhtSessionConfig {
        persistence: Some(DhtPersistenceConfig {
            config_filename: Some(config.state_dir.join("dht.json")),
            ..Default::default()
        }),
        ..Default::default()
    });
    SessionOptions {
        dht,
        fastresume: true,
        persistence: Some(SessionPersistenceConfig::Json {
            folder: Some(config.state_dir.join("session")),
        }),
        listen: Some(ListenerOptions {
            listen_addr: SocketAddr::from((Ipv6Addr::UNSPECIFIED, config.peer_port)),
            enable_upnp_port_forwarding: config.upnp,
            ..Default::default()
        }),
        disable_local_service_discovery: !config.lsd,
        client_name_and_version: Some(format!("Magnetar {}", env!("CARGO_PKG_VERSION"))),
        // Sizes librqbit's blocking semaphore: each open stream holds a permit for its whole
        // life, and the disk keeps its own (see `streaming.rs`).
        runtime_worker_threads: Some(
            super::streaming::DISK_PERMITS + super::streaming::MAX_STREAMS,
        ),
        ..Default::default()
    }
}
