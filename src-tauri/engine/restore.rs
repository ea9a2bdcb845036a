//! Starting from what the previous run left: the librqbit session options (persistence and
//! fastresume always on) and the tasks rebuilt from librqbit's session file and our sidecar.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use librqbit::api::TorrentIdOrHash;
use librqbit::dht::DhtPersistenceConfig;
use librqbit::{
    DhtSessionConfig, ListenerOptions, ManagedTorrent, SessionOptions, SessionPersistenceConfig,
};

use super::task::{Lifecycle, Origin, Step};
use super::{parse_magnet, parse_torrent, Engine, EngineConfig, SourceKind};

impl Engine {
    /// Builds tasks for what librqbit restored from its session file, then re-adds pending magnets.
    pub(super) fn restore(&self) {
        let mut restored: Vec<(usize, Arc<ManagedTorrent>)> = self
            .inner
            .session
            .with_torrents(|torrents| torrents.map(|(id, h)| (id, h.clone())).collect());
        restored.sort_by_key(|(id, _)| *id);
        let next_id = restored.last().map_or(0, |(id, _)| id + 1);
        self.inner.next_torrent_id.store(next_id, Ordering::Relaxed);
        // The user's last pause or resume, saved before it was answered: librqbit persists its
        // own paused flag later, and a kill -9 can leave it behind.
        let stored: std::collections::HashMap<String, bool> = self
            .inner
            .sidecar
            .torrents()
            .into_iter()
            .map(|(id, t)| (id, t.paused))
            .collect();
        let mut tasks = self.tasks();
        for (_, handle) in restored {
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
            self.claim_restored_paths(&id, &handle);
            // librqbit keeps one paused flag: a user's pause, or the stop at completion.
            task.intent.paused = match stored.get(&id) {
                Some(paused) => *paused,
                None => handle.is_paused() && !self.inner.sidecar.is_finished(&id),
            };
            // librqbit not where the intent says (its paused flag lagged behind, or a paused
            // task that it checks again may end the check live): driven there, reporting the
            // intent's state all along.
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
            if !pending.paused {
                task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone());
            }
            task.state = task.current_state();
            tasks.push(task);
        }
        drop(tasks);
        self.restore_stored_torrents();
    }

    /// Adds again every answered .torrent add that librqbit's session lost (it persists adds
    /// later than they are answered, and without fsync: a kill -9 loses the newest), from the
    /// copy Magnetar stored before answering, paused or not as the user last wanted.
    fn restore_stored_torrents(&self) {
        let mut tasks = self.tasks();
        for (id, stored) in self.inner.sidecar.torrents() {
            if tasks.contains(&id) {
                continue;
            }
            let source = std::fs::read(self.stored_torrent_path(&id))
                .map_err(|e| e.to_string())
                .and_then(|bytes| parse_torrent(bytes).map_err(|e| e.to_string()));
            let source = match source {
                Ok(source) if source.id == id => source,
                Ok(_) | Err(_) => {
                    tracing::warn!(task = %id, "a stored torrent cannot be read back: {source:?}");
                    self.inner.sidecar.forget(&id);
                    continue;
                }
            };
            let SourceKind::Torrent { bytes, layout, .. } = &source.kind else {
                continue;
            };
            tracing::info!(task = %id, "adding again a task that librqbit's session lost");
            let files: Vec<PathBuf> = layout
                .files
                .iter()
                .map(|f| self.inner.config.download_dir.join(f))
                .collect();
            {
                let mut owners = self.owners();
                if let Some(collision) = owners.collision(&id, &files) {
                    tracing::warn!(task = %id, "restored task shares a path: {}", collision.message());
                }
                owners.claim(&id, files);
            }
            let origin = Origin::Torrent {
                bytes: Arc::new(bytes.clone()),
            };
            let mut task = self.new_task(id, source.name.clone(), origin, Lifecycle::Stopped);
            task.fill_metadata(&source);
            task.intent.paused = stored.paused;
            task.lifecycle = self.start_add(&task.id, &task.origin, task.queue.clone());
            task.state = task.current_state();
            tasks.push(task);
        }
    }
}

impl Engine {
    /// A restored torrent owns the files where librqbit keeps them (its persisted output
    /// folder, which may predate BEP 3 placement). Collisions between restored tasks (left by
    /// an older version) are logged, not refused: the data is already where it is.
    fn claim_restored_paths(&self, id: &str, handle: &ManagedTorrent) {
        let Ok(details) = self
            .inner
            .api
            .api_torrent_details(TorrentIdOrHash::Hash(handle.info_hash()))
        else {
            return;
        };
        let folder = PathBuf::from(details.output_folder);
        let files: Vec<PathBuf> = details
            .files
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !f.attributes.padding)
            .map(|f| f.components.iter().fold(folder.clone(), |p, c| p.join(c)))
            .collect();
        let mut owners = self.owners();
        if let Some(collision) = owners.collision(id, &files) {
            tracing::warn!(task = %id, "restored task shares a path: {}", collision.message());
        }
        owners.claim(id, files);
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
        ..Default::default()
    }
}
