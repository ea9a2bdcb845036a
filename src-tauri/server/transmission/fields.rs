//! One torrent of `torrent-get`, with the fields asked for (snake_case here; restyled by the
//! caller). Each field comes from the WebSocket API's task methods: `task.list`'s row,
//! `task.getMetadata`, `task.getStatus`, `task.getTrackers`, `task.setSeedGoal` (read with only
//! its task id). Only the methods that the asked fields need are called. Unknown field names
//! are left out, as Transmission does.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::methods::Context;
use super::torrents::{now, status, Named};

const NEEDS_METADATA: [&str; 12] = [
    "files",
    "file_stats",
    "wanted",
    "priorities",
    "download_dir",
    "magnet_link",
    "comment",
    "creator",
    "file_count",
    "size_when_done",
    "left_until_done",
    "percent_done",
];
const NEEDS_STATUS: [&str; 14] = [
    "files",
    "file_stats",
    "wanted",
    "peers",
    "piece_count",
    "piece_size",
    "pieces",
    "left_until_done",
    "percent_done",
    "percent_complete",
    "have_valid",
    "size_when_done",
    "desired_available",
    "eta",
];
const NEEDS_GOAL: [&str; 4] = [
    "seed_ratio_limit",
    "seed_ratio_mode",
    "seed_idle_limit",
    "seed_idle_mode",
];

