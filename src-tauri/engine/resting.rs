//! Tasks at rest: paused, or complete and stopped, and out of librqbit's session.
//!
//! librqbit keeps every torrent it holds busy, paused or not: its fastresume bitfield
//! (`session/<hash>.bitv`) stays open and mapped, and every add, pause or removal rewrites its
//! whole session file (O(N) each). With ten thousand tasks that was 10,000 descriptors held
//! by paused tasks, and minutes of start-up. So a task that rests is taken out of librqbit
//! (files left alone) and kept by Magnetar alone: its torrent is in the add journal, its
//! choices in the sidecar, and its bitfield is kept aside as `resume/<hash>.bitv` (a hard
//! link made before librqbit deletes its own name for it). Resuming it adds it to librqbit
//! again with that bitfield back in place: librqbit samples a few pieces to trust it (its
//! fastresume), rather than hashing all the data again.
//!
//! What a resting task shows (its bytes per file, its pieces) comes from that bitfield, the
//! same count librqbit makes (a file has the bytes of its complete pieces).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::FutureExt;

use super::task::{Lifecycle, Origin, Step, Task};
use super::{source, Engine};

impl Engine {
    /// Takes task `id` out of librqbit if it rests there: paused (by the user, or complete
    /// with seeding off), with nothing left to do and no stream open. Its counters join its
    /// totals, its file choice stays with it, and its bitfield is kept aside. In the task's
    /// turn (see `lifecycle.rs`); a failure leaves it in librqbit, paused, as before.
    pub(super) async fn rest(&self, id: &str) {
        self.rest_if_idle(id).await;
        // Rested or not (a stream keeps it), its check is over.
        let _ = self.with_task(id, |t| t.check_permit = None);
    }

    async fn rest_if_idle(&self, id: &str) {
        let handle = self.with_task(id, |t| {
            let Lifecycle::Managed {
                handle,
                restarting: false,
            } = &t.lifecycle
            else {
                return None;
            };
            let wanted_still = t.intent.paused || t.stops_here(handle);
            let at_rest =
                handle.with_state(|s| matches!(s, librqbit::ManagedTorrentState::Paused(_)));
            if !wanted_still || !at_rest || t.next_step() != Step::Settled {
                return None;
            }
            if Arc::strong_count(&t.streams) > 1 {
                return None;
            }
            Some(handle.clone())
        });
        let Ok(Some(handle)) = handle else {
            return;
        };
        let Ok(torrent) = handle.with_metadata(|m| m.torrent_bytes.to_vec()) else {
            return;
        };
        let piece_length = handle
            .with_metadata(|m| u64::from(m.info.lengths().default_piece_length()))
            .unwrap_or(0);
        // librqbit's pieces now: its file on disk is written only every 16 MiB and at
        // completion, not at a pause. Kept as they are now, for the wake and a restart.
        let haves = self.inner.librqbit.haves(&handle).map(|(bits, _)| bits);
        self.inner.bitfields.keep(id, haves.as_deref());
        let bits = haves
            .or_else(|| self.inner.bitfields.read(id))
            .unwrap_or_default();
        let only_files = handle.only_files();
        let info_hash = handle.info_hash();
        drop(handle);
        if let Err(e) = self.inner.librqbit.delete(info_hash, false).await {
            if self.inner.librqbit.holds(info_hash) {
                tracing::warn!(task = %id, "the paused task stays in librqbit: {e:#}");
                return;
            }
        }
        let _ = self.with_task(id, |t| {
            // Its live counters end here (librqbit's go with it).
            t.observe_summary();
            t.end_live_period();
            if t.chosen_files.is_none() {
                t.chosen_files = only_files.map(|only| only.into_iter().collect());
            }
            let sizes: Vec<u64> = t.files.iter().map(|f| f.size).collect();
            let mut resting = Resting::from_bits(bits, piece_length, &sizes);
            resting.torrent = Arc::new(torrent);
            t.lifecycle = Lifecycle::Resting(resting);
            // Its numbers are looked at again: the row last announced may be from before its
            // check ended (a paused task's row is otherwise taken as it was announced).
            t.forget_summary();
        });
        tracing::debug!(task = %id, "resting: out of librqbit");
    }

