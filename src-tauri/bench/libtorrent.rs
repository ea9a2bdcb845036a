//! libtorrent 2.0 (Debian's python3-libtorrent) as a leecher: the fastest engine measured here,
//! the one to close in on. A small Python script drives it: one session on loopback with DHT,
//! LSD, UPnP, NAT-PMP and uTP off, its peers from the local tracker, until every piece is
//! verified.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's interpreter: the module is installed for it, not for another python3 on PATH.
const PYTHON: &str = "/usr/bin/python3";

const LEECHER: &str = r#"
import sys, time
import libtorrent as lt

torrent, save_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = lt.session({
    "listen_interfaces": "127.0.0.1:%d" % port,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    # TCP, as every other peer here speaks: tried first, uTP towards a peer without it (aria2c,
    # librqbit) waits 3.5 s for a timeout before falling back.
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    # Every peer here is 127.0.0.1: by default libtorrent would take one connection per address.
    "allow_multiple_connections_per_ip": True,
    "alert_mask": 0,
})
handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
while not handle.status().is_seeding:
    if handle.status().errc.value():
        sys.exit("libtorrent: %s" % handle.status().errc.message())
    time.sleep(0.01)
session.pause()
del handle, session
"#;

/// Whether the module is there; installed with apt first when `install` and we are root.
pub fn available(install: bool) -> bool {
    let present = || {
        Command::new(PYTHON)
            .args(["-c", "import libtorrent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() || !install {
        return present();
    }
    eprintln!("installing python3-libtorrent with apt");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", "python3-libtorrent"])
        .stdout(Stdio::null())
        .status();
    present()
}

/// The command that downloads `torrent` into `dir`, listening on `port`; the script is written
/// beside the download folder.
pub fn command(dir: &Path, torrent: &Path, port: u16) -> anyhow::Result<Command> {
    let script: PathBuf = dir.with_extension("py");
    std::fs::write(&script, LEECHER)?;
    let mut command = Command::new(PYTHON);
    command
        .arg(&script)
        .arg(torrent)
        .arg(dir)
        .arg(port.to_string());
    Ok(command)
}
