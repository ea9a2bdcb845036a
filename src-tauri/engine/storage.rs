//! Where librqbit's torrents keep their bytes: files in the torrent's folder, as librqbit's own
//! filesystem storage does, except that a file is created only when a byte is first written
//! to it (or its length set, which librqbit does for the chosen files only).
//!
//! librqbit's storage opens, and so creates, every file of a torrent when it starts, chosen or
//! not: a task told to download two files of five (`task.add`'s `files`, `task.setFiles`) left
//! three empty files behind it. Here a file that is never written never exists. (A piece that
//! spans a chosen file and a skipped one is written whole, as every client writes it: the
//! skipped file then holds that piece's part.) Reading a file that does not exist fails, which
//! librqbit's check of data on disk takes as "not downloaded".
//!
//! The factory says it is librqbit's filesystem storage when asked (`is_type_id`), as a
//! middleware over it would: librqbit's session persistence keeps only torrents stored in
//! files, which these are. librqbit does not tell a storage factory the torrent's folder, so
//! the factory is told it, by info hash, by the adapter before each add. A torrent it was not
//! told of (none should be) gets librqbit's own filesystem storage.
//!
//! A torrent taken out of librqbit (a remove, a move, a re-check) is *retired* first: from then
//! on its storage writes nothing. librqbit may still finish a block write it had started; with
//! files made on first write, that write would make a file again after the remove deleted it
//! (the interleaving test saw `a.bin` come back, owned by no task).

use std::any::TypeId;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};

#[derive(Default, Clone)]
pub struct LazyFilesFactory {
    /// Each torrent's folder, by info hash (lower-case hex).
    folders: Arc<Mutex<HashMap<String, PathBuf>>>,
    /// Whether each torrent's current storage may still write, by info hash.
    live: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
}

impl LazyFilesFactory {
    /// Tells the factory where torrent `info_hash`'s files go.
    pub fn set_folder(&self, info_hash: &str, folder: PathBuf) {
        self.folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(info_hash.to_owned(), folder);
    }

    /// Torrent `info_hash` is being taken out of librqbit: its storage writes nothing more
    /// (a storage made for it later, when it is added again, writes as usual).
    pub fn retire(&self, info_hash: &str) {
        if let Some(live) = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(info_hash)
        {
            live.store(false, Ordering::SeqCst);
        }
    }
}

impl StorageFactory for LazyFilesFactory {
    type Storage = Box<dyn TorrentStorage>;

    fn create(
        &self,
        shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<Box<dyn TorrentStorage>> {
        let folder = self
            .folders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&shared.info_hash.as_string())
            .cloned();
        match folder {
            Some(folder) => {
                let live = Arc::new(AtomicBool::new(true));
                self.live
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(shared.info_hash.as_string(), live.clone());
                Ok(Box::new(LazyFiles {
                    folder,
                    files: Vec::new(),
                    live,
                }))
            }
            None => {
                tracing::warn!(info_hash = %shared.info_hash.as_string(), "no folder known: librqbit's own storage");
                Ok(Box::new(
                    FilesystemStorageFactory::default().create(shared, metadata)?,
                ))
            }
        }
    }

    fn is_type_id(&self, type_id: TypeId) -> bool {
        type_id == TypeId::of::<Self>() || type_id == TypeId::of::<FilesystemStorageFactory>()
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// One file of a torrent: its path, and its handle once opened.
struct LazyFile {
    path: PathBuf,
    /// BEP 47 padding: never on disk; reads are zeros, writes are dropped.
    padding: bool,
    open: Mutex<Option<Arc<File>>>,
}

impl LazyFile {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<File>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open handle; with `create`, the file (and its folders) made if missing.
    fn handle(&self, create: bool) -> anyhow::Result<Arc<File>> {
        let mut open = self.lock();
        if let Some(file) = &*open {
            return Ok(file.clone());
        }
        if create {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        let file = Arc::new(file);
        *open = Some(file.clone());
        Ok(file)
    }
}

pub struct LazyFiles {
    folder: PathBuf,
    files: Vec<Arc<LazyFile>>,
    /// False once the torrent is retired (see the module's doc): nothing more is written.
    live: Arc<AtomicBool>,
}

impl LazyFiles {
    fn file(&self, id: usize) -> anyhow::Result<&LazyFile> {
        self.files.get(id).map(|f| &**f).context("no such file")
    }

    /// A file to write to, unless the torrent was retired.
    fn writable(&self, id: usize) -> anyhow::Result<&LazyFile> {
        if !self.live.load(Ordering::SeqCst) {
            anyhow::bail!("the torrent was taken out of the session: nothing more is written");
        }
        self.file(id)
    }
}

impl TorrentStorage for LazyFiles {
    fn init(
        &mut self,
        _shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<()> {
        self.files = metadata
            .file_infos
            .iter()
            .map(|info| {
                Arc::new(LazyFile {
                    path: self.folder.join(&info.relative_filename),
                    padding: info.attrs.padding,
                    open: Mutex::new(None),
                })
            })
            .collect();
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let file = self.file(file_id)?;
        if file.padding {
            buf.fill(0);
            return Ok(());
        }
        Ok(file.handle(false)?.read_exact_at(buf, offset)?)
    }

    fn pwrite_all(&self, file_id: usize, offset: u64, buf: &[u8]) -> anyhow::Result<()> {
        let file = self.writable(file_id)?;
        // librqbit writes a piece that ends where a file ends with an empty write into the
        // next file: that is no reason to create it.
        if file.padding || buf.is_empty() {
            return Ok(());
        }
        Ok(file.handle(true)?.write_all_at(buf, offset)?)
    }

    fn remove_file(&self, _file_id: usize, filename: &Path) -> anyhow::Result<()> {
        Ok(std::fs::remove_file(self.folder.join(filename))?)
    }

    fn remove_directory_if_empty(&self, path: &Path) -> anyhow::Result<()> {
        let path = self.folder.join(path);
        if !path.is_dir() {
            anyhow::bail!("cannot remove dir: {path:?} is not a directory")
        }
        if std::fs::read_dir(&path)?.next().is_none() {
            std::fs::remove_dir(&path).with_context(|| format!("error removing {path:?}"))
        } else {
            Ok(())
        }
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        let file = self.writable(file_id)?;
        if file.padding {
            return Ok(());
        }
        Ok(file.handle(true)?.set_len(length)?)
    }

    /// A new storage for the same files, with none of them open; this one closes its handles
    /// too. librqbit calls this when it pauses a torrent (and keeps the new storage for the
    /// paused torrent's whole pause), so a paused task holds no descriptor of its data: a
    /// library of thousands of paused tasks would otherwise hold one per file it ever read.
    /// A file is opened again when it is next read or written.
    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        let files = self
            .files
            .iter()
            .map(|file| {
                file.lock().take();
                Arc::new(LazyFile {
                    path: file.path.clone(),
                    padding: file.padding,
                    open: Mutex::new(None),
                })
            })
            .collect();
        Ok(Box::new(LazyFiles {
            folder: self.folder.clone(),
            files,
            live: self.live.clone(),
        }))
    }
}
