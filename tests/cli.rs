//! The real binary's command line: a data folder in use is refused with a clear message, and the
//! API token never shows in `--help`.

mod support;

use std::io::BufReader;
use std::process::{Command, Stdio};

use support::peers::ChildGuard;

#[test]
fn a_data_dir_in_use_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut first = ChildGuard::spawn(
        support::serve_command(&data, &root.path().join("d1"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "the first magnetar serve",
    );
    let stdout = BufReader::new(first.0.stdout.take().unwrap());
    let (line, _stdout) = support::read_line_within(stdout);
    assert!(line.starts_with("Magnetar is ready"), "{line}");

    let second = support::serve_command(&data, &root.path().join("d2"))
        .output()
        .expect("second magnetar runs");
    assert!(!second.status.success());
    assert!(
        second.stdout.is_empty(),
        "no ready line from the refused one"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");
}

#[test]
fn the_token_from_the_environment_never_shows_in_help() {
    let output = Command::new(env!("CARGO_BIN_EXE_magnetar"))
        .args(["serve", "--help"])
        .env("MAGNETAR_TOKEN", "hunter2-very-secret")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--token"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}

/// With no display, the desktop app says so in one line and points to `magnetar serve`,
/// instead of a GTK panic.
#[cfg(feature = "desktop")]
#[test]
fn without_a_display_the_desktop_app_points_to_serve() {
    let root = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_magnetar"))
        .args(["--no-dht", "--no-upnp", "--no-lsd"])
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no display") && stderr.contains("magnetar serve"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
