//! Dispatch: a request's method name to its handler, and the result or error back to a response.
//!
//! Every client goes through here: WebSocket connections, and the desktop shell in-process (tray
//! quick adds, magnet links), so validation, errors and events are the same whoever asks.

mod error;
mod session;
mod tasks;

use serde_json::Value;

pub use error::ApiError;

use crate::engine::Engine;
use crate::protocol::{ErrorCode, Response};

/// Every method this API answers, as dispatched by [`Api::call`] and documented in docs/API.md.
pub const METHODS: [&str; 8] = [
    "task.add",
    "task.list",
    "task.getStatus",
    "task.getMetadata",
    "task.pause",
    "task.resume",
    "task.remove",
    "session.info",
];

/// The API over one engine.
#[derive(Clone)]
pub struct Api {
    engine: Engine,
    /// The server's WebSocket URLs, reported by `session.info`.
    listen_urls: Vec<String>,
}

impl Api {
    pub fn new(engine: Engine, listen_urls: Vec<String>) -> Self {
        Api {
            engine,
            listen_urls,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Answers one text frame. Always returns exactly one response, whatever the input.
    pub async fn handle_text(&self, text: &str) -> Response {
        let (id, method, params) = match parse_envelope(text) {
            Ok(parts) => parts,
            Err((id, message)) => return Response::error(id, ErrorCode::InvalidRequest, message),
        };
        match self.call(&method, params).await {
            Ok(result) => Response::ok(id, result),
            Err(e) => Response::error(id, e.code, e.message),
        }
    }

    /// Calls a method by name with JSON params; the in-process entry point.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ApiError> {
        match method {
            "task.add" => tasks::add(self, params),
            "task.list" => tasks::list(self, params),
            "task.getStatus" => tasks::get_status(self, params),
            "task.getMetadata" => tasks::get_metadata(self, params),
            "task.pause" => tasks::pause(self, params).await,
            "task.resume" => tasks::resume(self, params).await,
            "task.remove" => tasks::remove(self, params).await,
            "session.info" => session::info(self, params),
            _ => Err(ApiError::new(
                ErrorCode::UnsupportedMethod,
                format!("unsupported method: {method:?}"),
            )),
        }
    }
}

/// Splits a request into id, method and params, or says why it is not a request (with the id
/// when it could be read, `null` otherwise).
fn parse_envelope(text: &str) -> Result<(Value, String, Value), (Value, String)> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| (Value::Null, format!("not valid JSON: {e}")))?;
    let Value::Object(mut request) = value else {
        return Err((Value::Null, "a request must be a JSON object".into()));
    };
    let id = match request.remove("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        Some(_) => return Err((Value::Null, "\"id\" must be a string".into())),
        None => return Err((Value::Null, "missing \"id\"".into())),
    };
    let method = match request.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err((id, "\"method\" must be a string".into())),
        None => return Err((id, "missing \"method\"".into())),
    };
    let params = request.remove("params").unwrap_or(Value::Null);
    Ok((id, method, params))
}

#[cfg(test)]
mod tests {
    use super::{parse_envelope, METHODS};
    use serde_json::json;

    /// docs/API.md must stay true to the code: every method and event has its section.
    #[test]
    fn every_method_and_event_is_documented() {
        let doc = include_str!("../../docs/API.md");
        let events = [
            "task.created",
            "task.metadataReceived",
            "task.stateUpdated",
            "task.updated",
            "task.removed",
            "session.resync",
        ];
        for name in METHODS.iter().chain(events.iter()) {
            assert!(
                doc.lines()
                    .any(|l| l.starts_with("### ") && l.contains(&format!("`{name}`"))),
                "docs/API.md has no section for {name}"
            );
        }
    }

    #[test]
    fn envelope_errors_keep_what_id_they_can() {
        assert_eq!(parse_envelope("{").unwrap_err().0, json!(null));
        assert_eq!(parse_envelope("[1]").unwrap_err().0, json!(null));
        assert_eq!(
            parse_envelope(r#"{"method":"x"}"#).unwrap_err().0,
            json!(null)
        );
        assert_eq!(
            parse_envelope(r#"{"id":{},"method":"x"}"#).unwrap_err().0,
            json!(null)
        );
        assert_eq!(parse_envelope(r#"{"id":"a"}"#).unwrap_err().0, json!("a"));
        assert_eq!(
            parse_envelope(r#"{"id":"a","method":1}"#).unwrap_err().0,
            json!("a")
        );
        let (id, method, params) = parse_envelope(r#"{"id":7,"method":"m"}"#).unwrap();
        assert_eq!((id, method.as_str(), params), (json!(7), "m", json!(null)));
    }
}
