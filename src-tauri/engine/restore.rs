//! Starting from what the previous run left: the librqbit session options (persistence and
//! fastresume always on) and the tasks rebuilt from librqbit's session file and our sidecar.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;

use librqbit::dht::DhtPersistenceConfig;
use librqbit::{DhtSessionConfig, ListenerOptions, SessionOptions, SessionPersistenceConfig};

use super::journal::Entry;
use super::task::{Lifecycle, Origin, Step};
use super::{parse_magnet, parse_torrent, registry, Engine, EngineConfig, SourceKind};

impl Engine {
    /// Builds tasks for what librqbit restored from its session file, then re-adds pending magnets.
    pub(super) fn restore(&self) {
        let restored = self.inner.librqbit.restored();
        // The user's last pause or resume, and the adds librqbit may not hold: on disk before
        // they were answered, where librqbit's own paused flag may lag behind.
        let journal = self.inner.journal.read();
        let mut tasks = self.tasks();
        for handle in restored {
            let id = handle.info_hash().as_string();
            let bytes = handle
                .with_metadata(|m| m.torrent_bytes.to_vec())
                .unwrap_or_default();
            let mut task = self.new_task(
                id.clone(),
                id.clone(),
                Origin::Torrent {
                    bytes: Arc::new(bytes.clone()),
                },
                Lifecycle::Managed {
                    handle: handle.clone(),
                    restarting: false,
                },
            );
            match parse_torrent(bytes) {
                Ok(torrent) => task.fill_metadata(&torrent),
                Err(e) => tracing::warn!(task = %id, "restored torrent does not validate: {e}"),
            }
            if let Some(files) = self.inner.librqbit.files_on_disk(&handle) {
                tasks.claim_restored(&id, files);
            }
            // librqbit keeps one paused flag: a user's pause, or the stop at completion.
            task.intent.paused = match journal.get(&id) {
                Some(entry) => entry.paused,
                None => handle.is_paused() && !self.inner.sidecar.is_finished(&id),
            };
            // librqbit not where the intent says (its flag lagged behind, or a paused task that
            // it checks again may end the check live): driven there, reporting the intent's
            // state all along.
            if task.next_step() != Step::Settled {
                self.spawn_driver_for(&mut task);
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
        self.restore_journaled_adds(journal);
    }

    /// Adds again every answered add that librqbit's session lost (it persists adds later
    /// than they are answered, and without fsync: a kill -9 loses the newest), from the add
    /// journal, paused if the user last paused it; then leaves in the journal only those.
    fn restore_journaled_adds(&self, journal: BTreeMap<String, Entry>) {
        let mut keep = BTreeMap::new();
        {
            let mut tasks = self.tasks();
            for (id, entry) in &journal {
                let Some(torrent) = entry.torrent.clone() else {
                    continue;
                };
                if tasks.contains(id) {
                    continue;
                }
                let source = match parse_torrent(torrent) {
                    Ok(source) if source.id == *id => source,
                    _ => {
                        tracing::warn!(task = %id, "a journaled add cannot be read back");
                        continue;
                    }
                };
                let SourceKind::Torrent { bytes, layout, .. } = &source.kind else {
                    continue;
                };
                tracing::info!(task = %id, "adding again a task that librqbit's session lost");
                let dir = self
                    .inner
                    .sidecar
                    .dir(id)
                    .unwrap_or_else(|| self.inner.config.download_dir.clone());
                tasks.claim_restored(id, registry::absolute(&dir, layout));
                let origin = Origin::Torrent {
                    bytes: Arc::new(bytes.clone()),
                };
                let mut task =
                    self.new_task(id.clone(), source.name.clone(), origin, Lifecycle::Stopped);
                task.fill_metadata(&source);
                task.intent.paused = entry.paused;
                task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone());
                task.state = task.current_state();
                tasks.push(task);
                keep.insert(id.clone(), entry.clone());
            }
            // Every other task keeps its intent (a magnet still without metadata has the
            // sidecar for that).
            for task in tasks.iter() {
                if task.metadata_known() && !keep.contains_key(&task.id) {
                    let entry = Entry {
                        torrent: None,
                        paused: task.intent.paused,
                    };
                    keep.insert(task.id.clone(), entry);
                }
            }
        }
        if let Err(e) = self.inner.journal.compact(&keep) {
            tracing::warn!("cannot compact the add journal: {e}");
        }
    }
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
