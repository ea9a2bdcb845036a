//! A task's trackers: what is known of each (`task.getTrackers`), asking them again
//! (`task.reannounce`), and the task's magnet link (`TaskMetadata::magnet`).
//!
//! What librqbit 9.1 exposes: the set of tracker URLs a torrent uses
//! (`ManagedTorrent::shared().trackers`, unordered) and nothing of what they answered: its
//! tracker loop (`librqbit-tracker-comms`) keeps the announce times, intervals, peer counts and
//! errors to itself and only logs them. So the tiers come from what the task was added from (the
//! torrent's `announce-list`, or its `announce`; a magnet's `tr` links in order), and the
//! answers are `null` rather than guessed. librqbit has no call to announce again, nor to
//! change a live torrent's trackers: a pause and resume starts its tracker loop afresh (a
//! "started" announce to every tracker), which is what `task.reannounce` does, at the cost of
//! the connected peers (they are dropped and found again).

use super::bencode::{self, Value};
use super::task::{Lifecycle, Origin, Task};
use super::{find, Engine, EngineError};
use crate::protocol::{TaskId, TaskState, TrackerInfo};

/// The schemes librqbit's tracker client speaks.
fn supported(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "udp"))
}

/// The trackers a task was added with, with their tiers, in order, each URL once.
fn listed(origin: &Origin) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut push = |tier: u32, url: String| {
        if !url.is_empty() && !out.iter().any(|(_, u)| *u == url) {
            out.push((tier, url));
        }
    };
    match origin {
        Origin::Magnet { uri, .. } => {
            if let Ok(url) = url::Url::parse(uri) {
                let trackers = url.query_pairs().filter(|(k, _)| k == "tr");
                for (tier, (_, tracker)) in trackers.enumerate() {
                    push(tier as u32, tracker.into_owned());
                }
            }
        }
        Origin::Torrent { bytes } => {
            let Ok(top) = bencode::parse(bytes) else {
                return out;
            };
            let text = |v: &Value<'_>| match v {
                Value::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
                _ => None,
            };
            match top.get("announce-list") {
                Some(Value::List(tiers)) if !tiers.is_empty() => {
                    for (tier, list) in tiers.iter().enumerate() {
                        if let Value::List(urls) = list {
                            for url in urls.iter().filter_map(text) {
                                push(tier as u32, url);
                            }
                        }
                    }
                }
                _ => {
                    if let Some(url) = top.get("announce").and_then(text) {
                        push(0, url);
                    }
                }
            }
        }
    }
    out
}

/// The task's trackers: those it was added with, then any other that librqbit uses, in a
/// tier after the last.
fn all_trackers(task: &Task) -> Vec<(u32, String)> {
    let mut all = listed(&task.origin);
    if let Some(handle) = task.handle() {
        let mut extra: Vec<String> = handle
            .shared()
            .trackers
            .iter()
            .map(|u| u.to_string())
            .filter(|u| !all.iter().any(|(_, known)| known == u))
            .collect();
        extra.sort();
        let next = all.iter().map(|(t, _)| t + 1).max().unwrap_or(0);
        all.extend(extra.into_iter().map(|u| (next, u)));
    }
    all
}

/// The task's magnet link: `xt` (its info hash), `dn` (its name) and one `tr` per tracker.
pub fn magnet_link(task: &Task) -> String {
    // Spaces as %20, not `+` (a literal `+` is %2B, so every `+` here was a space).
    let encode = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let mut link = format!("magnet:?xt=urn:btih:{}", task.id);
    if !task.name.is_empty() && task.name != task.id {
        link.push_str("&dn=");
        link.push_str(&encode(&task.name));
    }
    for (_, tracker) in listed(&task.origin) {
        link.push_str("&tr=");
        link.push_str(&encode(&tracker));
    }
    link
}

