//! Dispatch: a request's method name to its handler, and the result or error back to a response.
//!
//! Every client goes through here: WebSocket connections, and the desktop shell in-process (tray
//! quick adds, magnet links), so validation, errors and events are the same whoever asks.

mod error;
mod rate;
mod session;
mod settings;
mod stream;
mod tasks;
mod watch;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use serde_json::Value;

pub use error::ApiError;
pub use rate::RateLimiter;
pub use settings::{Applies, Key, SettingsState, KEYS as SETTINGS};
pub use stream::{FileStream, StreamError, StreamFile, DEFAULT_LIFETIME, LINK_PARAM, MAX_STREAMS};
pub use watch::watch_folder;

use crate::engine::Engine;
use crate::protocol::{ErrorCode, Published, Reply, Response, TaskSummary};

/// A method's handler: the API, the caller and the request's params in, a JSON result or an
/// error out.
type Handler = for<'a> fn(&'a Api, &'a Caller, Value) -> BoxFuture<'a, Result<Reply, ApiError>>;

/// A boxed handler future (the handlers differ in type, the table needs one).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Wraps a synchronous handler as a table entry.
macro_rules! sync {
    ($f:path) => {
        |api, _caller, params| Box::pin(std::future::ready($f(api, params)))
    };
}

/// Wraps an async handler as a table entry.
macro_rules! async_ {
    ($f:path) => {
        |api, _caller, params| Box::pin($f(api, params))
    };
}

/// Wraps an async handler that needs to know its caller (where it is) as a table entry.
macro_rules! async_as {
    ($f:path) => {
        |api, caller, params| Box::pin($f(api, caller, params))
    };
}

/// What a method needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reads state only: allowed with the read-only token.
    Read,
    /// Changes tasks: needs the full token (or loopback).
    Write,
    /// Changes settings, paths or limits: from another machine only with `remote_admin` on.
    Admin,
}

/// One method: its name, what it needs, and its handler.
pub struct Method {
    pub name: &'static str,
    pub need: Need,
    handler: Handler,
}

const fn method(name: &'static str, need: Need, handler: Handler) -> Method {
    Method {
        name,
        need,
        handler,
    }
}

/// Every method this API answers: the one list that dispatch, permissions and the docs check
/// read. docs/API.md documents each.
pub const METHODS: &[Method] = &[
    method("task.add", Need::Write, async_as!(tasks::add)),
    method("task.list", Need::Read, sync!(tasks::list)),
    method("task.getStatus", Need::Read, sync!(tasks::get_status)),
    method("task.getMetadata", Need::Read, sync!(tasks::get_metadata)),
    method("task.pause", Need::Write, async_!(tasks::pause)),
    method("task.resume", Need::Write, async_!(tasks::resume)),
    method("task.remove", Need::Write, async_!(tasks::remove)),
    method("task.setFiles", Need::Write, async_!(tasks::set_files)),
    method("task.setLabel", Need::Write, async_as!(tasks::set_label)),
    method("task.move", Need::Write, async_as!(tasks::move_task)),
    method("task.getSeedGoal", Need::Read, sync!(tasks::get_seed_goal)),
    method(
        "task.setSeedGoal",
        Need::Write,
        async_!(tasks::set_seed_goal),
    ),
    method("task.getTrackers", Need::Read, sync!(tasks::get_trackers)),
    method("task.reannounce", Need::Write, async_!(tasks::reannounce)),
    method("task.recheck", Need::Write, async_!(tasks::recheck)),
    method(
        "task.openFolder",
        Need::Write,
        async_as!(tasks::open_folder),
    ),
    method("session.info", Need::Read, sync!(session::info)),
    method(
        "session.setLimits",
        Need::Admin,
        async_!(session::set_limits),
    ),
    method("session.getSettings", Need::Read, sync!(settings::get)),
    method("session.setSettings", Need::Admin, async_!(settings::set)),
    method("session.getLabels", Need::Read, sync!(session::get_labels)),
    method(
        "session.setLabels",
        Need::Admin,
        async_as!(session::set_labels),
    ),
    method("stream.url", Need::Read, async_as!(stream::url)),
    method(
        "stream.openInPlayer",
        Need::Read,
        async_as!(stream::open_in_player),
    ),
];

