//! A thin adapter over librqbit's session: every call the engine makes into it, in one place,
//! in the engine's own terms (a torrent's bytes, peers, a pause). What librqbit does oddly is
//! handled here once: it derives torrent ids from its persisted ones, which races when adds
//! overlap, so the adapter hands them out; `list_only` is how a magnet's metadata is fetched
//! without adding it.
//!
//! The engine still reads a torrent's own state from librqbit's `ManagedTorrent` handle (its
//! stats, its state under its lock): those are the numbers clients see, read where they live.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use librqbit::api::TorrentIdOrHash;
use librqbit::dht::Id20;
use librqbit::storage::StorageFactoryExt;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse, ManagedTorrent, Session};

use super::restore::session_options;
use super::storage::LazyFilesFactory;
use super::{EngineConfig, EngineError};

pub struct Librqbit {
    session: Arc<Session>,
    /// The storage of every torrent: told each torrent's folder (see `storage.rs`).
    storage: LazyFilesFactory,
    /// The download folder (a torrent's folder is its sub folder in it, unless given whole).
    download_dir: PathBuf,
    api: librqbit::Api,
    /// The next torrent id to give librqbit (see the module's doc).
    next_id: AtomicUsize,
}

/// What an add into librqbit needs beside the torrent's bytes.
pub struct AddOptions {
    /// The info hash, lower-case hex (the task id).
    pub id: String,
    pub paused: bool,
    pub only_files: Option<Vec<usize>>,
    /// The torrent's folder in the download folder (empty for a single-file torrent).
    pub sub_folder: String,
    /// The torrent's own folder when it goes elsewhere than the download folder (then
    /// `sub_folder` is not used).
    pub output_folder: Option<PathBuf>,
    pub peers: Vec<SocketAddr>,
}

impl Librqbit {
    /// Starts a session on `config` (persistence and fastresume on, see `restore.rs`), with
    /// nothing to restore: Magnetar adds its tasks itself.
    pub async fn start(config: &EngineConfig) -> Result<Librqbit, EngineError> {
        let storage = LazyFilesFactory::default();
        let mut options = session_options(config);
        options.default_storage_factory = Some(storage.clone().boxed());
        let session = Session::new_with_opts(config.download_dir.clone(), options)
            .await
            .map_err(|e| EngineError::Internal(format!("cannot start the engine: {e:#}")))?;
        Ok(Librqbit {
            storage,
            download_dir: config.download_dir.clone(),
            api: librqbit::Api::new(session.clone(), None),
            session,
            next_id: AtomicUsize::new(0),
        })
    }

    /// Fetches a magnet's metadata from its peers without adding it: the torrent's bytes, and
    /// the peers seen meanwhile.
    pub async fn fetch_metadata(
        &self,
        uri: &str,
        peers: &[SocketAddr],
    ) -> anyhow::Result<(Vec<u8>, Vec<SocketAddr>)> {
        let opts = AddTorrentOptions {
            list_only: true,
            initial_peers: (!peers.is_empty()).then(|| peers.to_vec()),
            ..Default::default()
        };
        match self
            .session
            .add_torrent(AddTorrent::from_url(uri), Some(opts))
            .await?
        {
            AddTorrentResponse::ListOnly(listed) => {
                Ok((listed.torrent_bytes.to_vec(), listed.seen_peers))
            }
            _ => anyhow::bail!("librqbit added a torrent it was asked only to list"),
        }
    }

    /// Adds a torrent. Data already on disk is hash-checked and reused (the engine has
    /// surveyed it first: see `existing.rs`).
    pub async fn add(
        &self,
        bytes: Vec<u8>,
        options: AddOptions,
    ) -> anyhow::Result<Arc<ManagedTorrent>> {
        let folder = match &options.output_folder {
            Some(folder) => folder.clone(),
            None => self.download_dir.join(&options.sub_folder),
        };
        self.storage.set_folder(&options.id, folder);
        let opts = AddTorrentOptions {
            paused: options.paused,
            only_files: options.only_files,
            preferred_id: Some(self.next_id.fetch_add(1, Ordering::Relaxed)),
            overwrite: true,
            sub_folder: match options.output_folder {
                Some(_) => None,
                None => Some(options.sub_folder),
            },
            output_folder: options
                .output_folder
                .map(|folder| folder.to_string_lossy().into_owned()),
            initial_peers: (!options.peers.is_empty()).then_some(options.peers),
            ..Default::default()
        };
        self.session
            .add_torrent(AddTorrent::from_bytes(bytes), Some(opts))
            .await?
            .into_handle()
            .ok_or_else(|| anyhow::anyhow!("librqbit did not add the torrent"))
    }

    pub async fn pause(&self, handle: &Arc<ManagedTorrent>) -> anyhow::Result<()> {
        self.session.pause(handle).await
    }

    pub async fn unpause(&self, handle: &Arc<ManagedTorrent>) -> anyhow::Result<()> {
        self.session.unpause(handle).await
    }

    pub async fn choose_files(
        &self,
        handle: &Arc<ManagedTorrent>,
        files: &std::collections::HashSet<usize>,
    ) -> anyhow::Result<()> {
        self.session.update_only_files(handle, files).await
    }

    /// Does librqbit hold the torrent with this info hash?
    pub fn holds(&self, info_hash: Id20) -> bool {
        self.session.get(TorrentIdOrHash::Hash(info_hash)).is_some()
    }

    /// Lets go of a torrent, deleting its files with `delete_files`.
    pub async fn delete(&self, info_hash: Id20, delete_files: bool) -> anyhow::Result<()> {
        // A block write librqbit finishes after this must not make a file again.
        self.storage.retire(&info_hash.as_string());
        self.session
            .delete(TorrentIdOrHash::Hash(info_hash), delete_files)
            .await
    }

    /// The pieces a torrent has, most significant bit first, and their count; `None` while it
    /// has no bitfield (initializing, failed).
    pub fn haves(&self, handle: &ManagedTorrent) -> Option<(Vec<u8>, usize)> {
        self.api
            .api_dump_haves(TorrentIdOrHash::Hash(handle.info_hash()))
            .ok()
            .map(|(bits, count)| (bits.as_raw_slice().to_vec(), count as usize))
    }

    /// Sets the session's limits in bytes per second (`None` or 0: unlimited).
    pub fn set_limits(&self, download_bps: Option<u32>, upload_bps: Option<u32>) {
        let limits = &self.session.ratelimits;
        limits.set_download_bps(download_bps.and_then(NonZeroU32::new));
        limits.set_upload_bps(upload_bps.and_then(NonZeroU32::new));
    }

    pub fn limits(&self) -> (Option<u32>, Option<u32>) {
        let limits = &self.session.ratelimits;
        (
            limits.get_download_bps().map(NonZeroU32::get),
            limits.get_upload_bps().map(NonZeroU32::get),
        )
    }

    pub fn peer_listen_address(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }

    pub fn dht_on(&self) -> bool {
        self.session.get_dht().is_some()
    }

    /// Stops every torrent and the session.
    pub async fn stop(&self) {
        self.session.stop().await;
    }
}
