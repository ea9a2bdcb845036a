//! Unsticking a download whose only peers are its magnet's `x.pe` peers.
//!
//! librqbit retries a peer that dropped after 10 s, then 60 s, then 6 minutes. When the `x.pe`
//! peers are the only source (no tracker, no DHT), one refused reconnect can leave a download
//! idle for minutes. librqbit offers no call to add peers to a running torrent, but a pause and
//! resume starts a fresh peer search that includes the magnet's peers again, so a download that
//! has had no peer for [`STALL_LIMIT`] gets one. Clients see no state change: the task reports
//! "downloading" throughout. Only where the `x.pe` peers are truly the only source: a magnet
//! without trackers, with the DHT off.

use std::time::{Duration, Instant};

use super::task::{Lifecycle, Task};
use super::Engine;
use crate::protocol::{TaskState, TaskSummary};

/// How long a download may sit with no peer before its peer search is restarted.
const STALL_LIMIT: Duration = Duration::from_secs(15);

impl Engine {
    /// Called once a second with the task's fresh summary.
    pub(super) fn restart_if_stalled(&self, task: &mut Task, summary: &TaskSummary) {
        let stalled = summary.state == TaskState::Downloading
            && summary.connected_peers == 0
            && !self.inner.config.dht
            && task.peers_are_the_only_source();
        if !stalled {
            task.stalled_since = None;
            return;
        }
        let since = *task.stalled_since.get_or_insert_with(Instant::now);
        if since.elapsed() < STALL_LIMIT {
            return;
        }
        task.stalled_since = None;
        tracing::info!(task = %task.id, "no peer for {STALL_LIMIT:?}: restarting the peer search");
        let engine = self.clone();
        let id = task.id.clone();
        self.inner.tracker.spawn(async move {
            // In the task's turn: a user's pause or removal comes before or after the restart,
            // never in the middle of it.
            let Ok(_turn) = engine.turn(&id).await else {
                return;
            };
            let handle = engine.with_task(&id, |t| {
                let wanted = t.current_state() == TaskState::Downloading;
                let Lifecycle::Managed { handle, restarting } = &mut t.lifecycle else {
                    return None;
                };
                if !wanted {
                    return None;
                }
                *restarting = true;
                Some(handle.clone())
            });
            let Ok(Some(handle)) = handle else { return };
            let session = &engine.inner.librqbit;
            if let Err(e) = session.pause(&handle).await {
                tracing::debug!(task = %id, "restart: pause failed: {e:#}");
            }
            if let Err(e) = session.unpause(&handle).await {
                tracing::warn!(task = %id, "restart: resume failed: {e:#}");
            }
            let _ = engine.with_task(&id, |t| {
                if let Lifecycle::Managed { restarting, .. } = &mut t.lifecycle {
                    *restarting = false;
                }
            });
            engine.observe_task(&id);
        });
    }
}