/// Who is calling, as far as permissions go.
#[derive(Clone)]
pub struct Caller {
    /// May call [`Need::Write`] methods (else read-only).
    pub can_write: bool,
    /// May call [`Need::Admin`] methods.
    pub can_admin: bool,
    /// For a remote caller, the bound on its `task.add` rate.
    pub add_budget: Option<AddBudget>,
}

impl Caller {
    /// The desktop shell and loopback clients: everything, unmetered.
    pub const LOCAL: Caller = Caller {
        can_write: true,
        can_admin: true,
        add_budget: None,
    };

    /// Is the caller on another machine? (Only remote callers have an add budget.)
    pub fn is_remote(&self) -> bool {
        self.add_budget.is_some()
    }

    fn refusal(&self, method: &Method) -> Option<ApiError> {
        let refused = match method.need {
            Need::Read => false,
            Need::Write => !self.can_write,
            Need::Admin => !self.can_admin,
        };
        if !refused {
            return None;
        }
        let why = match method.need {
            Need::Admin if self.can_write => {
                "this method changes the server's settings: it is refused to clients on other \
                 machines unless the server's `remote_admin` setting is on"
            }
            _ => "this connection's token is read-only",
        };
        Some(ApiError::new(
            ErrorCode::Unauthorized,
            format!("unauthorized: {}: {why}", method.name),
        ))
    }
}

/// A remote address's allowance of `task.add` calls, shared by all its connections.
#[derive(Clone)]
pub struct AddBudget {
    pub limiter: std::sync::Arc<crate::api::RateLimiter>,
    pub client: std::net::IpAddr,
}

/// The API over one engine. The engine is private to this module and its handlers: whatever
/// sits above (the server, the desktop shell) asks the API ([`Api::call`], [`Api::subscribe`],
/// [`Api::tasks`]), never the engine.
#[derive(Clone)]
pub struct Api {
    engine: Engine,
    /// The server's WebSocket URLs, reported by `session.info`.
    listen_urls: Vec<String>,
    /// Where settings changed through the API (`session.setLimits`) are saved, if anywhere.
    settings_file: Option<std::path::PathBuf>,
    /// The settings turn: held by one `session.setLimits` or `session.setSettings` from
    /// reading the settings to announcing them.
    limits_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The settings as `session.getSettings` shows them.
    settings: std::sync::Arc<std::sync::Mutex<SettingsState>>,
    /// The bound on remote `task.add` calls, shared with the server (the setting
    /// `remote_adds_per_minute` changes it at run time).
    adds: std::sync::Arc<RateLimiter>,
    /// Held by one `session.setLabels` from applying the labels to announcing them.
    labels_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Opens a folder in the user's file manager: set by the desktop shell, none when headless.
    folder_opener: std::sync::Arc<std::sync::OnceLock<FolderOpener>>,
    /// The key that signs stream links (`stream.url`), made on first use.
    stream_key: std::sync::Arc<stream::StreamKey>,
}

/// Shows a folder of the server's own machine to its user (`task.openFolder`).
pub type FolderOpener = Box<dyn Fn(&std::path::Path) -> Result<(), String> + Send + Sync>;

impl Api {
    pub fn new(engine: Engine, listen_urls: Vec<String>) -> Self {
        Api {
            engine,
            listen_urls,
            settings_file: None,
            limits_turn: Default::default(),
            settings: std::sync::Arc::new(std::sync::Mutex::new(SettingsState::new(
                crate::config::Settings::default(),
                &[],
            ))),
            adds: std::sync::Arc::new(RateLimiter::new(
                crate::config::Settings::default().remote_adds_per_minute,
            )),
            labels_turn: Default::default(),
            folder_opener: Default::default(),
            stream_key: Default::default(),
        }
    }

    /// The desktop shell's way to show a folder to the user (`task.openFolder`); set once.
    pub fn set_folder_opener(&self, opener: FolderOpener) {
        let _ = self.folder_opener.set(opener);
    }

