//! Unsticking a download whose only peers are its magnet's `x.pe` peers.
//!
//! librqbit retries a peer that dropped after 10 s, then 60 s, then 6 minutes. When the `x.pe`
//! peers are the only source (no tracker, no DHT), one refused reconnect can leave a download
//! idle for minutes. librqbit offers no call to add peers to a running torrent, but a pause and
//! resume starts a fresh peer search that includes the magnet's peers again, so a download that
//! has had no peer for [`STALL_LIMIT`] gets one. Clients see no state change: the task reports
//! "downloading" throughout.

use std::time::{Duration, Instant};

use super::task::Task;
use super::Engine;
use crate::protocol::{TaskState, TaskSummary};

/// How long a download may sit with no peer before its peer search is restarted.
const STALL_LIMIT: Duration = Duration::from_secs(15);

impl Engine {
    /// Called once a second with the task's fresh summary.
    pub(super) fn restart_if_stalled(&self, task: &mut Task, summary: &TaskSummary) {
        let stalled = summary.state == TaskState::Downloading
            && summary.connected_peers == 0
            && !task.restarting
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
        let Some(handle) = task.handle().cloned() else {
            return;
        };
        tracing::info!(task = %task.id, "no peer for {STALL_LIMIT:?}: restarting the peer search");
        task.restarting = true;
        task.stalled_since = None;
        let engine = self.clone();
        let id = task.id.clone();
        self.inner.tracker.spawn(async move {
            let session = &engine.inner.session;
            if let Err(e) = session.pause(&handle).await {
                tracing::debug!(task = %id, "restart: pause failed: {e:#}");
            }
            // A user's pause (which clears `restarting`) or a removal meanwhile cancels the
            // resume; the flag is cleared only once librqbit is live again, so that no client
            // ever sees the pause.
            let still_wanted = engine.with_task(&id, |t| t.restarting).unwrap_or(false);
            if still_wanted {
                if let Err(e) = session.unpause(&handle).await {
                    tracing::warn!(task = %id, "restart: resume failed: {e:#}");
                }
            }
            let paused_by_user = engine
                .with_task(&id, |t| !std::mem::replace(&mut t.restarting, false))
                .unwrap_or(false);
            if still_wanted && paused_by_user {
                let _ = session.pause(&handle).await;
            }
        });
    }
}
