//! The server: one port for HTTP (the web UI) and WebSocket (the API), built on axum.
//!
//! A WebSocket upgrade is accepted on `/ws` and on `/`; a plain GET of `/` serves the UI, and
//! `/stream/{task_id}/{file_index}` a task's file while it downloads (`stream.rs`). Every
//! request passes the [`Guard`] (Host, Origin) and says who is calling ([`caller::Calling`]);
//! raw connections are bounded below HTTP ([`accept`]), WebSocket clients by a semaphore, and
//! messages by size, a client that has not proved itself to a few KiB. Shutdown comes from one
//! `CancellationToken`: the listener stops accepting, every connection sends a close frame, and
//! the `TaskTracker` lets the caller wait for all of it.

mod accept;
mod caller;
mod connection;
mod guard;
mod lockout;
mod stream;
mod transmission;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use guard::{is_loopback, Guard};

use crate::api::{Api, RateLimiter};
use caller::Calling;
use connection::Standing;
use lockout::Lockout;

/// Connections of clients that are not authorized (they only ever get one refusal) have their
/// own small pool, so that they can never take a slot from an authorized client.
const REFUSED_SLOTS: usize = 64;
/// The largest message a client that is not authorized may send: its refusal needs only the
/// request's `id`, and nothing it sends is worth more memory than this.
const REFUSED_MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// Connections that have not yet sent a whole request head (see `accept.rs`).
const MAX_UNPROVEN: usize = 128;
/// Plain HTTP connections (the UI's files) beside the WebSocket pools.
const HTTP_SLOTS: usize = 64;
/// Time for a TLS handshake and for each request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write may wait for a client that takes nothing (a WebSocket frame has its own
/// 30 s, see `connection.rs`).
const WRITE_STALL: Duration = Duration::from_secs(30);
/// Connections one address may hold (an IPv6 /64 is one address; loopback and trusted proxies
/// are exempt): the WebSocket pools and the plain HTTP ones stay open to everyone else.
const MAX_PER_ADDRESS: usize = 128;
/// Each connection's read buffer, and how much it gathers before a write.
const CONNECTION_BUFFER_BYTES: usize = 8 * 1024;

/// What the server needs besides the API.
#[derive(Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub guard: Guard,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    /// Failed tokens in a row before an address is locked out, and for how long.
    pub lockout_failures: u32,
    pub lockout: std::time::Duration,
    /// `task.add` calls a minute allowed to one remote address.
    pub remote_adds_per_minute: u32,
    /// Bytes of events that may wait for one slow client before it is resynced.
    pub max_queue_bytes: usize,
    /// Serve TLS (`wss://`, `https://`) with this acceptor.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// A bound, not yet serving, server: binding first tells the caller the real port.
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
}

#[derive(Clone)]
struct AppState {
    api: Api,
    guard: Arc<Guard>,
    slots: Arc<Semaphore>,
    refused_slots: Arc<Semaphore>,
    lockout: Arc<Lockout>,
    adds: Arc<RateLimiter>,
    max_message_bytes: usize,
    max_queue_bytes: usize,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// `/transmission/rpc`'s session id and numeric ids.
    transmission: Arc<transmission::RpcState>,
}

impl Server {
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(Server { listener, config })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `cancel` fires, then returns once the listener is closed. Connections are
    /// tracked on `tracker` and close themselves on `cancel`.
    pub async fn serve(self, api: Api, cancel: CancellationToken, tracker: TaskTracker) {
        // The API's own limiter, so that `session.setSettings` can change its rate.
        let adds = api.add_limiter();
        adds.set_per_minute(self.config.remote_adds_per_minute);
        let state = AppState {
            api,
            guard: Arc::new(self.config.guard),
            slots: Arc::new(Semaphore::new(self.config.max_connections)),
            refused_slots: Arc::new(Semaphore::new(REFUSED_SLOTS)),
            lockout: Arc::new(Lockout::new(
                self.config.lockout_failures,
                self.config.lockout,
            )),
            adds,
            max_message_bytes: self.config.max_message_bytes,
            max_queue_bytes: self.config.max_queue_bytes,
            cancel: cancel.clone(),
            tracker,
            transmission: Arc::new(transmission::RpcState::new()),
        };
        let limits = accept::Limits {
            max_open: self.config.max_connections + REFUSED_SLOTS + MAX_UNPROVEN + HTTP_SLOTS,
            max_unproven: MAX_UNPROVEN,
            head_timeout: HEAD_TIMEOUT,
            write_stall: WRITE_STALL,
            max_per_address: MAX_PER_ADDRESS,
        };
        let tracker = state.tracker.clone();
        let guard = state.guard.clone();
        let exempt = move |ip| is_loopback(ip) || guard.is_trusted_proxy(ip);
        let app = Router::new()
            .route("/", get(root))
            .route("/ws", get(websocket_only))
            .route("/stream/{task_id}/{file_index}", get(stream::serve))
            // transmission-remote posts to `/transmission/rpc/`, others without the slash.
            .route("/transmission/rpc", any(transmission::rpc))
            .route("/transmission/rpc/", any(transmission::rpc))
            .fallback(get(ui_file))
            .with_state(state);
        accept::run(
            self.listener,
            self.config.tls,
            app,
            limits,
            exempt,
            cancel,
            tracker,
        )
        .await;
    }
}