impl Engine {
    /// `task.getTrackers`: the task's trackers, by tier.
    pub fn trackers(&self, id: &TaskId) -> Result<Vec<TrackerInfo>, EngineError> {
        self.with_task(id.as_str(), |task| {
            let running = task.handle().is_some_and(|h| h.live().is_some());
            let mut trackers: Vec<TrackerInfo> = all_trackers(task)
                .into_iter()
                .map(|(tier, url)| TrackerInfo {
                    supported: supported(&url),
                    announcing: running && supported(&url),
                    url,
                    tier,
                    last_announce: None,
                    last_peers: None,
                    last_error: None,
                })
                .collect();
            trackers.sort_by_key(|t| t.tier);
            trackers
        })
    }

    /// `task.reannounce`: asks the task's trackers for peers again now, by restarting
    /// librqbit's peer search (a pause and resume, in the task's turn; clients see no state
    /// change). The connected peers are dropped and found again. Only a running task (state 1
    /// or 2) with a tracker librqbit speaks.
    pub async fn reannounce(&self, id: &TaskId) -> Result<(), EngineError> {
        let id = id.as_str();
        let _turn = self.turn(id).await?;
        let handle = {
            let mut tasks = self.tasks();
            let task = find(&mut tasks, id)?;
            let state = task.current_state();
            if !matches!(state, TaskState::Downloading | TaskState::Uploading) {
                return Err(EngineError::InvalidState(format!(
                    "the task is not running (state {}): only a downloading or seeding task \
                     announces; resume it first",
                    state.code()
                )));
            }
            if !all_trackers(task).iter().any(|(_, url)| supported(url)) {
                return Err(EngineError::InvalidState(
                    "the task has no tracker to announce to (http, https or udp)".into(),
                ));
            }
            let Lifecycle::Managed { handle, restarting } = &mut task.lifecycle else {
                return Err(EngineError::InvalidState("the task is not running".into()));
            };
            if handle.live().is_none() {
                return Err(EngineError::InvalidState("the task is not running".into()));
            }
            *restarting = true;
            handle.clone()
        };
        tracing::info!(task = %id, "reannouncing: restarting the peer search");
        let session = &self.inner.librqbit;
        if let Err(e) = session.pause(&handle).await {
            tracing::debug!(task = %id, "reannounce: pause failed: {e:#}");
        }
        let resumed = session.unpause(&handle).await;
        let _ = self.with_task(id, |t| {
            if let Lifecycle::Managed { restarting, .. } = &mut t.lifecycle {
                *restarting = false;
            }
        });
        if let Err(e) = resumed {
            tracing::warn!(task = %id, "reannounce: resume failed: {e:#}");
        }
        // Whatever happened, librqbit is taken where the user wants it.
        self.settle(id).await;
        self.observe_task(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tiers_come_from_the_announce_list_or_the_magnet() {
        let torrent =
            b"d8:announce5:http:13:announce-listll10:http://a/1el10:http://b/210:http://a/1eee";
        let origin = Origin::Torrent {
            bytes: Arc::new(torrent.to_vec()),
        };
        assert_eq!(
            listed(&origin),
            vec![(0, "http://a/1".to_owned()), (1, "http://b/2".to_owned())]
        );
        let only_announce = Origin::Torrent {
            bytes: Arc::new(b"d8:announce9:udp://c/3e".to_vec()),
        };
        assert_eq!(listed(&only_announce), vec![(0, "udp://c/3".to_owned())]);
        let magnet = Origin::Magnet {
            uri: "magnet:?xt=urn:btih:aa&tr=http%3A%2F%2Fx%2Fa&tr=udp%3A%2F%2Fy%3A1".into(),
            peers: Vec::new(),
        };
        assert_eq!(
            listed(&magnet),
            vec![(0, "http://x/a".to_owned()), (1, "udp://y:1".to_owned())]
        );
        assert!(supported("udp://y:1") && supported("https://z/") && !supported("wss://q/"));
    }
}
