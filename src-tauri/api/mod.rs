//! Dispatch: a request's method name to its handler, and the result or error back to a response.
//!
//! Every client goes through here: WebSocket connections, and the desktop shell in-process (tray
//! quick adds, magnet links), so validation, errors and events are the same whoever asks.

mod error;
mod session;
mod tasks;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use serde_json::Value;

pub use error::ApiError;

use crate::engine::Engine;
use crate::protocol::{ErrorCode, Response};

/// A method's handler: the API and the request's params in, a JSON result or an error out.
type Handler = for<'a> fn(&'a Api, Value) -> BoxFuture<'a, Result<Value, ApiError>>;

/// A boxed handler future (the handlers differ in type, the table needs one).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Wraps a synchronous handler as a table entry.
macro_rules! sync {
    ($f:path) => {
        |api, params| Box::pin(std::future::ready($f(api, params)))
    };
}

/// Wraps an async handler as a table entry.
macro_rules! async_ {
    ($f:path) => {
        |api, params| Box::pin($f(api, params))
    };
}

/// Every method this API answers, with its handler: the one list that dispatch, the docs check
/// and `session.info` read. docs/API.md documents each.
pub const METHODS: &[(&str, Handler)] = &[
    ("task.add", async_!(tasks::add)),
    ("task.list", sync!(tasks::list)),
    ("task.getStatus", sync!(tasks::get_status)),
    ("task.getMetadata", sync!(tasks::get_metadata)),
    ("task.pause", async_!(tasks::pause)),
    ("task.resume", async_!(tasks::resume)),
    ("task.remove", async_!(tasks::remove)),
    ("session.info", sync!(session::info)),
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
        answer_guarded(id, &method, self.call(&method, params)).await
    }

    /// Calls a method by name with JSON params; the in-process entry point.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ApiError> {
        let Some((_, handler)) = METHODS.iter().find(|(name, _)| *name == method) else {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMethod,
                format!("unsupported method: {method:?}"),
            ));
        };
        handler(self, params).await
    }
}

/// Turns a handler's outcome into the response. Defence in depth: whatever a handler (or
/// librqbit under it) panics on becomes a -7 for this request, and the connection carries on.
async fn answer_guarded(
    id: Value,
    method: &str,
    call: impl std::future::Future<Output = Result<Value, ApiError>>,
) -> Response {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(result)) => Response::ok(id, result),
        Ok(Err(e)) => Response::error(id, e.code, e.message),
        Err(panic) => {
            let why = crate::engine::panic_message(panic.as_ref());
            tracing::error!(method, "request handler panicked: {why}");
            Response::error(id, ErrorCode::Internal, format!("internal error: {why}"))
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
    use super::{answer_guarded, parse_envelope, ApiError, METHODS};
    use serde_json::{json, Value};

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_minus_7() {
        let panics = async {
            let divisor = std::hint::black_box(0u32);
            Ok::<Value, ApiError>(json!(1 / divisor))
        };
        let response = answer_guarded(json!("p"), "test.panic", panics).await;
        let response = serde_json::to_value(&response).unwrap();
        assert_eq!(response["error"], -7);
        assert_eq!(response["id"], "p");
        assert!(response["message"]
            .as_str()
            .unwrap()
            .contains("divide by zero"));
        let fine = answer_guarded(json!(2), "test.ok", async { Ok(json!(true)) }).await;
        assert_eq!(serde_json::to_value(&fine).unwrap()["result"], true);
    }

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
        for name in METHODS.iter().map(|(name, _)| name).chain(events.iter()) {
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
