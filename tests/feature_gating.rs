//! `magnetar serve` must build on a server with no GUI libraries: without the default `desktop`
//! feature, no Tauri, GTK or WebKit crate may be in the dependency graph.

use std::process::Command;

#[test]
fn headless_build_has_no_gui_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--locked", "--no-default-features"])
        .args([
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    assert!(tree.contains("librqbit"), "unexpected tree: {tree}");
    let gui: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("");
            name.starts_with("tauri")
                || name.starts_with("gtk")
                || name.starts_with("webkit2gtk")
                || name.starts_with("wry")
                || name.starts_with("javascriptcore")
        })
        .collect();
    assert!(gui.is_empty(), "GUI crates in the headless build: {gui:?}");

    // And the default build does have the desktop shell.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8(output.stdout).unwrap();
    assert!(
        tree.lines().any(|l| l.starts_with("tauri ")),
        "no tauri in the default build"
    );
}
