//! The `.deb`, as built by `scripts/build-deb.sh` (the README's `scripts/test.sh` builds it before
//! the suite; a test cannot run it itself, cargo holds the build folder's lock meanwhile): its
//! files, its control data, its desktop entry, and installing it on this machine.

#![cfg(feature = "desktop")]

use std::path::PathBuf;
use std::process::Command;

/// The newest package in `target/release/bundle/deb/`.
fn deb() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/bundle/deb");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop().unwrap_or_else(|| {
        panic!(
            "no .deb in {}: build it with `bash scripts/build-deb.sh` (scripts/test.sh does)",
            dir.display()
        )
    })
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_deb_holds_the_binary_the_icons_and_a_desktop_entry_that_passes_links() {
    let deb = deb();
    let files = output(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for needle in [
        "usr/bin/magnetar",
        "usr/share/applications/Magnetar.desktop",
        "usr/share/icons/hicolor/32x32/apps/magnetar.png",
        "usr/share/icons/hicolor/128x128/apps/magnetar.png",
        "usr/share/icons/hicolor/256x256@2/apps/magnetar.png",
    ] {
        assert!(
            files.contains(needle),
            "{needle} missing from the .deb:\n{files}"
        );
    }

    let info = output(Command::new("dpkg-deb").arg("-I").arg(&deb));
    let depends = info
        .lines()
        .find(|l| l.trim_start().starts_with("Depends:"))
        .unwrap_or_else(|| panic!("no Depends in\n{info}"));
    for library in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libayatana-appindicator3-1",
    ] {
        assert!(depends.contains(library), "{depends}");
    }
    assert!(info.contains("Package: magnetar"), "{info}");
    eprintln!("{depends}");

    let entry = output(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -xO usr/share/applications/Magnetar.desktop",
        deb.display()
    )));
    let line = |key: &str| {
        entry
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in\n{entry}"))
            .to_owned()
    };
    assert_eq!(line("Exec="), "Exec=magnetar %U");
    let mime = line("MimeType=");
    assert!(mime.contains("x-scheme-handler/magnet;"), "{mime}");
    assert!(mime.contains("application/x-bittorrent;"), "{mime}");
    let validate = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "dpkg-deb --fsys-tarfile '{}' | tar -xO usr/share/applications/Magnetar.desktop \
             > \"$TMPDIR/Magnetar.desktop\" && desktop-file-validate \"$TMPDIR/Magnetar.desktop\"",
            deb.display()
        ))
        .env("TMPDIR", tempfile::tempdir().unwrap().keep())
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "desktop-file-validate: {}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
}

/// Removes the package installed by a test (`dpkg -r magnetar`) when dropped.
struct Uninstall;

impl Drop for Uninstall {
    fn drop(&mut self) {
        let removed = Command::new("dpkg").args(["-r", "magnetar"]).output();
        match removed {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "dpkg -r magnetar failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("dpkg -r magnetar does not run: {e}"),
        }
    }
}

#[test]
fn installing_the_deb_makes_magnetar_the_handler_of_magnet_links_and_torrent_files() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // CI runs as root, so the test runs there.
        eprintln!("skipped: needs root (dpkg -i)");
        return;
    }
    let deb = deb();
    let installed_before = Command::new("dpkg")
        .args(["-s", "magnetar"])
        .output()
        .is_ok_and(|o| o.status.success());
    // Removed again however the test ends (a failed assertion included), unless it was
    // installed before the test.
    let _installed = (!installed_before).then_some(Uninstall);
    output(Command::new("dpkg").arg("-i").arg(&deb));

    // A user with no choices of their own: the system's defaults decide.
    let home = tempfile::tempdir().unwrap();
    let query = |mime: &str| {
        output(
            Command::new("xdg-mime")
                .args(["query", "default", mime])
                .env("HOME", home.path())
                .env("XDG_CONFIG_HOME", home.path().join(".config"))
                .env("XDG_DATA_HOME", home.path().join(".local/share"))
                .env_remove("XDG_CURRENT_DESKTOP"),
        )
        .trim()
        .to_owned()
    };
    let magnet = query("x-scheme-handler/magnet");
    let torrent = query("application/x-bittorrent");
    let version = output(Command::new("/usr/bin/magnetar").arg("--version"));
    assert_eq!(magnet, "Magnetar.desktop");
    assert_eq!(torrent, "Magnetar.desktop");
    assert!(version.starts_with("magnetar "), "{version}");
}
