//! Error codes carried in a response's `error` field.

use serde::{Serialize, Serializer};

/// The `error` field of a response. `0` and the first two come from the seed API's origin; the
/// rest are Magnetar's decisions, documented in `docs/API.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `0`: the request succeeded.
    Ok,
    /// `-1`: no method of that name.
    UnsupportedMethod,
    /// `-2`: the method exists but its params are wrong (type, value, missing field).
    InvalidParams,
    /// `-3`: not a request at all: not JSON, not an object, missing `id` or `method`.
    InvalidRequest,
    /// `-4`: no task has that id.
    TaskNotFound,
    /// `-5`: a task with that info hash already exists.
    TaskExists,
    /// `-6`: the client is not allowed to do this.
    Unauthorized,
    /// `-7`: the server failed while doing something valid.
    Internal,
    /// `-8`: too many requests of this kind from this client; the message says when to retry.
    RateLimited,
}

impl ErrorCode {
    /// The integer sent on the wire.
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::Ok => 0,
            ErrorCode::UnsupportedMethod => -1,
            ErrorCode::InvalidParams => -2,
            ErrorCode::InvalidRequest => -3,
            ErrorCode::TaskNotFound => -4,
            ErrorCode::TaskExists => -5,
            ErrorCode::Unauthorized => -6,
            ErrorCode::Internal => -7,
            ErrorCode::RateLimited => -8,
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.code())
    }
}
