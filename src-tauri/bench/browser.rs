//! The web UI's first full render in Debian's chromium (headless), driven over the DevTools
//! protocol with the WebSocket client the bench already has: how long after the navigation
//! starts the table first shows every task of the library.
//!
//! The page marks the frame in which it first drew the snapshot (`window.magnetarRenderedAt`,
//! milliseconds after navigation start, from `performance.now()`); "full" means the page's store
//! then holds all N tasks and the sidebar's "All" count says N.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::procs::{self, Guard};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a page may take to show a whole library.
const PATIENCE: Duration = Duration::from_secs(120);

/// A headless chromium with one page, driven over the DevTools protocol.
struct Chromium {
    _child: Guard,
    socket: Socket,
    session: String,
    next_id: u64,
}

impl Chromium {
    /// Starts chromium with a fresh profile in `profile` (None: chromium is not installed).
    async fn start(profile: &Path) -> anyhow::Result<Option<Chromium>> {
        let Some(program) = procs::find("chromium", &[]) else {
            return Ok(None);
        };
        let mut child = Command::new(program)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--window-size=1280,720",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("chromium's stderr")?;
        let child = Guard(child);
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let endpoint = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stderr).lines();
            let endpoint = lines.by_ref().map_while(Result::ok).find_map(|line| {
                line.strip_prefix("DevTools listening on ")
                    .map(|url| url.trim().to_owned())
            });
            // Keep reading, so that chromium never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            endpoint
        })
        .await?
        .context("chromium printed no DevTools address")?;
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str()).await?;
        let mut chromium = Chromium {
            _child: child,
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = chromium
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let attached = chromium
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await?;
        chromium.session = attached["sessionId"]
            .as_str()
            .context("no session id")?
            .to_owned();
        Ok(Some(chromium))
    }

    /// One DevTools call (on the page once attached), its result.
    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let mut request = json!({"id": self.next_id, "method": method, "params": params});
        if !self.session.is_empty() {
            request["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::Text(request.to_string().into()))
            .await?;
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await?
                .context("chromium closed the connection")??;
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text)?;
            if message["id"] == self.next_id {
                if let Some(error) = message.get("error") {
                    anyhow::bail!("{method}: {error}");
                }
                return Ok(message["result"].clone());
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await?;
        Ok(result["result"]["value"].clone())
    }
}

/// Milliseconds from the navigation's start to the first frame that showed the whole library
/// of `tasks` at `page` (None: no chromium here).
pub async fn first_full_render(
    page: &str,
    tasks: usize,
    profile: &Path,
) -> anyhow::Result<Option<f64>> {
    let Some(mut chromium) = Chromium::start(profile).await? else {
        return Ok(None);
    };
    chromium.call("Page.navigate", json!({"url": page})).await?;
    let started = Instant::now();
    loop {
        let seen = chromium
            .eval(
                "JSON.stringify([window.magnetarRenderedAt ?? null, \
                 window.magnetar?.store?.tasks?.size ?? 0, \
                 document.querySelector('[data-filter=all] .count')?.textContent ?? ''])",
            )
            .await?;
        let seen: Value = serde_json::from_str(seen.as_str().unwrap_or("[]"))?;
        let all_count: String = seen[2]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if let Some(rendered) = seen[0].as_f64() {
            anyhow::ensure!(
                seen[1].as_u64() == Some(tasks as u64) && all_count == tasks.to_string(),
                "the first render showed {} tasks (\"All {}\"), not {tasks}",
                seen[1],
                all_count
            );
            return Ok(Some(rendered));
        }
        anyhow::ensure!(
            started.elapsed() < PATIENCE,
            "the page showed no table in {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
