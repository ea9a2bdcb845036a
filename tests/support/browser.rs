//! Debian's chromium, headless, driven through chromedriver (WebDriver) with fantoccini: the
//! web UI tested as a person uses it. All traffic stays on this machine: chromium runs with
//! background networking, sync and component updates off.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::peers::{free_port, require, wait_for_port};

pub struct Browser {
    pub client: Client,
    _driver: DriverGroup,
    _profile: tempfile::TempDir,
}

/// chromedriver in a process group of its own, with the chromium it starts: killing only the
/// driver left every chromium of every run behind (80 headless browsers after a few suites),
/// so the whole group goes.
struct DriverGroup(Child);

impl Drop for DriverGroup {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.0.id()) {
            // SAFETY: kill only sends a signal, to the group this test created.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

impl Browser {
    pub async fn start(width: u32, height: u32) -> Browser {
        require("chromedriver");
        require("chromium");
        let port = free_port();
        let driver = DriverGroup(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts"),
        );
        wait_for_port(port);
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Runs `script` (a function body with `arguments`) and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until the expression `condition` is truthy in the page; panics after `patience`.
    pub async fn wait_until(&self, condition: &str, patience: Duration) -> Value {
        super::poll_until(
            &format!("the page's {condition}"),
            patience,
            Duration::from_millis(100),
            async || {
                let value = self.js(&format!("return ({condition});")).await;
                let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                    && value != json!(0)
                    && value != json!("");
                if truthy {
                    Ok(value)
                } else {
                    Err(value)
                }
            },
        )
        .await
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// Saves a screenshot under `target/ui-screenshots/NAME.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// A CSS selector for the table row of task `id`.
pub fn row(id: &str) -> String {
    format!(".row[data-id='{id}']")
}
