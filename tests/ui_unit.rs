//! The web UI's own logic, unit-tested with Node's test runner (`node --test tests/ui/`): the
//! store, formatting and the two languages, the file tree and its merged choices, bulk actions,
//! and the connection's keep-alive and back-off with a fake socket and a fake clock. Run here so
//! that the README's test command (`cargo test`, through scripts/test.sh) runs them too.

use std::process::Command;

#[test]
fn the_ui_modules_pass_their_node_unit_tests() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("node")
        .args(["--test", "tests/ui/"])
        .current_dir(root)
        .output()
        .expect("node runs (scripts/setup.sh installs Node.js with the build packages)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("# pass") || line.starts_with("# fail"))
        .collect();
    assert!(
        output.status.success(),
        "node --test tests/ui/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A run that found no test file passes too: make sure the tests ran.
    let passed: usize = summary
        .iter()
        .find_map(|line| line.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(passed >= 30, "only {passed} UI unit tests ran:\n{stdout}");
    println!("{}", summary.join("\n"));
}
