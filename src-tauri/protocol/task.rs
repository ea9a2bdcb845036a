//! Task types as they appear in results and events.

use serde::{Serialize, Serializer};

/// A task's state. Codes 0-4 are the seed API origin's enum; 5 is Magnetar's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// `0`: initializing, checking existing data, or fetching a magnet's metadata.
    Preparing,
    /// `1`: downloading.
    Downloading,
    /// `2`: complete and seeding.
    Uploading,
    /// `3`: complete and not seeding.
    Finished,
    /// `4`: paused by a user.
    Paused,
    /// `5`: failed; the task's `error` says why. `task.resume` retries.
    Error,
}

impl TaskState {
    /// The integer sent on the wire.
    pub fn code(self) -> u8 {
        match self {
            TaskState::Preparing => 0,
            TaskState::Downloading => 1,
            TaskState::Uploading => 2,
            TaskState::Finished => 3,
            TaskState::Paused => 4,
            TaskState::Error => 5,
        }
    }
}

impl Serialize for TaskState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

/// One row of `task.list` and of `task.updated`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSummary {
    pub id: String,
    pub name: String,
    pub state: TaskState,
    pub total_bytes: u64,
    pub dl_bytes: u64,
    pub dl_speed: u64,
    /// Bytes uploaded ever (the same as `uploaded_ever`; kept for the seed contract).
    pub ul_bytes: u64,
    pub ul_speed: u64,
    pub connected_peers: u32,
    pub connected_seeds: u32,
    /// When the task was added, in seconds since the Unix epoch (`0` if unknown).
    pub added: u64,
    /// The task's label (`task.setLabel`), `null` when it has none.
    pub label: Option<String>,
    /// Bytes uploaded to peers ever, across pauses and restarts.
    pub uploaded_ever: u64,
    /// Bytes downloaded from peers (and verified) ever, across pauses and restarts.
    pub downloaded_ever: u64,
    /// Seconds spent downloading (state 1) before the current state began, ever.
    pub seconds_downloading: u64,
    /// Seconds spent seeding (state 2) before the current state began, ever.
    pub seconds_seeding: u64,
    /// When the current state began (Unix seconds; for a task restored at start, the start):
    /// in state 1 or 2, add the time since to the seconds above.
    pub state_since: u64,
    /// `uploaded_ever` over the larger of `downloaded_ever` and `dl_bytes`; `0` when both are 0.
    pub ratio: f64,
    /// Why the task is in the error state; present only then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A move of its data (`task.move`) under way; present only then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving: Option<MoveProgress>,
}

/// How far a move of a task's data (`task.move`) has come: bytes renamed or copied and
/// verified so far, out of the bytes the task has on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MoveProgress {
    pub done_bytes: u64,
    pub total_bytes: u64,
}

/// The result of `task.getMetadata`, and the data of `task.created` / `task.metadataReceived`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskMetadata {
    pub id: String,
    pub name: String,
    /// The torrent's "created by".
    pub creator: String,
    /// The torrent's "comment".
    pub comment: String,
    pub files: Vec<FileEntry>,
    /// The folder the task's files go in (its multi-file torrent's own folder is inside it).
    pub download_dir: String,
    /// `false` until the metadata (the info dictionary) is known.
    pub ready: bool,
    /// The task's magnet link: its info hash, name (`dn`) and trackers (`tr`), to copy.
    pub magnet: String,
}

/// One tracker of a task (`task.getTrackers`). librqbit 9.1 keeps what its trackers answered to
/// itself: the announce time, peer count and error are `null` (see docs/API.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackerInfo {
    pub url: String,
    /// The tier (BEP 12): 0 first. From the torrent's `announce-list` (or `announce`), a
    /// magnet's `tr` links in order; trackers librqbit uses beyond these come last.
    pub tier: u32,
    /// Whether librqbit speaks this tracker's protocol (http, https, udp).
    pub supported: bool,
    /// Whether librqbit announces to it now (the task is running, the tracker supported, and
    /// for a private torrent only its first tracker).
    pub announcing: bool,
    /// When it was last announced to (Unix seconds): not exposed by librqbit 9.1, `null`.
    pub last_announce: Option<u64>,
    /// How many peers its last answer held: not exposed by librqbit 9.1, `null`.
    pub last_peers: Option<u32>,
    /// Its last error: not exposed by librqbit 9.1, `null`.
    pub last_error: Option<String>,
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileEntry {
    /// The path inside the torrent, components joined with `/`.
    pub path: String,
    pub size: u64,
    /// Whether the file is to be downloaded (`task.setFiles`); `true` unless skipped.
    pub selected: bool,
}

/// The result of `task.getStatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStatus {
    /// One entry per piece, `true` when we hold it; empty until the metadata is known.
    pub pieces: Vec<bool>,
    /// Bytes held per file, in torrent order.
    pub files: Vec<u64>,
    /// Whether each file is to be downloaded, parallel to `files`.
    pub selected: Vec<bool>,
    /// The peers connected now.
    pub peers: Vec<PeerInfo>,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerInfo {
    /// The peer's client, from its extended handshake (or "unknown").
    pub client: String,
    /// "ip:port" (IPv6 as "[ip]:port").
    pub address: String,
    pub dl_bytes: u64,
    pub dl_speed: u64,
    pub ul_bytes: u64,
    pub ul_speed: u64,
}

/// The result of `session.info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    pub version: String,
    pub download_dir: String,
    /// Where the BitTorrent engine listens for peers ("ip:port").
    pub peer_listen_addresses: Vec<String>,
    /// Where this API listens (`ws://.../ws`).
    pub listen_addresses: Vec<String>,
    pub dht: bool,
    pub tasks: u32,
    pub dl_bytes: u64,
    pub dl_speed: u64,
    pub ul_bytes: u64,
    pub ul_speed: u64,
    /// Bytes uploaded ever by every task this session has held, removed ones included.
    pub uploaded_ever: u64,
    /// Bytes downloaded ever by every task this session has held, removed ones included.
    pub downloaded_ever: u64,
    /// Seconds downloading ever, summed over those tasks.
    pub seconds_downloading: u64,
    /// Seconds seeding ever, summed over those tasks.
    pub seconds_seeding: u64,
    pub uptime_seconds: u64,
    /// The global download limit in bytes per second; `null` when unlimited.
    pub download_bps: Option<u32>,
    /// The global upload limit in bytes per second; `null` when unlimited.
    pub upload_bps: Option<u32>,
    /// Whether `task.openFolder` can show a folder here: the server is the desktop app.
    pub can_open_folders: bool,
}