    /// Adds resting (or restored) task `task` to librqbit again, in its turn, on a job of its
    /// own: its bitfield goes back first, so librqbit trusts it rather than hashing every
    /// piece. Returns the lifecycle meanwhile (a command that comes waits for the add).
    pub(super) fn start_wake(&self, task: &mut Task, torrent: Arc<Vec<u8>>) -> Lifecycle {
        task.waking = task.foretold_after_rest();
        let engine = self.clone();
        let id = task.id.clone();
        let queue = task.queue.clone();
        let peers = match &task.origin {
            Origin::Magnet { peers, .. } => peers.clone(),
            Origin::Torrent { .. } => Vec::new(),
        };
        self.inner.tracker.spawn(async move {
            let turn = queue.clone().lock_owned().await;
            // At a start, not before the API serves (see `Engine::serve_restored`).
            let mut serving = engine.inner.serving.subscribe();
            tokio::select! {
                _ = engine.inner.cancel.cancelled() => return,
                _ = serving.wait_for(|open| *open) => {}
            }
            if !engine
                .with_task(&id, |t| Arc::ptr_eq(&t.queue, &queue))
                .unwrap_or(false)
            {
                return; // removed (and maybe added again) meanwhile
            }
            let peers = source::resolve_peers(&peers).await;
            let result = AssertUnwindSafe(engine.add_known_torrent(&id, torrent.to_vec(), peers))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let why = super::panic_message(panic.as_ref());
                    Err(anyhow::anyhow!("internal error while resuming: {why}"))
                });
            engine.finish_add(&id, result).await;
            drop(turn);
        });
        Lifecycle::Adding
    }

    /// A task's resting state: its torrent (of `piece_length` bytes per piece and files of
    /// `sizes`), and its pieces as last kept.
    pub(super) fn resting_from_disk(
        &self,
        id: &str,
        torrent: Arc<Vec<u8>>,
        piece_length: u64,
        sizes: &[u64],
    ) -> Resting {
        let bits = self.inner.bitfields.read(id).unwrap_or_default();
        Resting::of(torrent, bits, piece_length, sizes)
    }
}

/// How many paused tasks librqbit may hold at once only to check their data before they rest.
/// Each holds a few descriptors meanwhile (its bitfield, its files): ten thousand paused adds
/// with data on disk, in one burst, ran out of a limit of 1,024 descriptors, and librqbit took
/// the files it could not open for missing data.
pub const PAUSED_CHECKS: usize = 32;

/// What is known of a resting task's data: its pieces, as librqbit last saved them.
#[derive(Debug, Clone, Default)]
pub struct Resting {
    /// The task's torrent (librqbit is given it again at a resume).
    pub torrent: Arc<Vec<u8>>,
    /// The piece bitfield, most significant bit first (empty: no piece, or never checked).
    pub pieces: Arc<Vec<u8>>,
    pub piece_count: usize,
    /// Bytes of complete pieces in each file (torrent order, padding files included).
    pub files: Vec<u64>,
}

impl Resting {
    /// The resting state of a torrent whose pieces are `bits` (most significant bit first):
    /// `piece_length` and `file_sizes` are the torrent's own.
    pub fn from_bits(bits: Vec<u8>, piece_length: u64, file_sizes: &[u64]) -> Resting {
        let total: u64 = file_sizes.iter().sum();
        let piece_count = if piece_length == 0 {
            0
        } else {
            total.div_ceil(piece_length) as usize
        };
        let has = |piece: u64| {
            bits.get((piece / 8) as usize)
                .is_some_and(|byte| byte & (0x80 >> (piece % 8)) != 0)
        };
        let mut files = Vec::with_capacity(file_sizes.len());
        let mut offset = 0u64;
        for &size in file_sizes {
            let mut have = 0;
            if size > 0 && piece_length > 0 {
                let (start, end) = (offset, offset + size);
                for piece in start / piece_length..=(end - 1) / piece_length {
                    if has(piece) {
                        let from = start.max(piece * piece_length);
                        let to = end.min((piece + 1) * piece_length);
                        have += to - from;
                    }
                }
            }
            files.push(have);
            offset += size;
        }
        Resting {
            torrent: Arc::default(),
            pieces: Arc::new(bits),
            piece_count,
            files,
        }
    }

    /// [`Resting::from_bits`], with the task's torrent.
    pub fn of(torrent: Arc<Vec<u8>>, bits: Vec<u8>, piece_length: u64, sizes: &[u64]) -> Resting {
        let mut resting = Resting::from_bits(bits, piece_length, sizes);
        resting.torrent = torrent;
        resting
    }

    /// The pieces as booleans (`task.getStatus`).
    pub fn piece_flags(&self) -> Vec<bool> {
        (0..self.piece_count)
            .map(|piece| {
                self.pieces
                    .get(piece / 8)
                    .is_some_and(|byte| byte & (0x80 >> (piece % 8)) != 0)
            })
            .collect()
    }
}

