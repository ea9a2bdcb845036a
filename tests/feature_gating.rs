//! `magnetar serve` must build on a server with no GUI libraries: without the default `desktop`
//! feature, no Tauri, GTK or WebKit crate may be in the dependency graph.

use std::process::Command;

/// The package names in `cargo tree` with `args`, one per line.
fn cargo_tree(args: &[&str]) -> String {
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
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const GUI_CRATES: [&str; 5] = ["tauri", "gtk", "webkit2gtk", "wry", "javascriptcore"];

#[test]
fn headless_build_has_no_gui_dependencies() {
    let tree = cargo_tree(&["--no-default-features", "--edges", "normal,build"]);
    assert!(tree.contains("librqbit"), "unexpected tree: {tree}");
    let gui: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or("");
            GUI_CRATES.iter().any(|gui| name.starts_with(gui))
        })
        .collect();
    assert!(gui.is_empty(), "GUI crates in the headless build: {gui:?}");
}

#[test]
fn default_build_has_the_desktop_shell() {
    let tree = cargo_tree(&[]);
    assert!(
        tree.lines().any(|l| l.starts_with("tauri ")),
        "no tauri in the default build"
    );
}