    /// How to show a folder to the user of this machine, when it has a desktop.
    pub fn folder_opener(&self) -> Option<&FolderOpener> {
        self.folder_opener.get()
    }

    /// The settings the server runs with (`overridden`: the keys the command line gave), as
    /// `session.getSettings` shows them and `session.setSettings` changes them.
    pub fn with_settings(self, settings: crate::config::Settings, overridden: &[&str]) -> Self {
        self.adds.set_per_minute(settings.remote_adds_per_minute);
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) =
            SettingsState::new(settings, overridden);
        self
    }

    /// The bound on remote `task.add` calls: the server meters with it.
    pub fn add_limiter(&self) -> std::sync::Arc<RateLimiter> {
        self.adds.clone()
    }

    /// Saves settings changed through the API in `path` (the server's `settings.json`).
    pub fn with_settings_file(mut self, path: std::path::PathBuf) -> Self {
        self.settings_file = Some(path);
        self
    }

    /// A new receiver of every event published from now on (the typed event and its JSON
    /// text): the server's connections and the desktop shell each hold one.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Published> {
        self.engine.subscribe()
    }

    /// Every task's summary, as `task.list` answers it, typed: for a resync, and for the
    /// desktop shell's notifications and tray.
    pub fn tasks(&self) -> Vec<TaskSummary> {
        self.engine.list()
    }

    /// Answers one text frame from a local caller. Always returns exactly one response.
    pub async fn handle_text(&self, text: &str) -> Response {
        self.handle_text_as(&Caller::LOCAL, text).await
    }

    /// Answers one text frame from `caller`. Always returns exactly one response, whatever the
    /// input.
    pub async fn handle_text_as(&self, caller: &Caller, text: &str) -> Response {
        let (id, method, params) = match parse_envelope(text) {
            Ok(parts) => parts,
            Err((id, message)) => return Response::error(id, ErrorCode::InvalidRequest, message),
        };
        answer_guarded(id, &method, self.call_as(caller, &method, params)).await
    }

    /// Calls a method by name with JSON params; the in-process entry point (full access).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ApiError> {
        let reply = self.call_as(&Caller::LOCAL, method, params).await?;
        serde_json::from_str(reply.get())
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Calls a method by name on behalf of `caller`.
    pub async fn call_as(
        &self,
        caller: &Caller,
        method: &str,
        params: Value,
    ) -> Result<Reply, ApiError> {
        let Some(entry) = METHODS.iter().find(|m| m.name == method) else {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMethod,
                format!("unsupported method: {method:?}"),
            ));
        };
        if let Some(refusal) = caller.refusal(entry) {
            return Err(refusal);
        }
        if let (Some(budget), "task.add") = (&caller.add_budget, method) {
            if let Err(wait) = budget.limiter.try_take(budget.client) {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "too many task.add calls from {}: try again in {} s",
                        budget.client,
                        wait.as_secs().max(1)
                    ),
                ));
            }
        }
        (entry.handler)(self, caller, params).await
    }
}

/// Turns a handler's outcome into the response. Defence in depth: whatever a handler (or
/// librqbit under it) panics on becomes a -7 for this request, and the connection carries on.
async fn answer_guarded(
    id: Value,
    method: &str,
    call: impl std::future::Future<Output = Result<Reply, ApiError>>,
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
    use super::{answer_guarded, parse_envelope, tasks, METHODS};
    use serde_json::json;

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_minus_7() {
        let panics = async {
            let divisor = std::hint::black_box(0u32);
            tasks::to_json(&json!(1 / divisor))
        };
        let response = answer_guarded(json!("p"), "test.panic", panics).await;
        let response = serde_json::to_value(&response).unwrap();
        assert_eq!(response["error"], -7);
        assert_eq!(response["id"], "p");
        assert!(response["message"]
            .as_str()
            .unwrap()
            .contains("divide by zero"));
        let fine = answer_guarded(json!(2), "test.ok", async { tasks::to_json(&true) }).await;
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
            "session.limitsUpdated",
            "session.settingsUpdated",
            "session.labelsUpdated",
            "session.watchFailed",
        ];
        for name in METHODS.iter().map(|m| &m.name).chain(events.iter()) {
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
