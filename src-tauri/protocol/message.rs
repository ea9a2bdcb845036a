//! The response envelope. (Requests are read field by field in `api`, so that a broken one
//! still gets its id echoed back.)

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::ErrorCode;

/// Exactly one response is sent for every request, in the order requests are answered.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// The request's id, or `null` when it could not be read.
    pub id: Value,
    pub error: ErrorCode,
    /// The result, already JSON text; always `null` when `error` is not `0`.
    pub result: Reply,
    /// A human-readable explanation, present only on errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Response {
    pub fn ok(id: Value, result: Reply) -> Self {
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
            result: null(),
            message: Some(message.into()),
        }
    }
}

impl Response {
    /// The response as one JSON text, written once into a buffer of the right size (a list of
    /// 1,000 tasks is 300 KB: growing a string to that size copies it several times).
    pub fn to_json_text(&self) -> String {
        let mut out = Vec::with_capacity(self.result.get().len() + 96);
        // Plain data (strings, numbers, raw JSON): serializing it cannot fail.
        let _ = serde_json::to_writer(&mut out, self);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A method's result as JSON text: handlers serialize straight to it, so a response is
/// written without building a `Value` tree first.
pub type Reply = Box<RawValue>;

/// The `null` result.
pub fn null() -> Reply {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}
