//! What the push costs a client: the bytes per second of `task.updated` that one client
//! receives while a few of the session's tasks really download (from a second Magnetar, slowed
//! by a download limit so that they stay active through the measure) and the rest sit still.
//! An update carries only the tasks whose numbers changed, so the cost follows the active tasks,
//! not the session's size.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::download::write_random;
use crate::procs::WorkDir;
use crate::ws::{Server, Ws};

/// Each active task's payload.
const PAYLOAD_BYTES: u64 = 8 << 20;
/// The download limit per active task.
const BYTES_PER_SECOND_EACH: u64 = 64 << 10;

/// The figures of one measure.
pub struct Updates {
    pub bytes_per_second: f64,
    pub frames_per_second: f64,
    pub tasks_per_frame: f64,
}

/// Makes `active` tasks of the server at `url` download for real, listens for `seconds`, and
/// removes them again (with their data; the download limit is lifted).
pub async fn measure(
    work: &WorkDir,
    url: &str,
    active: usize,
    seconds: u64,
) -> anyhow::Result<Updates> {
    let seeder_root = work.fresh("updates-seeder");
    let downloads = seeder_root.join("downloads");
    std::fs::create_dir_all(&downloads)?;
    let mut torrents = Vec::new();
    for i in 0..active {
        let file = downloads.join(format!("active-{i:02}.bin"));
        write_random(&file, PAYLOAD_BYTES, 500 + i as u64)?;
        let torrent = work.0.join(format!("active-{i:02}.torrent"));
        let _ = std::fs::remove_file(&torrent);
        let status = Command::new("mktorrent")
            .args(["-l", "18", "-a", "http://127.0.0.1:9/announce", "-o"])
            .arg(&torrent)
            .arg(&file)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "mktorrent failed");
        torrents.push(std::fs::read(&torrent)?);
    }
    let seeder = Server::start(&seeder_root)?;
    let mut seeding = Ws::connect(&seeder.url).await?;
    let mut ids = Vec::new();
    for bytes in &torrents {
        let uri = base64::engine::general_purpose::STANDARD.encode(bytes);
        seeding
            .call("task.add", json!({"type": "torrent", "uri": uri}))
            .await?;
        ids.push(
            magnetar::engine::parse_torrent(bytes.clone())
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .id,
        );
    }
    for id in &ids {
        seeding.wait_state(id, 2).await?;
    }
    let info = seeding.call("session.info", Value::Null).await?;
    let peer = info["peer_listen_addresses"][0]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .ok_or_else(|| anyhow::anyhow!("the seeder has no peer port: {info}"))?
        .to_owned();

    let mut control = Ws::connect(url).await?;
    let limit = BYTES_PER_SECOND_EACH * active as u64;
    control
        .call("session.setLimits", json!({"download_bps": limit}))
        .await?;
    for id in &ids {
        let magnet = format!("magnet:?xt=urn:btih:{id}&x.pe=127.0.0.1:{peer}");
        control
            .call("task.add", json!({"type": "magnet", "uri": magnet}))
            .await?;
    }
    for id in &ids {
        control.wait_state(id, 1).await?;
    }

    let mut listener = Ws::connect(url).await?;
    let (mut bytes, mut frames, mut tasks) = (0usize, 0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while let Ok(text) = tokio::time::timeout_at(deadline.into(), listener.next_text()).await {
        let text = text?;
        if text.starts_with(r#"{"name":"task.updated""#) {
            bytes += text.len();
            frames += 1;
            let update: Value = serde_json::from_str(&text)?;
            tasks += update["data"]["tasks"].as_array().map_or(0, Vec::len);
        }
    }
    drop(listener);

    for id in &ids {
        control
            .call("task.remove", json!({"task_id": id, "delete_files": true}))
            .await?;
    }
    control
        .call("session.setLimits", json!({"download_bps": null}))
        .await?;
    seeder.stop()?;
    let seconds = seconds as f64;
    Ok(Updates {
        bytes_per_second: bytes as f64 / seconds,
        frames_per_second: frames as f64 / seconds,
        tasks_per_frame: if frames == 0 {
            0.0
        } else {
            tasks as f64 / frames as f64
        },
    })
}
