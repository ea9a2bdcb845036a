//! A plain WebSocket client of Magnetar's API, and a `magnetar serve` child to talk to.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::procs::{magnetar_binary, Guard};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One API connection.
pub struct Ws {
    socket: Socket,
    next_id: u64,
}

impl Ws {
    pub async fn connect(url: &str) -> anyhow::Result<Ws> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Ws { socket, next_id: 0 })
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send(&mut self, method: &str, params: Value) -> anyhow::Result<u64> {
        self.next_id += 1;
        let request = json!({"id": self.next_id, "method": method, "params": params});
        self.socket
            .send(Message::Text(request.to_string().into()))
            .await?;
        Ok(self.next_id)
    }

    /// The next text frame, as JSON.
    pub async fn next(&mut self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.next_text().await?)?)
    }

    /// The next text frame, as it came.
    pub async fn next_text(&mut self) -> anyhow::Result<String> {
        loop {
            match self.socket.next().await.context("connection closed")?? {
                Message::Text(text) => return Ok(text.to_string()),
                Message::Close(_) => anyhow::bail!("connection closed"),
                _ => continue,
            }
        }
    }

    /// Calls a method and returns its result (events on the way are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.send(method, params).await?;
        loop {
            let mut message = self.next().await?;
            if message["id"] == id {
                anyhow::ensure!(message["error"] == 0, "{method}: {}", message["message"]);
                return Ok(message["result"].take());
            }
        }
    }

    /// Waits until `task_id` reaches `state`, by polling `task.list` every 50 ms.
    pub async fn wait_state(&mut self, task_id: &str, state: u64) -> anyhow::Result<()> {
        loop {
            let list = self.call("task.list", Value::Null).await?;
            let task = list
                .as_array()
                .and_then(|l| l.iter().find(|t| t["id"] == task_id).cloned())
                .context("the task is gone")?;
            if task["state"] == state {
                return Ok(());
            }
            anyhow::ensure!(task["state"] != 5, "the task failed: {}", task["error"]);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// `count` WebSocket clients of `url` that report each frame naming `event` (as a quoted
/// string), with the value of its first `"key":"…"` field and the moment it arrived. A client
/// scans the text and parses nothing: on two shared cores, 500 clients parsing every frame
/// would time the bench itself. Magnetar's and aria2's pushes are timed by the same clients.
pub async fn listeners(
    url: &str,
    count: usize,
    event: &'static str,
    key: &'static str,
) -> anyhow::Result<(
    Vec<tokio::task::JoinHandle<()>>,
    tokio::sync::mpsc::UnboundedReceiver<(String, Instant)>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let marker = format!("\"{event}\"");
    let field = format!("\"{key}\":\"");
    let mut clients = Vec::new();
    for _ in 0..count {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let (tx, marker, field) = (tx.clone(), marker.clone(), field.clone());
        clients.push(tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let at = Instant::now();
                if !text.contains(marker.as_str()) {
                    continue;
                }
                let value = text
                    .split_once(field.as_str())
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(value, _)| value.to_owned());
                if let Some(value) = value {
                    let _ = tx.send((value, at));
                }
            }
        }));
    }
    Ok((clients, rx))
}

/// A `magnetar serve` child on 127.0.0.1, DHT, UPnP and LSD off.
pub struct Server {
    pub child: Guard,
    pub url: String,
}

impl Server {
    pub fn start(root: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(magnetar_binary()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--peer-port", "0"])
            .args(["--no-dht", "--no-upnp", "--no-lsd", "--data-dir"])
            .arg(root.join("data"))
            .arg("--download-dir")
            .arg(root.join("downloads"))
            .env("MAGNETAR_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .with_context(|| format!("no URL in {line:?}"))?
            .to_owned();
        Ok(Server {
            child: Guard(child),
            url,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// SIGTERM, and wait for the graceful exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .arg(self.child.pid().to_string())
            .status()?;
        self.child.0.wait()?;
        Ok(())
    }
}
