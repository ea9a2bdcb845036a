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
    /// chromedriver's port on 127.0.0.1 (for its Chrome DevTools endpoint, see [`Browser::cdp`]).
    driver_port: u16,
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
        Browser::start_with(width, height, None).await
    }

    /// Like [`Browser::start`], with the browser's language set to `lang` (e.g. "de"): chromium
    /// takes `navigator.language` from `--lang` and from `LANGUAGE` (set on chromedriver, whose
    /// environment chromium inherits), and sends it as Accept-Language.
    pub async fn start_with(width: u32, height: u32, lang: Option<&str>) -> Browser {
        require("chromedriver");
        require("chromium");
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some(lang) = lang {
            command
                .env("LANGUAGE", lang)
                .env("LANG", format!("{lang}.UTF-8"));
        }
        let driver = DriverGroup(command.spawn().expect("chromedriver starts"));
        wait_for_port(port);
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            json!("--headless"),
            json!("--no-sandbox"),
            json!("--disable-gpu"),
            json!("--disable-quic"),
            // Straight to the test's server: no proxy settings or auto-detection in the way
            // (a page on a namespace's 10.x address is not loopback, which proxies skip).
            json!("--no-proxy-server"),
            json!("--no-first-run"),
            json!("--disable-background-networking"),
            json!("--disable-component-update"),
            json!("--disable-sync"),
            json!("--disable-dev-shm-usage"),
            json!(format!("--user-data-dir={}", profile.path().display())),
            json!(format!("--window-size={width},{height}")),
        ];
        let mut options = json!({"binary": "/usr/bin/chromium"});
        if let Some(lang) = lang {
            args.push(json!(format!("--lang={lang}")));
            options["prefs"] = json!({"intl": {"accept_languages": lang}});
        }
        options["args"] = Value::Array(args);
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Browser {
            client,
            driver_port: port,
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
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let value = self.js(&format!("return ({condition});")).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                let shot = self.screenshot("failed-wait").await;
                let report = self.report().await;
                panic!(
                    "the page's {condition}: not within {patience:?}; the last look saw: \
                     {value}\nthe page then: {report}\nscreenshot: {}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What a failed wait needs to be understood: the page's address and load state, the
    /// connection indicator, whether the app's modules ran, which dialogs are open, and every
    /// resource the page fetched with its HTTP status (a module that failed to load stops the
    /// whole app).
    pub async fn report(&self) -> Value {
        let script = "const c = document.getElementById('connection');
            return {
              url: location.href,
              readyState: document.readyState,
              connection: c ? { state: c.dataset.state, text: c.textContent } : null,
              app: typeof window.magnetar,
              openDialogs: [...document.querySelectorAll('dialog[open]')].map(d => d.id),
              resources: performance.getEntriesByType('resource')
                .map(r => `${r.name} ${r.responseStatus ?? '?'} ${Math.round(r.duration)} ms`),
            };";
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| json!(format!("the page cannot be read: {e}")))
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

/// WebDriver key codes for [`Browser::key`] and [`Browser::chord`] (a plain character is itself).
pub mod keys {
    pub const TAB: char = '\u{E004}';
    pub const ENTER: char = '\u{E007}';
    pub const SHIFT: char = '\u{E008}';
    pub const CONTROL: char = '\u{E009}';
    pub const ESCAPE: char = '\u{E00C}';
    pub const SPACE: char = '\u{E00D}';
    pub const END: char = '\u{E010}';
    pub const HOME: char = '\u{E011}';
    pub const ARROW_LEFT: char = '\u{E012}';
    pub const ARROW_UP: char = '\u{E013}';
    pub const ARROW_RIGHT: char = '\u{E014}';
    pub const ARROW_DOWN: char = '\u{E015}';
    pub const DELETE: char = '\u{E017}';
    pub const F10: char = '\u{E03A}';
}

/// The keyboard, the accessibility checker and the theme: what the accessibility tests use.
impl Browser {
    /// Presses and releases one key (a character or a [`keys`] code) where the focus is, as a
    /// real keyboard does (WebDriver actions: keydown, keypress, keyup on the active element).
    pub async fn key(&self, key: char) {
        self.chord(&[key]).await;
    }

    /// Presses the keys in order and releases them in reverse: a chord such as
    /// `[keys::SHIFT, keys::F10]` or `[keys::CONTROL, 'a']`.
    pub async fn chord(&self, chord: &[char]) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".into());
        for &value in chord {
            actions = actions.then(KeyAction::Down { value });
        }
        for &value in chord.iter().rev() {
            actions = actions.then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("cannot press {chord:?}: {e}"));
        self.client.release_actions().await.expect("keys released");
    }

    /// Presses `key` `times` times.
    pub async fn keys(&self, key: char, times: usize) {
        for _ in 0..times {
            self.key(key).await;
        }
    }

    /// The active element, described for a failure message: tag, id, role and classes.
    pub async fn focused(&self) -> String {
        self.js(
            "const e = document.activeElement; if (!e) return 'nothing'; \
             return `${e.tagName.toLowerCase()}#${e.id}[role=${e.getAttribute('role')}]\
             .${[...e.classList].join('.')}`;",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver's own endpoint
    /// (`POST /session/{id}/goog/cdp/execute`), which fantoccini does not expose; its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let session = self.client.session_id().await.unwrap().expect("a session");
        let body = json!({"cmd": cmd, "params": params}).to_string();
        let request = format!(
            "POST /session/{session}/goog/cdp/execute HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.driver_port,
            body.len()
        );
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.driver_port))
            .await
            .expect("chromedriver answers");
        tcp.write_all(request.as_bytes()).await.unwrap();
        // chromedriver keeps the connection open: read the head, then Content-Length bytes.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        let read = async {
            loop {
                let n = tcp.read(&mut chunk).await.unwrap();
                answer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&answer).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length || n == 0 {
                        return text;
                    }
                } else if n == 0 {
                    return text;
                }
            }
        };
        let answer = tokio::time::timeout(super::PATIENCE, read)
            .await
            .unwrap_or_else(|_| panic!("{cmd}: chromedriver did not answer"));
        let (_, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
        let value: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{cmd}: chromedriver answered {answer:?} ({e})"));
        assert!(
            value["value"].get("error").is_none(),
            "{cmd} failed: {value}"
        );
        value["value"].clone()
    }

    /// Makes the page's viewport exactly `width` x `height` CSS pixels, as a phone's (touch,
    /// mobile): a headless chromium's window is never narrower than 500 px, whatever
    /// `--window-size` asks.
    pub async fn phone_viewport(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await;
        self.cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 1}),
        )
        .await;
    }

    /// Emulates the system's colour scheme (`prefers-color-scheme`: "dark" or "light") for the
    /// page, as a user's desktop setting would: what a UI's "auto" theme follows.
    pub async fn prefer_color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Switches the UI's theme select `#theme` to `theme` (auto, light or dark) and waits for
    /// `html[data-theme]` to follow; false (and nothing done) when the page has no such select.
    pub async fn theme(&self, theme: &str) -> bool {
        let found = self
            .js(&format!(
                "const select = document.getElementById('theme'); if (!select) return false; \
                 select.value = {theme:?}; \
                 select.dispatchEvent(new Event('input', {{bubbles: true}})); \
                 select.dispatchEvent(new Event('change', {{bubbles: true}})); return true;"
            ))
            .await;
        if found != json!(true) {
            return false;
        }
        if theme != "auto" {
            self.wait_until(
                &format!("document.documentElement.dataset.theme === {theme:?}"),
                super::PATIENCE,
            )
            .await;
        }
        true
    }

    /// Runs axe-core (WCAG 2.0/2.1 A and AA rules) on the page, or on the elements matching
    /// `context_css`, and returns its violations, each as {id, impact, help, nodes (a count),
    /// targets and failures (the first few nodes')}. axe.min.js comes from npm (package.json).
    pub async fn axe(&self, context_css: Option<&str>) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no {} ({e}): run scripts/setup.sh (npm ci) to install axe-core",
                path.display()
            )
        });
        // Through WebDriver, not a <script> element: the page's CSP allows no inline script.
        let loaded = self
            .js(&format!(
                "if (!window.axe) {{ {source}\n}} return typeof window.axe;"
            ))
            .await;
        assert_eq!(loaded, json!("object"), "axe-core did not load");
        let context = match context_css {
            Some(css) => format!("{{include: [{css:?}]}}"),
            None => "document".to_owned(),
        };
        let script = format!(
            "const done = arguments[arguments.length - 1];
             axe.run({context}, {{
               runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}},
               resultTypes: ['violations'],
             }}).then((results) => done(results.violations.map((v) => ({{
               id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
               targets: v.nodes.slice(0, 4).map((n) => n.target.join(' ')),
               failures: v.nodes.slice(0, 2).map((n) => n.failureSummary),
             }}))), (error) => done({{error: String(error)}}));"
        );
        let result = self
            .client
            .execute_async(&script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("axe.run failed: {e}"));
        assert!(result.is_array(), "axe.run failed: {result}");
        result
    }
}

/// Prints `violations` (from [`Browser::axe`]) of the view `view` as a compact table, one line
/// per rule, with the first nodes and the first failure summary indented below.
pub fn print_violations(view: &str, violations: &Value) {
    let list = violations.as_array().map(Vec::as_slice).unwrap_or_default();
    eprintln!("axe: {view}: {} violation(s)", list.len());
    for v in list {
        eprintln!(
            "  {:<10} {:<32} {:>3} node(s)  {}",
            v["impact"].as_str().unwrap_or("?"),
            v["id"].as_str().unwrap_or("?"),
            v["nodes"],
            v["help"].as_str().unwrap_or(""),
        );
        for target in v["targets"].as_array().into_iter().flatten() {
            eprintln!("      at {}", target.as_str().unwrap_or("?"));
        }
        if let Some(failure) = v["failures"][0].as_str() {
            for line in failure.lines().take(4) {
                eprintln!("      | {line}");
            }
        }
    }
}

/// A CSS selector for the table row of task `id`.
pub fn row(id: &str) -> String {
    format!(".row[data-id='{id}']")
}
