//! Streaming a task's file while it downloads (`GET /stream/{task_id}/{file_index}`, see
//! `server/stream.rs`): a [`FileStream`] is librqbit's own stream of one file, an
//! `AsyncRead + AsyncSeek`, wrapped so that nothing above the engine names librqbit.
//!
//! What librqbit 9.1 does for us (read in `librqbit/src/torrent_state/streaming.rs`): a read
//! serves only pieces its chunk tracker *has*, and a piece is had only once its SHA-1 verified,
//! so no unverified byte is ever served; a read of a piece not yet had waits (its waker is
//! woken when that piece completes); and while any stream is open, the 32 MiB after each
//! stream's position are requested first, the streams interleaved, before the task's normal
//! order. A seek moves that window; when the last stream closes, the task goes back to its
//! normal order.
//!
//! **Permits.** Every open librqbit stream holds one permit of the session's "blocking"
//! semaphore for its whole life, and the same semaphore gates every write of a received block
//! to disk, every read of a block a peer asked for, and the check of data. With librqbit's
//! default of 8 permits, 8 open streams would stop every download, and the streams would then
//! wait for pieces that never come. So the session gets [`DISK_PERMITS`] + [`MAX_STREAMS`]
//! permits (`restore.rs`), and the engine lets at most [`MAX_STREAMS`] streams be open at once:
//! one more is refused at once ([`StreamError::Busy`]), never queued, so that the disk always
//! keeps its own [`DISK_PERMITS`].

use std::io::SeekFrom;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use librqbit::ManagedTorrentState;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::task::{Lifecycle, Step};
use super::{find, Engine};
use crate::protocol::TaskId;

/// The most streams open at once, over all tasks.
pub const MAX_STREAMS: usize = 16;
/// librqbit's own default number of blocking permits, kept for its disk work beside the
/// streams' (see the module's doc).
pub const DISK_PERMITS: usize = 8;
/// How long opening a stream may take (librqbit waits out a check of the data first).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The streams open at once, bounded (one per engine).
pub(super) fn stream_slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_STREAMS))
}

/// Why a stream cannot be opened; the server maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// No task has this id (404).
    #[error("task not found: {0}")]
    NotFound(String),
    /// The task has no file at this index (404).
    #[error("{0}")]
    NoFile(String),
    /// The task cannot stream now (no metadata, paused for a read-only caller, ...) (409).
    #[error("{0}")]
    Conflict(String),
    /// [`MAX_STREAMS`] streams are open (503).
    #[error("too many streams are open ({MAX_STREAMS}); try again when one ends")]
    Busy,
    /// librqbit failed (500).
    #[error("{0}")]
    Internal(String),
}

/// A file of a task, as the stream endpoint describes it.
#[derive(Debug, Clone)]
pub struct StreamFile {
    /// Its path inside the torrent (components joined with `/`).
    pub path: String,
    pub size: u64,
}

/// One open stream of a file: reads wait for the pieces they need (see the module's doc).
/// Dropping it closes librqbit's stream and frees its permit and its slot.
pub struct FileStream {
    /// librqbit's `FileStream`, which librqbit 9.1 does not export by name.
    inner: Pin<Box<dyn ReadSeek>>,
    _slot: OwnedSemaphorePermit,
    /// Counts as an open stream of its task: the task does not rest meanwhile.
    _task: Arc<()>,
}

trait ReadSeek: AsyncRead + AsyncSeek + Send + Sync {}
impl<T: AsyncRead + AsyncSeek + Send + Sync> ReadSeek for T {}

impl AsyncRead for FileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncSeek for FileStream {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> std::io::Result<()> {
        self.inner.as_mut().start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        self.inner.as_mut().poll_complete(cx)
    }
}

/// Why a read-only caller cannot stream an incomplete file of a paused task.
const PAUSED_READER: &str = "the task is paused and this file is not complete: a caller that \
     may change tasks (the full token, or this machine) resumes it by streaming; this one may \
     only read";

impl Engine {
    /// The file at `index` of task `id`: 404-like errors for an unknown task or index, 409 when
    /// the task has no metadata yet.
    pub fn stream_file(&self, id: &TaskId, index: usize) -> Result<StreamFile, StreamError> {
        let mut tasks = self.tasks();
        let task =
            find(&mut tasks, id.as_str()).map_err(|_| StreamError::NotFound(id.to_string()))?;
        if task.files.is_empty() {
            return Err(StreamError::Conflict(
                "the task has no metadata yet: its files are not known until its peers send \
                 them"
                    .into(),
            ));
        }
        let file = task.files.get(index).ok_or_else(|| {
            StreamError::NoFile(format!(
                "the task has no file {index}: it has {} file(s), numbered from 0",
                task.files.len()
            ))
        })?;
        Ok(StreamFile {
            path: file.path.clone(),
            size: file.size,
        })
    }

    /// The data folder (the stream key lives there).
    pub fn state_dir(&self) -> &std::path::Path {
        &self.inner.config.state_dir
    }

    /// Streams that are open now (for tests and diagnostics).
    pub fn open_streams(&self) -> usize {
        MAX_STREAMS - self.inner.stream_slots.available_permits()
    }