pub async fn torrent(ctx: &Context<'_>, task: &Named, fields: &[String]) -> Result<Value, String> {
    let wants = |set: &[&str]| fields.iter().any(|f| set.contains(&f.as_str()));
    let row = &task.row;
    let id = row["id"].as_str().unwrap_or("").to_owned();
    let params = json!({"task_id": id});
    // A task removed between the list and these calls: answered with what the list had.
    let metadata = if wants(&NEEDS_METADATA) {
        ctx.call("task.getMetadata", params.clone())
            .await
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let st = if wants(&NEEDS_STATUS) {
        ctx.call("task.getStatus", params.clone())
            .await
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let trackers = if wants(&["trackers", "tracker_stats", "tracker_list"]) {
        ctx.call("task.getTrackers", params.clone())
            .await
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let goal = if wants(&NEEDS_GOAL) {
        ctx.call("task.getSeedGoal", params.clone())
            .await
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };

    let files = metadata["files"].as_array().cloned().unwrap_or_default();
    let held: Vec<u64> = st["files"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(0)).collect())
        .unwrap_or_default();
    let selected: Vec<bool> = files
        .iter()
        .map(|f| f["selected"].as_bool().unwrap_or(true))
        .collect();
    let size_when_done: u64 = files
        .iter()
        .zip(&selected)
        .filter(|(_, s)| **s)
        .map(|(f, _)| f["size"].as_u64().unwrap_or(0))
        .sum();
    let have: u64 = held
        .iter()
        .zip(&selected)
        .filter(|(_, s)| **s)
        .map(|(h, _)| *h)
        .sum();
    let have_all: u64 = held.iter().sum();
    let left = size_when_done.saturating_sub(have);
    let percent_done = if size_when_done > 0 {
        have as f64 / size_when_done as f64
    } else {
        0.0
    };
    let total = row["total_bytes"].as_u64().unwrap_or(0);
    let pieces: Vec<bool> = st["pieces"]
        .as_array()
        .map(|a| a.iter().map(|p| p.as_bool().unwrap_or(false)).collect())
        .unwrap_or_default();
    let state = row["state"].as_u64().unwrap_or(0);
    let since = now().saturating_sub(row["state_since"].as_u64().unwrap_or(0));
    let dl_speed = row["dl_speed"].as_u64().unwrap_or(0);
    let error = row["error"].as_str();

    let mut out = Map::new();
    for field in fields {
        let value = match field.as_str() {
            "id" => json!(task.number),
            "hash_string" => json!(id),
            "name" => row["name"].clone(),
            "status" => json!(status(row)),
            "error" => json!(if error.is_some() { 3 } else { 0 }),
            "error_string" => json!(error.unwrap_or("")),
            "is_finished" => json!(state == 3),
            "is_stalled" => json!(false),
            "is_private" => json!(false),
            "total_size" => json!(total),
            "size_when_done" => json!(size_when_done),
            "left_until_done" => json!(left),
            "have_valid" => json!(have_all),
            "have_unchecked" | "corrupt_ever" => json!(0),
            "desired_available" => json!(left),
            "percent_done" => json!(percent_done),
            "percent_complete" => json!(if total > 0 {
                have_all as f64 / total as f64
            } else {
                0.0
            }),
            "metadata_percent_complete" => json!(if total > 0 { 1.0 } else { 0.0 }),
            "recheck_progress" => json!(0.0),
            "eta" => json!(if state == 1 && dl_speed > 0 {
                (left / dl_speed) as i64
            } else {
                -1
            }),
            "eta_idle" => json!(-1),
            "rate_download" => json!(dl_speed),
            "rate_upload" => row["ul_speed"].clone(),
            "uploaded_ever" => row["uploaded_ever"].clone(),
            "downloaded_ever" => row["downloaded_ever"].clone(),
            "upload_ratio" => row["ratio"].clone(),
            "seconds_downloading" => json!(
                row["seconds_downloading"].as_u64().unwrap_or(0)
                    + if state == 1 { since } else { 0 }
            ),
            "seconds_seeding" => json!(
                row["seconds_seeding"].as_u64().unwrap_or(0) + if state == 2 { since } else { 0 }
            ),
            "added_date" | "start_date" => row["added"].clone(),
            "done_date" | "date_created" | "edit_date" => json!(0),
            "activity_date" => json!(if dl_speed > 0 || row["ul_speed"].as_u64() > Some(0) {
                now()
            } else {
                0
            }),
            "download_dir" => metadata["download_dir"].clone(),
            "labels" => json!(row["label"].as_str().into_iter().collect::<Vec<_>>()),
            "file_count" => json!(files.len()),
            "files" => json!(files
                .iter()
                .enumerate()
                .map(|(i, f)| json!({
                    "name": f["path"],
                    "length": f["size"],
                    "bytes_completed": held.get(i).copied().unwrap_or(0),
                }))
                .collect::<Vec<_>>()),
            "file_stats" => json!(files
                .iter()
                .enumerate()
                .map(|(i, _)| json!({
                    "bytes_completed": held.get(i).copied().unwrap_or(0),
                    "wanted": selected[i],
                    "priority": 0,
                }))
                .collect::<Vec<_>>()),
            "wanted" => json!(selected.iter().map(|s| u8::from(*s)).collect::<Vec<_>>()),
            "priorities" => json!(vec![0; files.len()]),
            "peers" => json!(st["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(peer)
                .collect::<Vec<_>>()),
            "peers_connected" => row["connected_peers"].clone(),
            "peers_sending_to_us" => {
                json!(st_count(&st, "dl_speed").unwrap_or(u64::from(dl_speed > 0)))
            }
            "peers_getting_from_us" => {
                json!(st_count(&st, "ul_speed")
                    .unwrap_or(u64::from(row["ul_speed"].as_u64() > Some(0))))
            }
            "webseeds_sending_to_us" => json!(0),
            "webseeds" => json!([]),
            "piece_count" => json!(pieces.len()),
            "piece_size" => json!(piece_size(total, pieces.len() as u64)),
            "pieces" => json!(bitfield(&pieces)),
            "magnet_link" => metadata["magnet"].clone(),
            "comment" => metadata["comment"].clone(),
            "creator" => metadata["creator"].clone(),
            "trackers" => json!(tracker_list(&trackers)
                .iter()
                .enumerate()
                .map(
                    |(i, t)| json!({"announce": t["url"], "id": i, "scrape": "", "tier": t["tier"]})
                )
                .collect::<Vec<_>>()),
            "tracker_stats" => json!(tracker_list(&trackers)
                .iter()
                .enumerate()
                .map(|(i, t)| tracker_stat(i, t))
                .collect::<Vec<_>>()),
            "tracker_list" => json!(tracker_list(&trackers)
                .iter()
                .map(|t| t["url"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
                .join("\n")),
            "seed_ratio_limit" => json!(goal["effective"]["ratio_limit"].as_f64().unwrap_or(0.0)),
            "seed_ratio_mode" => json!(mode(&goal["ratio_limit"])),
            "seed_idle_limit" => json!(goal["effective"]["idle_limit_minutes"]
                .as_u64()
                .unwrap_or(0)),
            "seed_idle_mode" => json!(mode(&goal["idle_limit_minutes"])),
            "queue_position" => json!(task.number),
            "bandwidth_priority" => json!(0),
            "honors_session_limits" => json!(true),
            "download_limit" | "upload_limit" => json!(0),
            "download_limited" | "upload_limited" => json!(false),
            "peer_limit" | "max_connected_peers" => json!(50),
            "manual_announce_time" => json!(-1),
            "torrent_file" | "primary_mime_type" => json!(""),
            "sequential_download" => json!(false),
            _ => continue,
        };
        out.insert(field.clone(), value);
    }
    Ok(Value::Object(out))
}

/// How many connected peers move bytes in `speed`'s direction, when the peers are known.
fn st_count(st: &Value, speed: &str) -> Option<u64> {
    let peers = st["peers"].as_array()?;
    Some(peers.iter().filter(|p| p[speed].as_u64() > Some(0)).count() as u64)
}

/// A task's own goal as Transmission's mode: 0 the session's, 1 its own, 2 unlimited.
fn mode(own: &Value) -> u8 {
    match own {
        Value::Null => 0,
        v if v.as_f64() == Some(-1.0) => 2,
        _ => 1,
    }
}

fn tracker_list(trackers: &Value) -> Vec<Value> {
    trackers["trackers"].as_array().cloned().unwrap_or_default()
}

fn tracker_stat(i: usize, t: &Value) -> Value {
    let url = t["url"].as_str().unwrap_or("");
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| format!("{}://{h}", u.scheme())))
        .unwrap_or_default();
    json!({
        "announce": url,
        "host": host,
        "id": i,
        "tier": t["tier"],
        "scrape": "",
        "site_name": "",
        "announce_state": if t["announcing"].as_bool() == Some(true) { 1 } else { 0 },
        "has_announced": false,
        "has_scraped": false,
        "is_backup": false,
        "last_announce_peer_count": t["last_peers"].as_i64().unwrap_or(-1),
        "last_announce_result": t["last_error"].as_str().unwrap_or(""),
        "last_announce_start_time": 0,
        "last_announce_succeeded": false,
        "last_announce_time": t["last_announce"].as_u64().unwrap_or(0),
        "last_announce_timed_out": false,
        "last_scrape_result": "",
        "last_scrape_start_time": 0,
        "last_scrape_succeeded": false,
        "last_scrape_time": 0,
        "last_scrape_timed_out": false,
        "leecher_count": -1,
        "seeder_count": -1,
        "download_count": -1,
        "next_announce_time": 0,
        "next_scrape_time": 0,
        "scrape_state": 0,
    })
}

fn peer(p: &Value) -> Value {
    let address = p["address"].as_str().unwrap_or("");
    let (ip, port) = match address.rsplit_once(':') {
        Some((ip, port)) => (
            ip.trim_start_matches('[').trim_end_matches(']'),
            port.parse::<u16>().unwrap_or(0),
        ),
        None => (address, 0),
    };
    let down = p["dl_speed"].as_u64().unwrap_or(0);
    let up = p["ul_speed"].as_u64().unwrap_or(0);
    json!({
        "address": ip,
        "port": port,
        "client_name": p["client"],
        "rate_to_client": down,
        "rate_to_peer": up,
        "is_downloading_from": down > 0,
        "is_uploading_to": up > 0,
        "is_encrypted": false,
        "is_incoming": false,
        "is_utp": false,
        "client_is_choked": false,
        "client_is_interested": down > 0,
        "peer_is_choked": false,
        "peer_is_interested": up > 0,
        "progress": 0.0,
        "flag_str": "",
    })
}

/// The piece length, from the piece count and the total size: the one power of two that fits
/// (every torrent Magnetar has seen uses one); 0 when unknown.
fn piece_size(total: u64, count: u64) -> u64 {
    if count == 0 || total == 0 {
        return 0;
    }
    let mut size = 16 * 1024u64;
    while size * count < total && size < (1 << 40) {
        size *= 2;
    }
    if size * (count - 1) < total {
        size
    } else {
        total.div_ceil(count)
    }
}

/// The pieces held, as Transmission sends them: a bitfield (first piece in the high bit of the
/// first byte), base64.
fn bitfield(pieces: &[bool]) -> String {
    let mut bytes = vec![0u8; pieces.len().div_ceil(8)];
    for (i, held) in pieces.iter().enumerate() {
        if *held {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_sizes_and_bitfields() {
        assert_eq!(piece_size(1_000_000, 16), 65536);
        assert_eq!(piece_size(16384 * 3, 3), 16384);
        assert_eq!(piece_size(0, 0), 0);
        assert_eq!(
            bitfield(&[true, false, true, false, false, false, false, false, true]),
            "oIA="
        );
    }
}
