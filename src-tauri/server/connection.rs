//! One WebSocket client: requests in, responses and events out, until either side closes or the
//! server shuts down.
//!
//! Two halves. The reader takes requests (one at a time: at most one request is in flight per
//! connection, answered in order) and events from the engine's bus, and queues what must go out.
//! The writer sends the queue. The queue is bounded in bytes ([`Connection::max_queue_bytes`]):
//! events that would overflow it are dropped and the client gets a `session.resync` (the whole
//! task list) once it has caught up; requests are not read while it is full. A client that stops
//! reading is dropped after [`SEND_TIMEOUT`]. Because the reader always drains the bus, a slow
//! client never holds the bus's events in memory, and event bytes are shared by every
//! connection, never copied.
//!
//! A client that is not authorized gets a connection of its own kind: no events, one `-6`
//! answer saying why, then a close; or a close after [`REFUSED_GRACE`] if it says nothing.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{Api, Caller};
use crate::protocol::{ErrorCode, Event, Response};

/// How long one frame may take to go out before the client is considered gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an unauthorized client may stay connected without saying anything.
const REFUSED_GRACE: Duration = Duration::from_secs(10);
/// Close code for a message over the size limit (RFC 6455 "message too big").
const CLOSE_TOO_BIG: u16 = 1009;
/// At most this many queued frames are written with one flush.
const BATCH_FRAMES: usize = 64;
/// How often a connection that fell behind checks whether its client has caught up.
const CATCH_UP_CHECK: Duration = Duration::from_millis(200);

/// Whether the client may use the API.
pub enum Standing {
    Allowed(Caller),
    /// Not authorized: the message says why (no token, wrong token, locked out).
    Refused(String),
}

pub struct Connection {
    pub api: Api,
    pub standing: Standing,
    pub cancel: CancellationToken,
    /// The client's address (after a trusted proxy's `X-Forwarded-For`).
    pub peer: IpAddr,
    /// Bytes that may wait to be sent to this client.
    pub max_queue_bytes: usize,
    /// The client's events, subscribed before its handshake was answered (an authorized
    /// client only): every event published after the client saw its connection open reaches
    /// it, even one published before this task first runs.
    pub events: Option<tokio::sync::broadcast::Receiver<crate::protocol::Published>>,
}

/// Why the loop ended, and what to tell the client.
enum End {
    ClientClosed,
    Close(u16, &'static str),
    Gone,
}

/// The queue to the writer, counted in bytes.
struct Outbox {
    tx: mpsc::UnboundedSender<Message>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl Outbox {
    /// Queues a frame whatever the count (responses and close frames are never dropped).
    fn push(&self, text: Utf8Bytes) -> bool {
        self.queued.fetch_add(text.len(), Ordering::AcqRel);
        self.tx.send(Message::Text(text)).is_ok()
    }

    /// Queues an event frame unless it would overflow the bound.
    fn offer(&self, text: Utf8Bytes) -> bool {
        if self.queued.load(Ordering::Acquire) + text.len() > self.limit {
            return false;
        }
        self.push(text)
    }

    fn full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= self.limit
    }

    fn empty(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0
    }
}

impl Connection {
    pub async fn run(mut self, socket: WebSocket) {
        let allowed = matches!(self.standing, Standing::Allowed(_));
        tracing::debug!(peer = %self.peer, allowed, "client connected");
        let (sink, stream) = socket.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer_gone = CancellationToken::new();
        let writer = tokio::spawn(write(sink, rx, queued.clone(), writer_gone.clone()));
        let outbox = Outbox {
            tx,
            queued,
            limit: self.max_queue_bytes,
        };
        let end = tokio::select! {
            end = self.serve(stream, &outbox) => end,
            _ = writer_gone.cancelled() => End::Gone,
        };
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = outbox.tx.send(Message::Close(Some(frame)));
        }
        drop(outbox);
        // The writer sends what is queued (the close frame last), bounded by its timeouts.
        let _ = writer.await;
        tracing::debug!(peer = %self.peer, "client disconnected");
    }

    async fn serve(&mut self, stream: SplitStream<WebSocket>, outbox: &Outbox) -> End {
        match &self.standing {
            Standing::Allowed(caller) => {
                let events = self.events.take().unwrap_or_else(|| self.api.subscribe());
                self.serve_allowed(caller, events, stream, outbox).await
            }
            Standing::Refused(why) => self.serve_refused(why, stream, outbox).await,
        }
    }

