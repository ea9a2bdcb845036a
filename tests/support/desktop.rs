//! The real desktop binary in a real window: `dbus-run-session -- xvfb-run -a magnetar …` with
//! a session bus and an X server of its own, and two small fakes on that bus standing in for a
//! desktop's panel: a StatusNotifierWatcher (where the tray registers) and a notification daemon
//! (which records every `Notify`). Through the registered tray item the test reads the tray menu
//! and clicks its items over `com.canonical.dbusmenu`, exactly as a panel does.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::support::peers::require;
use crate::support::PATIENCE;
use std::os::unix::process::CommandExt;

/// Sends a window `WM_DELETE_WINDOW`, as a window manager does (Debian's python3-xlib). It ends
/// with a round trip (`sync`), not a mere `flush`: a client that exits right after flushing its
/// request had it dropped now and then on a loaded machine, and the window never heard of it.
const CLOSE_WINDOW: &str = "
import sys
from Xlib import display, X, protocol
d = display.Display()
w = d.create_resource_object('window', int(sys.argv[1]))
kind, delete = d.intern_atom('WM_PROTOCOLS'), d.intern_atom('WM_DELETE_WINDOW')
w.send_event(protocol.event.ClientMessage(window=w, client_type=kind,
             data=(32, [delete, X.CurrentTime, 0, 0, 0])), event_mask=0)
d.sync()
";

/// A notification the fake daemon received.
#[derive(Debug, Clone)]
pub struct Notice {
    pub app_name: String,
    pub icon: String,
    pub summary: String,
    pub body: String,
}

#[derive(Default)]
struct Recorded {
    /// (sender's unique name, the service argument) of each RegisterStatusNotifierItem.
    tray_items: Vec<(String, String)>,
    notices: Vec<Notice>,
}

