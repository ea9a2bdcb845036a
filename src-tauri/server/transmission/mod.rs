//! `/transmission/rpc`: Transmission's RPC on the same port as the WebSocket API, so that the
//! tools written for Transmission (Sonarr, Radarr, Flood, `transmission-remote`, phone apps)
//! drive Magnetar unchanged. Every method is mapped onto the same API methods the WebSocket
//! clients call ([`Api::call_as`] with this caller's standing): no second path into the engine.
//!
//! The transport, as Transmission does it: the Host and Origin checks of every endpoint; HTTP
//! Basic auth whose password is the API token (any user name), with the WebSocket's standing
//! rules (the [`Calling`] extractor: loopback, remote, read-only, lockout); then the
//! `X-Transmission-Session-Id` handshake (a request without the current id gets 409 and the
//! id); then the body, bounded by `max_message_bytes` before it is parsed. docs/API.md section
//! 12 documents it all.

mod fetch;
mod fields;
mod ids;
mod methods;
mod names;
mod torrents;

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::FutureExt;
use serde_json::{json, Map, Value};

use super::caller::Calling;
use super::connection::Standing;
use super::AppState;

const SESSION_ID: HeaderName = HeaderName::from_static("x-transmission-session-id");

/// What the endpoint keeps while the server runs.
pub struct RpcState {
    /// The current `X-Transmission-Session-Id` (random per start).
    session_id: String,
    ids: Mutex<ids::Ids>,
    memory: Mutex<methods::Memory>,
    /// `torrent-add`'s fetches of .torrent URLs.
    pub(crate) fetcher: fetch::Fetcher,
}

impl RpcState {
    pub fn new() -> RpcState {
        let mut bytes = [0u8; 24];
        // Without randomness the id is still per start; it is a CSRF guard, not a secret.
        if getrandom::fill(&mut bytes).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes[..16].copy_from_slice(&now.to_le_bytes());
        }
        RpcState {
            session_id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
            ids: Mutex::new(ids::Ids::default()),
            memory: Mutex::new(methods::Memory::default()),
            fetcher: fetch::Fetcher::default(),
        }
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, ids::Ids> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, methods::Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The token of an `Authorization: Basic` header: its password (the user name is ignored).
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_owned())
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// `/transmission/rpc`, any HTTP method.
pub async fn rpc(
    State(state): State<AppState>,
    calling: Calling,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refusal) = super::host_refusal(&state, &headers) {
        return refusal;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !origin
            .to_str()
            .is_ok_and(|origin| state.guard.origin_allowed(origin, host))
        {
            tracing::warn!(
                ?origin,
                "refused a Transmission RPC request from a foreign Origin"
            );
            return plain(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    let calling = match basic_password(&headers) {
        Some(password) => calling.with_token(password),
        None => calling,
    };
    let caller = match calling.standing(&state) {
        Standing::Allowed(caller) => caller,
        Standing::Refused(why) => {
            tracing::warn!(client = %calling.addr, "refused a Transmission RPC request: {why}");
            return (
                StatusCode::UNAUTHORIZED,
                [
                    (header::WWW_AUTHENTICATE, "Basic realm=\"Magnetar\""),
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                ],
                format!(
                    "401: Unauthorized: {why} (Transmission clients: the password is the API \
                     token, any user name)\n"
                ),
            )
                .into_response();
        }
    };
    let rpc = state.transmission.clone();
    let presented = headers.get(SESSION_ID).and_then(|v| v.to_str().ok());
    if presented != Some(rpc.session_id.as_str()) {
        let id = HeaderValue::from_str(&rpc.session_id).expect("base64 is a header value");
        return (
            StatusCode::CONFLICT,
            [(SESSION_ID, id)],
            format!(
                "409: Conflict: send the header X-Transmission-Session-Id: {} with each request\n",
                rpc.session_id
            ),
        )
            .into_response();
    }
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "POST a JSON request\n",
        )
            .into_response();
    }
    let limit = state.max_message_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit);
    };
    let answer = answer(&state, &caller, &bytes).await;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        answer.to_string(),
    )
        .into_response()
}

fn too_large(limit: usize) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("413: the request is larger than the server's max_message_bytes ({limit})"),
    )
}

/// One request's answer: Transmission's `{result, arguments, tag}`, or JSON-RPC 2.0's
/// `{jsonrpc, id, result | error}` when the request said `"jsonrpc": "2.0"`.
async fn answer(state: &AppState, caller: &crate::api::Caller, bytes: &[u8]) -> Value {
    let request: Map<String, Value> = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(request)) => request,
        Ok(_) => return json!({"result": "the request must be a JSON object", "arguments": {}}),
        Err(e) => return json!({"result": format!("not valid JSON: {e}"), "arguments": {}}),
    };
    let jsonrpc = request.contains_key("jsonrpc");
    let tag = request.get("tag").cloned();
    let rpc_id = request.get("id").cloned();
    let method = match request.get("method") {
        Some(Value::String(m)) => m.clone(),
        Some(_) => {
            return framed(
                jsonrpc,
                tag,
                rpc_id,
                Err("\"method\" must be a string".into()),
            )
        }
        None => return framed(jsonrpc, tag, rpc_id, Err("no method name".into())),
    };
    let args = match request
        .get(if jsonrpc { "params" } else { "arguments" })
        .or_else(|| request.get("arguments"))
    {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(args)) => args.clone(),
        Some(_) => {
            return framed(
                jsonrpc,
                tag,
                rpc_id,
                Err("\"arguments\" must be an object".into()),
            )
        }
    };
    let style = names::style_of(&method, jsonrpc, &args);
    let context = methods::Context {
        api: &state.api,
        caller,
        rpc: &state.transmission,
        style,
    };
    let name = names::snake(&method);
    let call = methods::dispatch(&context, &name, names::snake_keys(args));
    let outcome = match AssertUnwindSafe(call).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let why = crate::engine::panic_message(panic.as_ref());
            tracing::error!(method, "Transmission RPC handler panicked: {why}");
            Err(format!("internal error: {why}"))
        }
    };
    framed(jsonrpc, tag, rpc_id, outcome)
}

fn framed(
    jsonrpc: bool,
    tag: Option<Value>,
    rpc_id: Option<Value>,
    outcome: Result<Value, String>,
) -> Value {
    if jsonrpc {
        let mut answer = json!({"jsonrpc": "2.0", "id": rpc_id.unwrap_or(Value::Null)});
        match outcome {
            Ok(result) => answer["result"] = result,
            Err(message) => {
                answer["error"] =
                    json!({"code": 1, "message": message, "data": {"error_string": message}})
            }
        }
        return answer;
    }
    let mut answer = match outcome {
        Ok(arguments) => json!({"result": "success", "arguments": arguments}),
        Err(message) => json!({"result": message, "arguments": {}}),
    };
    if let Some(tag) = tag {
        answer["tag"] = tag;
    }
    answer
}
