//! The engine's typed errors. The API layer maps each to an error code.

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input (magnet, torrent, option) is not acceptable; the message says why.
    #[error("{0}")]
    InvalidInput(String),
    /// No task has this id.
    #[error("task not found: {0}")]
    NotFound(String),
    /// A task with this info hash already exists.
    #[error("task already exists: {0}")]
    AlreadyExists(String),
    /// The task cannot do this in its current state.
    #[error("{0}")]
    InvalidState(String),
    /// Something failed inside the engine or on disk.
    #[error("{0}")]
    Internal(String),
}