    /// Opens a stream of file `index` of task `id`. A file whose data is all there streams in
    /// any state; otherwise the task must run: a paused task is resumed (through the task's
    /// lifecycle, as `task.resume`) when `may_resume`, else the answer is a conflict that says
    /// why.
    pub async fn open_stream(
        &self,
        id: &TaskId,
        index: usize,
        may_resume: bool,
    ) -> Result<FileStream, StreamError> {
        let file = self.stream_file(id, index)?;
        // The slot first: a stream refused as one too many resumes nothing, and a request
        // that waits below is a stream being opened, counted as one.
        let slot = self
            .inner
            .stream_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| StreamError::Busy)?;
        // Counted as the task's stream from now: a task woken for it does not rest again
        // before the stream opens.
        let task_stream = self
            .with_task(id.as_str(), |t| t.streams.clone())
            .map_err(|_| StreamError::NotFound(id.to_string()))?;
        // A task whose metadata just arrived is still being added into librqbit, then checks
        // what is on disk: a player that asks at once waits for both (briefly) rather than
        // being refused.
        let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
        let mut resumed = false;
        let (handle, paused) = loop {
            let (handle, paused, why_not, adding, starting) = {
                let mut tasks = self.tasks();
                let task = find(&mut tasks, id.as_str())
                    .map_err(|_| StreamError::NotFound(id.to_string()))?;
                // Out of librqbit (see `resting.rs`): added to it again, still paused, to
                // serve a complete file; a caller that may resume it gets the rest below.
                if let Lifecycle::Resting(resting) = &task.lifecycle {
                    let complete = resting
                        .files
                        .get(index)
                        .is_some_and(|have| *have >= file.size);
                    if !complete && !may_resume {
                        return Err(StreamError::Conflict(PAUSED_READER.into()));
                    }
                    let torrent = resting.torrent.clone();
                    task.lifecycle = self.start_wake(task, torrent);
                }
                let why_not = match &task.lifecycle {
                    Lifecycle::Managed { .. } => None,
                    Lifecycle::Moving => Some(
                        "the task's data is being moved: try again when the move ends".to_owned(),
                    ),
                    Lifecycle::Adding | Lifecycle::Resting(_) => {
                        Some("the task is being added: try again".to_owned())
                    }
                    Lifecycle::Failed(why) => {
                        Some(format!("the task has failed ({why}): resume it first"))
                    }
                    Lifecycle::AwaitingMetadata(_) | Lifecycle::Stopped => {
                        Some("the task has no metadata yet".to_owned())
                    }
                };
                let adding = matches!(task.lifecycle, Lifecycle::Adding);
                // librqbit holds a step the task's driver has yet to take (a resume once the
                // check ended, a file choice): the task is on its way to running.
                let starting = matches!(task.next_step(), Step::Resume | Step::ChooseFiles);
                let handle = task.handle().cloned();
                (handle, task.intent.paused, why_not, adding, starting)
            };
            let checking = why_not.is_none()
                && handle.as_ref().is_some_and(|h| {
                    h.with_state(|s| matches!(s, ManagedTorrentState::Initializing(_)))
                });
            // A paused task's check (one added or restored paused, or paused mid-check) stays
            // "initializing" in librqbit until the task is resumed: nothing to wait for, unless
            // this caller may resume it.
            if checking && paused && !resumed {
                if !may_resume {
                    return Err(StreamError::Conflict(
                        "the task is paused before the check of its data on disk ended: a caller \
                         that may change tasks (the full token, or this machine) resumes it by \
                         streaming; this one may only read"
                            .into(),
                    ));
                }
                self.resume(id).await.map_err(|e| {
                    StreamError::Conflict(format!("the paused task cannot be resumed: {e}"))
                })?;
                resumed = true;
                continue;
            }
            let waiting = adding || checking || starting;
            if waiting && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Some(why) = why_not {
                return Err(StreamError::Conflict(why));
            }
            if checking {
                return Err(StreamError::Conflict(
                    "the task is checking its data on disk: try again when the check ends".into(),
                ));
            }
            let Some(handle) = handle else {
                return Err(StreamError::Conflict("the task has no metadata yet".into()));
            };
            break (handle, paused);
        };
        let have = handle
            .stats()
            .file_progress
            .get(index)
            .copied()
            .unwrap_or(0);
        if have < file.size && handle.live().is_none() {
            if !paused {
                return Err(StreamError::Conflict(
                    "the task is not downloading (it is finished or stopped) and this file is \
                     not complete: resume the task first"
                        .into(),
                ));
            }
            if !may_resume {
                return Err(StreamError::Conflict(PAUSED_READER.into()));
            }
            self.resume(id).await.map_err(|e| {
                StreamError::Conflict(format!("the paused task cannot be resumed: {e}"))
            })?;
        }
        // One deadline for the whole open (what was waited above counts), with a few seconds
        // at least for librqbit's own start of the stream.
        let until = deadline.max(tokio::time::Instant::now() + Duration::from_secs(5));
        let inner = match tokio::time::timeout_at(until, handle.stream(index)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(StreamError::Internal(format!("cannot stream: {e:#}"))),
            Err(_) => {
                return Err(StreamError::Conflict(
                    "the task did not become ready to stream in time: try again".into(),
                ))
            }
        };
        Ok(FileStream {
            inner: Box::pin(inner),
            _slot: slot,
            _task: task_stream,
        })
    }
}