struct Watcher(Arc<Mutex<Recorded>>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        self.0.lock().unwrap().tray_items.push((sender, service));
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        let recorded = self.0.lock().unwrap();
        recorded.tray_items.iter().map(|(_, s)| s.clone()).collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

struct Notifications(Arc<Mutex<Recorded>>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut recorded = self.0.lock().unwrap();
        recorded.notices.push(Notice {
            app_name,
            icon: app_icon,
            summary,
            body,
        });
        recorded.notices.len() as u32
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "icon-static".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "fake".into(),
            "magnetar-tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

/// A dbusmenu layout node: `(ia{sv}av)`, its id, properties and children (variants of nodes).
type LayoutNode = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// One item of the tray menu, as a panel sees it.
#[derive(Debug, Clone)]
pub struct MenuEntry {
    pub id: i32,
    pub label: String,
    pub enabled: bool,
    pub separator: bool,
}

/// The desktop app under Xvfb and its own session bus.
pub struct Desktop {
    child: Group,
    /// Kept open: the wrapper waits on it until the fakes are on the bus.
    _stdin: ChildStdin,
    pub display: String,
    pub xauthority: String,
    pub bus_address: String,
    pub data_dir: PathBuf,
    pub download_dir: PathBuf,
    /// Where the fake `xdg-open` (first on the app's PATH) writes each path it is asked to
    /// open, one per line: the file manager a user's desktop would show.
    pub opened: PathBuf,
    /// The API's URL, from the "engine and API ready" log line.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    recorded: Arc<Mutex<Recorded>>,
    bus: zbus::Connection,
    _fakes: Vec<zbus::Connection>,
}

/// The flags every desktop run in the tests gets: loopback, port 0, DHT, UPnP and LSD off.
pub fn desktop_flags(data_dir: &Path, download_dir: &Path) -> Vec<String> {
    let mut flags: Vec<String> = ["--listen", "127.0.0.1:0", "--peer-port", "0"]
        .iter()
        .chain(&["--no-dht", "--no-upnp", "--no-lsd"])
        .map(|s| s.to_string())
        .collect();
    flags.extend(["--data-dir".into(), data_dir.display().to_string()]);
    flags.extend(["--download-dir".into(), download_dir.display().to_string()]);
    flags
}

impl Desktop {
    /// Starts `magnetar` (no subcommand) in `root/data`, `root/downloads`.
    pub async fn start(root: &Path) -> Desktop {
        Self::start_with(root, false).await
    }

    /// Like [`start`], and with `without_tray`, on a system where libayatana-appindicator
    /// cannot be loaded: in a mount namespace of its own, /dev/null is bound over the library
    /// files (root and util-linux's unshare needed).
    pub async fn start_with(root: &Path, without_tray: bool) -> Desktop {
        for program in [
            "dbus-run-session",
            "xvfb-run",
            "xauth",
            "import",
            "xdotool",
            "xclip",
        ] {
            require(program);
        }
        let data_dir = root.join("data");
        let download_dir = root.join("downloads");
        let fake_bin = root.join("fake-bin");
        let opened = root.join("opened.txt");
        std::fs::create_dir_all(&fake_bin).unwrap();
        let xdg_open = fake_bin.join("xdg-open");
        std::fs::write(
            &xdg_open,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n",
                opened.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &xdg_open,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            fake_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // The wrapper prints where its bus and display are, then waits for a line on stdin so
        // that the fakes are on the bus before Magnetar looks for them.
        let wrapper = r#"printf 'ENV %s|%s|%s\n' "$DBUS_SESSION_BUS_ADDRESS" "$DISPLAY" "$XAUTHORITY"; read go; exec "$@""#;
        let mut command = if without_tray {
            require("unshare");
            let hide = "for lib in /usr/lib/*/lib*appindicator3.so*; do \
                        mount --bind /dev/null \"$lib\" || exit 1; done; exec \"$@\"";
            let mut command = Command::new("unshare");
            command.args(["--mount", "--", "sh", "-c", hide, "sh", "dbus-run-session"]);
            command
        } else {
            Command::new("dbus-run-session")
        };
        let mut child = command
            .args([
                "--",
                "xvfb-run",
                "-a",
                "-s",
                "-screen 0 1280x800x24 -nolisten tcp -ac",
            ])
            .args(["sh", "-c", wrapper, "sh", env!("CARGO_BIN_EXE_magnetar")])
            .args(desktop_flags(&data_dir, &download_dir))
            .env("PATH", path)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("NO_AT_BRIDGE", "1")
            .env(
                "MAGNETAR_LOG",
                "info,librqbit=warn,magnetar::server::connection=debug",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map(Group)
            .expect("dbus-run-session starts");
        let stdout = BufReader::new(child.0.stdout.take().unwrap());
        let (line, _) = crate::support::read_line_within(stdout);
        let env = line
            .trim()
            .strip_prefix("ENV ")
            .unwrap_or_else(|| panic!("{line}"));
        let mut parts = env.split('|').map(str::to_owned);
        let (bus_address, display, xauthority) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );

        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let watcher = zbus::connection::Builder::address(bus_address.as_str())
            .unwrap()
            .name("org.kde.StatusNotifierWatcher")
            .unwrap()
            .serve_at("/StatusNotifierWatcher", Watcher(recorded.clone()))
            .unwrap()
            .build()
            .await
            .expect("the fake StatusNotifierWatcher is on the bus");
        let notifications = zbus::connection::Builder::address(bus_address.as_str())
            .unwrap()
            .name("org.freedesktop.Notifications")
            .unwrap()
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications(recorded.clone()),
            )
            .unwrap()
            .build()
            .await
            .expect("the fake notification daemon is on the bus");
        let bus = zbus::connection::Builder::address(bus_address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();

        let mut stdin = child.0.stdin.take().unwrap();
        writeln!(stdin, "go").unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.0.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[desktop] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        let mut desktop = Desktop {
            child,
            _stdin: stdin,
            display,
            xauthority,
            bus_address,
            data_dir,
            download_dir,
            opened,
            url: String::new(),
            log,
            recorded,
            bus,
            _fakes: vec![watcher, notifications],
        };
        let ready = desktop.wait_log("engine and API ready").await;
        desktop.url = ready
            .split("url=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|url| url.trim_end_matches("\u{1b}[0m").to_owned())
            .unwrap_or_else(|| panic!("no url in {ready:?}"));
        desktop
    }

    /// Waits for a log line containing `needle` (colour codes stripped); returns it.
    pub async fn wait_log(&self, needle: &str) -> String {
        crate::support::poll_until(
            &format!("a log line with {needle:?}"),
            PATIENCE,
            Duration::from_millis(100),
            async || {
                let log = self.log.lock().unwrap();
                let found = log.iter().find(|l| plain(l).contains(needle));
                found.map(|line| plain(line)).ok_or("none")
            },
        )
        .await
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().map(|l| plain(l)).collect()
    }

    /// A command that runs in this desktop's session (display and bus).
    pub fn in_session(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("DISPLAY", &self.display)
            .env("XAUTHORITY", &self.xauthority)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("NO_AT_BRIDGE", "1");
        command
    }

    /// A second `magnetar` launch in this session with the same folders, from `cwd`.
    pub fn second_launch(&self, cwd: &Path, links: &[&str]) -> ExitStatus {
        let mut child = self
            .in_session(env!("CARGO_BIN_EXE_magnetar"))
            .args(desktop_flags(&self.data_dir, &self.download_dir))
            .args(links)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .spawn()
            .map(crate::support::peers::ChildGuard)
            .expect("a second magnetar starts");
        wait_child(&mut child.0, PATIENCE).expect("the second launch exits")
    }

    /// Saves a screenshot of the whole screen.
    pub fn screenshot(&self, path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let status = self
            .in_session("import")
            .args(["-window", "root"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "import failed");
    }

    /// Is the main window mapped (visible)?
    pub fn window_visible(&self) -> bool {
        let out = self
            .in_session("xdotool")
            .args(["search", "--onlyvisible", "--name", "^Magnetar$"])
            .output()
            .unwrap();
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    }

    /// Asks the main window to close, as a window manager does for the title bar's ×
    /// (a `WM_DELETE_WINDOW` client message; Xvfb runs no window manager).
    pub fn request_close(&self) {
        let out = self
            .in_session("xdotool")
            .args(["search", "--onlyvisible", "--name", "^Magnetar$"])
            .output()
            .unwrap();
        let ids = String::from_utf8_lossy(&out.stdout).to_string();
        let window = ids.split_whitespace().next().expect("a visible window");
        let status = self
            .in_session("/usr/bin/python3")
            .args(["-c", CLOSE_WINDOW, window])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "python3-xlib could not send WM_DELETE_WINDOW"
        );
    }

    /// Puts `text` on the session's CLIPBOARD (xclip keeps serving it in the background), and
    /// waits until the clipboard really gives it back: xclip returns before the X server has
    /// necessarily seen it claim the selection, and a loaded machine then let the app read the
    /// previous text (a second add of the same magnet instead of the new one).
    pub fn set_clipboard(&self, text: &str) {
        let mut xclip = self
            .in_session("xclip")
            .args(["-selection", "clipboard", "-in"])
            .stdin(Stdio::piped())
            .spawn()
            .map(crate::support::peers::ChildGuard)
            .expect("xclip runs");
        xclip
            .0
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(xclip.0.wait().unwrap().success(), "xclip failed");
        crate::support::poll_until_blocking(
            &format!("the clipboard holding {text:?}"),
            PATIENCE,
            Duration::from_millis(50),
            || {
                let out = self
                    .in_session("xclip")
                    .args(["-selection", "clipboard", "-out"])
                    .output()
                    .expect("xclip runs");
                if out.stdout == text.as_bytes() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&out.stdout).into_owned())
                }
            },
        )
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }

    /// The notifications received so far.
    pub fn notices(&self) -> Vec<Notice> {
        self.recorded.lock().unwrap().notices.clone()
    }

    /// Waits for a notification that `matches`.
    pub async fn wait_notice(&self, matches: impl Fn(&Notice) -> bool) -> Notice {
        crate::support::poll_until(
            "such a notification",
            PATIENCE,
            Duration::from_millis(100),
            async || {
                let notices = self.notices();
                match notices.iter().find(|n| matches(n)) {
                    Some(notice) => Ok(notice.clone()),
                    None => Err(format!("{notices:?}")),
                }
            },
        )
        .await
    }

    /// Waits until the tray registered with the watcher; returns (bus name, item path).
    pub async fn wait_tray_item(&self) -> (String, String) {
        let (sender, service) = crate::support::poll_until(
            "the tray registering with the watcher",
            PATIENCE,
            Duration::from_millis(100),
            async || {
                let first = self.recorded.lock().unwrap().tray_items.first().cloned();
                first.ok_or("not yet")
            },
        )
        .await;
        if service.starts_with('/') {
            (sender, service)
        } else {
            (service, "/StatusNotifierItem".to_owned())
        }
    }

    /// The tray's menu, read over dbusmenu as a panel reads it.
    pub async fn tray_menu(&self) -> Vec<MenuEntry> {
        let (name, menu_path) = self.menu_address().await;
        let reply = self
            .bus
            .call_method(
                Some(name.as_str()),
                menu_path.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .expect("GetLayout");
        let (_revision, root): (u32, LayoutNode) = reply.body().deserialize().unwrap();
        let mut entries = Vec::new();
        for child in &root.2 {
            collect_entries(child, &mut entries);
        }
        entries
    }

    /// Clicks a tray menu item, as a panel does.
    pub async fn click_tray(&self, label: &str) {
        let entry = self
            .tray_menu()
            .await
            .into_iter()
            .find(|e| e.label == label)
            .unwrap_or_else(|| panic!("no tray item {label:?}"));
        let (name, menu_path) = self.menu_address().await;
        self.bus
            .call_method(
                Some(name.as_str()),
                menu_path.as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(entry.id, "clicked", Value::from(0i32), 0u32),
            )
            .await
            .expect("dbusmenu Event");
    }

    async fn menu_address(&self) -> (String, String) {
        let (name, item_path) = self.wait_tray_item().await;
        let properties = zbus::fdo::PropertiesProxy::builder(&self.bus)
            .destination(name.clone())
            .unwrap()
            .path(item_path)
            .unwrap()
            .build()
            .await
            .unwrap();
        let menu = properties
            .get("org.kde.StatusNotifierItem".try_into().unwrap(), "Menu")
            .await
            .expect("the tray item has a Menu");
        let menu: OwnedObjectPath = menu.try_into().unwrap();
        (name, menu.to_string())
    }

    /// Waits for the process to end (after Quit); its exit status.
    pub fn wait_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child.0, patience)
    }
}

/// The desktop session's process group (dbus-run-session, xvfb-run, Xvfb, the bus and
/// Magnetar), killed whole when dropped: held from the moment it is spawned.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0.id())])
                .status();
            let _ = self.0.wait();
        }
    }
}