    async fn serve_allowed(
        &self,
        caller: &Caller,
        mut events: tokio::sync::broadcast::Receiver<crate::protocol::Published>,
        mut stream: SplitStream<WebSocket>,
        outbox: &Outbox,
    ) -> End {
        let mut behind = false;
        let mut catch_up = tokio::time::interval(CATCH_UP_CHECK);
        loop {
            // Events first: a client's own burst of requests (each publishing events) must
            // not push its event stream behind and into a resync.
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    return End::Close(close_code::AWAY, "server shutting down");
                }
                event = events.recv() => {
                    match event {
                        // The JSON was serialized once when published, and made a frame's
                        // payload once for every connection; this is a shared view of it,
                        // never re-serialized nor copied.
                        Ok(published) if !behind => {
                            if !outbox.offer(published.frame(|json: &str| Utf8Bytes::from(json))) {
                                tracing::warn!(peer = %self.peer, "slow client: events dropped, it will be resynced");
                                behind = true;
                            }
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(peer = %self.peer, missed, "slow client: events missed, it will be resynced");
                            behind = true;
                        }
                        Err(RecvError::Closed) => return End::Close(close_code::AWAY, "engine stopped"),
                    }
                }
                incoming = stream.next(), if !outbox.full() => {
                    let reply = match incoming {
                        Some(Ok(Message::Text(text))) => self.api.handle_text_as(caller, &text).await,
                        Some(Ok(Message::Binary(_))) => {
                            return End::Close(close_code::UNSUPPORTED, "binary frames are not supported; send JSON text");
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_))) | None => return End::ClientClosed,
                        Some(Err(e)) => return classify_read_error(&e),
                    };
                    if !outbox.push(reply.to_json_text().into()) {
                        return End::Gone;
                    }
                }
                _ = catch_up.tick(), if behind => {
                    if outbox.empty() {
                        behind = false;
                        let resync = Event::Resync(self.api.tasks());
                        if !outbox.push(to_text(&resync)) {
                            return End::Gone;
                        }
                    }
                }
            }
        }
    }

    /// One refusal, then the door: an unauthorized client gets no events and no slot from
    /// authorized clients, and cannot linger.
    async fn serve_refused(
        &self,
        why: &str,
        mut stream: SplitStream<WebSocket>,
        outbox: &Outbox,
    ) -> End {
        let deadline = tokio::time::sleep(REFUSED_GRACE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => {
                    return End::Close(close_code::AWAY, "server shutting down");
                }
                _ = &mut deadline => return End::Close(close_code::POLICY, "unauthorized"),
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let id = request_id(&text);
                        let refusal = Response::error(id, ErrorCode::Unauthorized, format!("unauthorized: {why}"));
                        outbox.push(to_text(&refusal));
                        return End::Close(close_code::POLICY, "unauthorized");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(_)) | None | Some(Err(_)) => return End::ClientClosed,
                },
            }
        }
    }
}

/// Sends what the reader queued, in order, until the queue closes or the client stops taking
/// frames for [`SEND_TIMEOUT`] (then `gone` fires and the reader stops too). Frames queued
/// together go out together: up to [`BATCH_FRAMES`] are buffered, then flushed with one write,
/// so a burst of events (a thousand adds) is not a thousand system calls per client.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    queued: Arc<AtomicUsize>,
    gone: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH_FRAMES);
    while rx.recv_many(&mut batch, BATCH_FRAMES).await > 0 {
        let bytes: usize = batch
            .iter()
            .map(|message| match message {
                Message::Text(text) => text.len(),
                _ => 0,
            })
            .sum();
        let closing = batch.iter().any(|m| matches!(m, Message::Close(_)));
        let frames = batch.drain(..);
        let sent = tokio::time::timeout(SEND_TIMEOUT, async {
            for message in frames {
                sink.feed(message).await?;
            }
            sink.flush().await
        })
        .await;
        queued.fetch_sub(bytes, Ordering::AcqRel);
        if !matches!(sent, Ok(Ok(()))) {
            gone.cancel();
            return;
        }
        if closing {
            return;
        }
    }
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.close()).await;
}

/// The `id` of a request from a client that is not authorized, to answer it, and nothing else:
/// the rest of the message is skipped, never built into a tree (the message is also capped at a
/// few KiB, see `REFUSED_MAX_MESSAGE_BYTES`).
fn request_id(text: &str) -> serde_json::Value {
    #[derive(serde::Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default)]
        id: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_str::<IdOnly>(text)
        .ok()
        .and_then(|request| request.id)
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
        .filter(|id| id.is_string() || id.is_number())
        .unwrap_or(serde_json::Value::Null)
}

/// A message as one JSON text frame.
fn to_text<T: serde::Serialize>(value: &T) -> Utf8Bytes {
    // Responses and events are plain data (strings, numbers): serializing cannot fail.
    serde_json::to_string(value).unwrap_or_default().into()
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

#[cfg(test)]
mod tests {
    use super::request_id;
    use serde_json::json;

    #[test]
    fn a_refused_request_gives_its_id_and_nothing_else() {
        assert_eq!(request_id(r#"{"id":"7","method":"x"}"#), json!("7"));
        assert_eq!(
            request_id(r#"{"method":"x","params":[1,2,{"a":[]}],"id":3}"#),
            json!(3)
        );
        assert_eq!(request_id(r#"{"id":{"nested":1}}"#), json!(null));
        assert_eq!(request_id(r#"{"id":[1]}"#), json!(null));
        assert_eq!(request_id("not json"), json!(null));
        assert_eq!(request_id("[1,2]"), json!(null));
    }
}
