//! The wire shape of the WebSocket API, and nothing else.
//!
//! Everything a client sees is defined here: requests, responses, events, the task state codes and
//! the error codes, and the one parser of what a client sends as a magnet link ([`MagnetLink`]).
//! This module is a leaf: it imports nothing from the rest of the crate, nor any transport (no
//! axum) nor librqbit, so the engine can produce these types directly, the API layer can send
//! them without re-mapping, and every client (the tray, `magnetar remote`) can use them.
//! `docs/API.md` documents every type in this module.

mod error;
mod event;
mod label;
mod magnet;
mod message;
mod settings;
mod task;
mod task_id;

pub use error::ErrorCode;
pub use event::{Event, Published};
pub use label::{check_label_name, Label, MAX_LABELS, MAX_LABEL_CHARS};
pub use magnet::{MagnetError, MagnetLink};
pub use message::{null, Reply, Response};
pub use settings::SessionSettings;
pub use task::{
    FileEntry, MoveProgress, PeerInfo, SessionInfo, TaskMetadata, TaskState, TaskStatus,
    TaskSummary, TrackerInfo,
};
pub use task_id::TaskId;