/// A URL clients can connect to for a listen address (`wss://` with TLS): an unspecified
/// address (0.0.0.0, ::) is reachable on loopback.
pub fn websocket_url(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    let scheme = if tls { "wss" } else { "ws" };
    format!("{scheme}://{ip}:{}/ws", addr.port())
}

/// `/`: the UI for a plain GET, the API for a WebSocket upgrade.
async fn root(
    State(state): State<AppState>,
    calling: Calling,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refusal) = host_refusal(&state, &headers) {
        return refusal;
    }
    match upgrade {
        Ok(upgrade) => accept(state, calling, &headers, upgrade),
        Err(_) => ui::serve("", &headers),
    }
}

/// `/ws`: the API only.
async fn websocket_only(
    State(state): State<AppState>,
    calling: Calling,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refusal) = host_refusal(&state, &headers) {
        return refusal;
    }
    match upgrade {
        Ok(upgrade) => accept(state, calling, &headers, upgrade),
        Err(_) => (
            StatusCode::UPGRADE_REQUIRED,
            [(header::UPGRADE, "websocket")],
            "this endpoint speaks WebSocket only\n",
        )
            .into_response(),
    }
}

/// Any other path: a file of the web UI (after the Host check), or 404.
async fn ui_file(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = host_refusal(&state, &headers) {
        return refusal;
    }
    ui::serve(uri.path(), &headers)
}

/// A 403 for a request whose `Host` is not ours (DNS rebinding), `None` when it is fine.
fn host_refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if state.guard.host_allowed(host) {
        return None;
    }
    tracing::warn!(host, "refused a request for a foreign Host");
    Some(
        (
            StatusCode::FORBIDDEN,
            ui::security_headers(),
            "Host not allowed\n",
        )
            .into_response(),
    )
}

/// Origin check, standing, connection slot, then the upgrade.
fn accept(
    state: AppState,
    calling: Calling,
    headers: &HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = calling.addr;
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| state.guard.origin_allowed(origin, host));
        if !allowed {
            tracing::warn!(?origin, %client, "refused a WebSocket from a foreign Origin");
            return (StatusCode::FORBIDDEN, "Origin not allowed\n").into_response();
        }
    }
    let standing = calling.standing(&state);
    let (pool, max_message_bytes) = match &standing {
        Standing::Allowed(_) => (&state.slots, state.max_message_bytes),
        Standing::Refused(why) => {
            tracing::warn!(%client, "refusing a client: {why}");
            (&state.refused_slots, REFUSED_MAX_MESSAGE_BYTES)
        }
    };
    let Ok(slot) = pool.clone().try_acquire_owned() else {
        tracing::warn!(%client, "refused a WebSocket: too many connections");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response();
    };
    let AppState {
        api,
        cancel,
        tracker,
        max_queue_bytes,
        ..
    } = state;
    // Subscribed now, before the handshake's answer: see `Connection::events`.
    let events = matches!(standing, Standing::Allowed(_)).then(|| api.subscribe());
    upgrade
        .max_message_size(max_message_bytes)
        .max_frame_size(max_message_bytes)
        // tungstenite's defaults are 128 KiB each way per connection, held for its whole life:
        // 500 idle clients were 120 MiB. Requests are small and buffers grow for a big one.
        .read_buffer_size(CONNECTION_BUFFER_BYTES)
        .write_buffer_size(CONNECTION_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let connection = connection::Connection {
                api,
                standing,
                cancel,
                peer: client.key(),
                max_queue_bytes,
                events,
            };
            tracker.track_future(async move {
                connection.run(socket).await;
                drop(slot);
                crate::memory::trim_soon();
            })
        })
}

#[cfg(test)]
mod tests {
    use super::websocket_url;

    #[test]
    fn urls_are_connectable() {
        let url = |addr: &str| websocket_url(addr.parse().unwrap(), false);
        assert_eq!(url("127.0.0.1:7345"), "ws://127.0.0.1:7345/ws");
        assert_eq!(url("0.0.0.0:80"), "ws://127.0.0.1:80/ws");
        assert_eq!(url("[::]:80"), "ws://[::1]:80/ws");
        assert_eq!(url("[fe80::1]:80"), "ws://[fe80::1]:80/ws");
        assert_eq!(url("10.0.0.5:1"), "ws://10.0.0.5:1/ws");
        assert_eq!(
            websocket_url("10.0.0.5:1".parse().unwrap(), true),
            "wss://10.0.0.5:1/ws"
        );
    }
}
