//! The wire shape of the WebSocket API, and nothing else.
//!
//! Everything a client sees is defined here: requests, responses, events, the task state codes and
//! the error codes. This module is a leaf: it imports nothing from the rest of the crate, so the
//! engine can produce these types directly and the API layer can send them without re-mapping.
//! `docs/API.md` documents every type in this module.

mod error;
mod event;
mod message;
mod task;

pub use error::ErrorCode;
pub use event::{Event, Published};
pub use message::{null, Reply, Response};
pub use task::{
    FileEntry, PeerInfo, SessionInfo, TaskMetadata, TaskState, TaskStatus, TaskSummary,
};
