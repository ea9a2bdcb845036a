//! The WebSocket side of `magnetar remote`: connect (with the token, and for `wss://` either the
//! system's trust roots or a pinned certificate fingerprint), send one request at a time, and
//! read its answer, or the events, with deadlines so that a script never hangs.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// How long connecting, and each request, may take.
const DEADLINE: Duration = Duration::from_secs(15);

/// Why a command failed, and the exit code it earns.
#[derive(Debug)]
pub enum Failure {
    /// 1: the API answered with an error.
    Api(i64, String),
    /// 2: the command line asks for something unsafe or impossible.
    Usage(String),
    /// 3: cannot connect, or not authorized.
    Connect(String),
}

pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Client {
    pub async fn connect(
        url: &str,
        token: Option<&str>,
        fingerprint: Option<&str>,
    ) -> Result<Client, Failure> {
        let mut request = url
            .into_client_request()
            .map_err(|e| Failure::Connect(format!("bad URL {url:?}: {e}")))?;
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Failure::Connect("the token has characters a header cannot carry".into())
            })?;
            request.headers_mut().insert("Authorization", value);
        }
        let connector = match fingerprint {
            Some(fingerprint) => {
                let pin = crate::tls::parse_fingerprint(fingerprint)
                    .map_err(|e| Failure::Connect(e.to_string()))?;
                let config = crate::tls::pinned_client_config(pin)
                    .map_err(|e| Failure::Connect(e.to_string()))?;
                Some(Connector::Rustls(Arc::new(config)))
            }
            None => None,
        };
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector);
        let (socket, _) = tokio::time::timeout(DEADLINE, connecting)
            .await
            .map_err(|_| {
                Failure::Connect(format!(
                    "cannot connect to {url}: no answer in {DEADLINE:?}"
                ))
            })?
            .map_err(|e| Failure::Connect(format!("cannot connect to {url}: {e}")))?;
        Ok(Client { socket, next_id: 1 })
    }

    /// Calls `method`; its result, or the API's error.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        let id = format!("remote-{}", self.next_id);
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(Message::Text(request.into()))
            .await
            .map_err(|e| Failure::Connect(format!("the connection broke: {e}")))?;
        loop {
            let message = tokio::time::timeout(DEADLINE, self.next())
                .await
                .map_err(|_| {
                    Failure::Connect(format!("no answer to {method} in {DEADLINE:?}"))
                })??;
            if message.get("name").is_some() || message["id"] != json!(id) {
                continue;
            }
            let code = message["error"].as_i64().unwrap_or(-7);
            if code == 0 {
                return Ok(message["result"].clone());
            }
            let text = message["message"].as_str().unwrap_or("").to_owned();
            return Err(if code == -6 {
                Failure::Connect(text)
            } else {
                Failure::Api(code, text)
            });
        }
    }

    /// The next message (a response or an event).
    pub async fn next(&mut self) -> Result<Value, Failure> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text)
                        .map_err(|e| Failure::Connect(format!("the server sent bad JSON: {e}")));
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(Failure::Connect(format!(
                        "the server closed the connection {why}"
                    )));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(Failure::Connect(format!("the connection broke: {e}"))),
                None => return Err(Failure::Connect("the server closed the connection".into())),
            }
        }
    }
}