/// Where resting tasks' bitfields are kept, and where librqbit looks for them.
#[derive(Debug, Clone)]
pub struct Bitfields {
    /// librqbit's session folder (`<hash>.bitv` is its fastresume file).
    session: PathBuf,
    /// Magnetar's own: the bitfields of tasks librqbit does not hold.
    kept: PathBuf,
}

impl Bitfields {
    pub fn new(state_dir: &Path) -> Bitfields {
        Bitfields {
            session: state_dir.join("session"),
            kept: state_dir.join("resume"),
        }
    }

    fn session_file(&self, id: &str) -> PathBuf {
        self.session.join(format!("{id}.bitv"))
    }

    fn kept_file(&self, id: &str) -> PathBuf {
        self.kept.join(format!("{id}.bitv"))
    }

    /// Keeps task `id`'s bitfield aside, before librqbit lets go of the torrent (which
    /// deletes its own file of it): `bits`, librqbit's pieces now, else librqbit's file as it
    /// is. A task never checked has none: nothing is kept.
    pub fn keep(&self, id: &str, bits: Option<&[u8]>) {
        let to = self.kept_file(id);
        let _ = std::fs::create_dir_all(&self.kept);
        if let Some(bits) = bits {
            let written =
                crate::durable::write_atomically(&to, bits, crate::durable::Access::Shared);
            match written {
                Ok(()) => return,
                Err(e) => tracing::warn!(task = %id, "cannot write the task's bitfield: {e}"),
            }
        }
        let from = self.session_file(id);
        if !from.exists() {
            return;
        }
        let _ = std::fs::remove_file(&to);
        if let Err(e) =
            std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
        {
            tracing::warn!(task = %id, "cannot keep the task's bitfield (it will be checked again when resumed): {e}");
        }
    }

    /// Puts task `id`'s kept bitfield where librqbit looks for it, before librqbit is given
    /// the torrent again.
    pub fn restore(&self, id: &str) {
        let from = self.kept_file(id);
        if from.exists() {
            let _ = std::fs::create_dir_all(&self.session);
            if let Err(e) = std::fs::rename(&from, self.session_file(id)) {
                tracing::warn!(task = %id, "cannot restore the task's bitfield: {e}");
            }
        }
    }

    /// The bitfield of task `id`, wherever it is (kept aside first: the newer while resting).
    pub fn read(&self, id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.kept_file(id))
            .or_else(|_| std::fs::read(self.session_file(id)))
            .ok()
    }

    /// The bitfields of every task of `ids` (an empty one for a task that has none), read on
    /// a few threads at once. A start reads one small file per task of the library, and those
    /// reads are mostly the kernel's path lookups, which run side by side.
    pub fn read_all(&self, ids: &[&str]) -> HashMap<String, Vec<u8>> {
        const READERS: usize = 4;
        let chunk = ids.len().div_ceil(READERS).max(1);
        std::thread::scope(|scope| {
            let readers: Vec<_> = ids
                .chunks(chunk)
                .map(|ids| {
                    scope.spawn(move || {
                        ids.iter()
                            .map(|id| ((*id).to_owned(), self.read(id).unwrap_or_default()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            readers
                .into_iter()
                .flat_map(|reader| reader.join().unwrap_or_default())
                .collect()
        })
    }

    /// Forgets task `id`'s bitfield (a removal, or a re-check that must hash everything).
    pub fn forget(&self, id: &str) {
        for file in [self.kept_file(id), self.session_file(id)] {
            if let Err(e) = std::fs::remove_file(&file) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %file.display(), "cannot delete: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_has_the_bytes_of_its_complete_pieces() {
        // Pieces of 10 bytes; files of 15, 0, 12 and 3 bytes (30 bytes, 3 pieces).
        // Pieces 0 and 2 are complete: 0..10 and 20..30.
        let resting = Resting::from_bits(vec![0b1010_0000], 10, &[15, 0, 12, 3]);
        assert_eq!(resting.piece_count, 3);
        assert_eq!(resting.files, vec![10, 0, 7, 3]);
        assert_eq!(resting.piece_flags(), vec![true, false, true]);
        // No bitfield: nothing.
        let none = Resting::from_bits(Vec::new(), 10, &[15, 0, 12, 3]);
        assert_eq!(none.files, vec![0, 0, 0, 0]);
        assert_eq!(none.piece_flags(), vec![false, false, false]);
        // A short last piece, all complete.
        let all = Resting::from_bits(vec![0xff, 0xff], 4, &[9]);
        assert_eq!((all.piece_count, all.files.clone()), (3, vec![9]));
    }
}
