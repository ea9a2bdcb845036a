//! The response envelope. (Requests are read field by field in `api`, so that a broken one
//! still gets its id echoed back.)

use serde::Serialize;
use serde_json::Value;

use super::ErrorCode;

/// Exactly one response is sent for every request, in the order requests are answered.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// The request's id, or `null` when it could not be read.
    pub id: Value,
    pub error: ErrorCode,
    /// The result; always `null` when `error` is not `0`.
    pub result: Value,
    /// A human-readable explanation, present only on errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Response {
    pub fn ok(id: Value, result: Value) -> Self {
        Response {
            id,
            error: ErrorCode::Ok,
            result,
            message: None,
        }
    }

    pub fn error(id: Value, error: ErrorCode, message: impl Into<String>) -> Self {
        Response {
            id,
            error,
            result: Value::Null,
            message: Some(message.into()),
        }
    }
}