/// The child's exit status, or `None` if it still runs after `patience`.
fn wait_child(child: &mut Child, patience: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + patience;
    crate::support::poll_until_blocking(
        "the child's exit",
        patience + Duration::from_secs(1),
        Duration::from_millis(50),
        || match child.try_wait() {
            Ok(Some(status)) => Ok(Some(status)),
            _ if Instant::now() > deadline => Ok(None),
            _ => Err("still running"),
        },
    )
}

/// One dbusmenu layout node `(ia{sv}av)` (wrapped in a variant) into entries, depth first.
fn collect_entries(node: &Value<'_>, entries: &mut Vec<MenuEntry>) {
    let node = match node {
        Value::Value(inner) => inner.as_ref(),
        other => other,
    };
    let Value::Structure(structure) = node else {
        return;
    };
    let fields = structure.fields();
    let id = match fields.first() {
        Some(Value::I32(id)) => *id,
        _ => return,
    };
    let mut entry = MenuEntry {
        id,
        label: String::new(),
        enabled: true,
        separator: false,
    };
    if let Some(Value::Dict(props)) = fields.get(1) {
        if let Ok(Some(label)) = props.get::<&str, String>(&"label") {
            entry.label = label.replace('_', "");
        }
        if let Ok(Some(enabled)) = props.get::<&str, bool>(&"enabled") {
            entry.enabled = enabled;
        }
        if let Ok(Some(kind)) = props.get::<&str, String>(&"type") {
            entry.separator = kind == "separator";
        }
    }
    entries.push(entry);
    if let Some(Value::Array(children)) = fields.get(2) {
        for child in children.iter() {
            collect_entries(child, entries);
        }
    }
}

/// A log line without its ANSI colour codes.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
