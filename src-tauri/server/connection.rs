//! One WebSocket client: requests in, responses and events out, until either side closes or the
//! server shuts down.
//!
//! Requests are answered in order, one response each. Events come from the engine's broadcast
//! bus, whose fixed capacity is this client's whole queue: a client that falls behind is resynced
//! (a `session.resync` event with the full task list), and one that stops reading altogether is
//! dropped after [`SEND_TIMEOUT`]. Neither can slow the engine or other clients, nor grow memory.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::protocol::{ErrorCode, Event, Response};

/// How long one frame may take to go out before the client is considered gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Close code for a message over the size limit (RFC 6455 "message too big").
const CLOSE_TOO_BIG: u16 = 1009;

pub struct Connection {
    pub api: Api,
    /// False for a non-loopback client without a valid token: it gets `-6` for every request
    /// and no events.
    pub authorized: bool,
    pub cancel: CancellationToken,
    pub peer: SocketAddr,
}

/// Why the loop ended, and what to tell the client.
enum End {
    ClientClosed,
    Close(u16, &'static str),
    Gone,
}

impl Connection {
    pub async fn run(self, mut socket: WebSocket) {
        tracing::debug!(peer = %self.peer, authorized = self.authorized, "client connected");
        let end = self.serve(&mut socket).await;
        match end {
            End::Close(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                let _ =
                    tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame))))
                        .await;
            }
            End::ClientClosed | End::Gone => {}
        }
        tracing::debug!(peer = %self.peer, "client disconnected");
    }

    async fn serve(&self, socket: &mut WebSocket) -> End {
        let mut events = self.api.engine().subscribe();
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => {
                    return End::Close(close_code::AWAY, "server shutting down");
                }
                incoming = socket.recv() => {
                    let reply = match incoming {
                        Some(Ok(Message::Text(text))) => self.answer(&text).await,
                        Some(Ok(Message::Binary(_))) => {
                            return End::Close(close_code::UNSUPPORTED, "binary frames are not supported; send JSON text");
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_))) | None => return End::ClientClosed,
                        Some(Err(e)) => return classify_read_error(&e),
                    };
                    if !send_json(socket, &reply).await {
                        return End::Gone;
                    }
                }
                event = events.recv(), if self.authorized => {
                    let sent = match event {
                        // The JSON was serialized once when published; this is a shared view
                        // of it, checked as UTF-8 (a fast scan), never re-serialized.
                        Ok(published) => match Utf8Bytes::try_from(published.json) {
                            Ok(text) => send_text(socket, text).await,
                            Err(_) => true,
                        },
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(peer = %self.peer, missed, "slow client resynced");
                            events = events.resubscribe();
                            send_json(socket, &Event::Resync(self.api.engine().list())).await
                        }
                        Err(RecvError::Closed) => return End::Close(close_code::AWAY, "engine stopped"),
                    };
                    if !sent {
                        return End::Gone;
                    }
                }
            }
        }
    }

    async fn answer(&self, text: &str) -> Response {
        if self.authorized {
            return self.api.handle_text(text).await;
        }
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id").cloned())
            .filter(|id| id.is_string() || id.is_number())
            .unwrap_or(serde_json::Value::Null);
        Response::error(
            id,
            ErrorCode::Unauthorized,
            "unauthorized: clients from other machines must present the API token \
             (Authorization: Bearer TOKEN, or ?token=TOKEN in the URL)",
        )
    }
}

/// An oversized message closes with 1009; anything else means the connection is broken.
/// (axum hides tungstenite's error type, so its capacity error is recognized by its text.)
fn classify_read_error(error: &axum::Error) -> End {
    if error.to_string().contains("Message too long") {
        End::Close(CLOSE_TOO_BIG, "message too big")
    } else {
        tracing::debug!("websocket read error: {error}");
        End::Gone
    }
}

/// Sends one JSON text frame; false if the client is gone or too slow to take it.
async fn send_json<T: serde::Serialize>(socket: &mut WebSocket, value: &T) -> bool {
    let Ok(text) = serde_json::to_string(value) else {
        return false;
    };
    send_text(socket, text.into()).await
}

/// Sends one text frame; false if the client is gone or too slow to take it.
async fn send_text(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}
