//! Transmission's methods, each mapped onto the WebSocket API's methods (called as this
//! caller, so the same permissions, validation, rate limits and events apply).

use serde_json::{json, Map, Value};

use super::names::{restyle, Old, Style};
use super::{torrents, RpcState};
use crate::api::{Api, Caller};

/// One request's surroundings.
pub struct Context<'a> {
    pub api: &'a Api,
    pub caller: &'a Caller,
    pub rpc: &'a RpcState,
    pub style: Style,
}

/// What the endpoint remembers that Magnetar's settings have no place for: the values a
/// Transmission client set while their switch was off, and the alternate speed limits.
/// Kept in memory only (see docs/API.md 12).
pub struct Memory {
    pub down_kbps: u64,
    pub up_kbps: u64,
    pub ratio: f64,
    pub idle_minutes: u64,
    pub alt_enabled: bool,
    pub alt_down_kbps: u64,
    pub alt_up_kbps: u64,
    /// The normal limits (bytes per second) while the alternate ones are on.
    pub normal: (Option<u64>, Option<u64>),
    /// `start-added-torrents`: whether a `torrent-add` without `paused` starts the task.
    pub start_added: bool,
}

impl Default for Memory {
    fn default() -> Memory {
        // Transmission's own defaults.
        Memory {
            down_kbps: 100,
            up_kbps: 100,
            ratio: 2.0,
            idle_minutes: 30,
            alt_enabled: false,
            alt_down_kbps: 50,
            alt_up_kbps: 50,
            normal: (None, None),
            start_added: true,
        }
    }
}

impl Context<'_> {
    /// Calls a WebSocket API method as this caller; an error becomes its message.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let reply = self
            .api
            .call_as(self.caller, method, params)
            .await
            .map_err(|e| e.message)?;
        serde_json::from_str(reply.get()).map_err(|e| format!("internal error: {e}"))
    }
}

/// Answers one method (its name and arguments already in snake_case).
pub async fn dispatch(
    ctx: &Context<'_>,
    method: &str,
    args: Map<String, Value>,
) -> Result<Value, String> {
    match method {
        "session_get" => session_get(ctx, &args).await,
        "session_set" => session_set(ctx, &args).await.map(|()| json!({})),
        "session_stats" => session_stats(ctx).await,
        "free_space" => free_space(ctx, &args).await,
        "port_test" => Err(
            "port-test is not supported: Magnetar does not ask an outside \
                            service whether its peer port is reachable"
                .into(),
        ),
        "session_close" => Err(
            "session-close is refused: stop Magnetar on its own machine \
                                (its tray, or the service manager)"
                .into(),
        ),
        "blocklist_update" => {
            Err("blocklist-update is not supported: Magnetar has no blocklist".into())
        }
        "torrent_get" => torrents::get(ctx, &args).await,
        "torrent_add" => torrents::add(ctx, &args).await,
        "torrent_start" | "torrent_start_now" => torrents::each(ctx, &args, "task.resume").await,
        "torrent_stop" => torrents::each(ctx, &args, "task.pause").await,
        "torrent_verify" => torrents::each(ctx, &args, "task.recheck").await,
        "torrent_reannounce" => torrents::each(ctx, &args, "task.reannounce").await,
        "torrent_remove" => torrents::remove(ctx, &args).await,
        "torrent_set" => torrents::set(ctx, &args).await,
        "torrent_set_location" => torrents::set_location(ctx, &args).await,
        "queue_move_top" | "queue_move_up" | "queue_move_down" | "queue_move_bottom" => {
            // Magnetar has no queue: every task runs. Accepted, changing nothing, as the docs say.
            torrents::resolve_ids(ctx, args.get("ids")).await?;
            Ok(json!({}))
        }
        other => Err(format!(
            "method name not recognized: {other:?} is not a Transmission method Magnetar \
             answers (see docs/API.md section 12)"
        )),
    }
}

/// Bytes per second to Transmission's kB/s (1000 bytes), at least 1 for a limit that is set.
fn kbps(bps: u64) -> u64 {
    (bps / 1000).max(1)
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

async fn session_get(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let info = ctx.call("session.info", Value::Null).await?;
    let settings = ctx.call("session.getSettings", Value::Null).await?;
    let settings = &settings["settings"];
    let mem = ctx.rpc.memory();
    let (down, up) = if mem.alt_enabled {
        mem.normal
    } else {
        (info["download_bps"].as_u64(), info["upload_bps"].as_u64())
    };
    let ratio = settings["seed_ratio_limit"].as_f64();
    let idle = settings["seed_idle_limit_minutes"].as_u64();
    let peer_port = info["peer_listen_addresses"][0]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let version = info["version"].as_str().unwrap_or("");
    let snake = ctx.style == Style::Snake;
    let mut all = json!({
        "version": format!("3.00 (Magnetar {version})"),
        "rpc_version": if snake { 18 } else { 17 },
        "rpc_version_semver": "5.3.0",
        "rpc_version_minimum": 14,
        "session_id": ctx.rpc.session_id,
        "config_dir": "",
        "download_dir": info["download_dir"],
        "incomplete_dir": "",
        "incomplete_dir_enabled": false,
        "peer_port": peer_port,
        "peer_port_random_on_start": false,
        "port_forwarding_enabled": settings["upnp"].as_bool().unwrap_or(false),
        "dht_enabled": info["dht"],
        "lpd_enabled": settings["lsd"].as_bool().unwrap_or(false),
        "pex_enabled": false,
        "utp_enabled": false,
        "encryption": "preferred",
        "peer_limit_global": 200,
        "peer_limit_per_torrent": 50,
        "cache_size_mb": 4,
    });
    let limits = json!({
        "speed_limit_down": down.map_or(mem.down_kbps, kbps),
        "speed_limit_down_enabled": down.is_some(),
        "speed_limit_up": up.map_or(mem.up_kbps, kbps),
        "speed_limit_up_enabled": up.is_some(),
        "alt_speed_enabled": mem.alt_enabled,
        "alt_speed_down": mem.alt_down_kbps,
        "alt_speed_up": mem.alt_up_kbps,
        "alt_speed_time_enabled": false,
        "alt_speed_time_begin": 540,
        "alt_speed_time_end": 1020,
        "alt_speed_time_day": 127,
        "seed_ratio_limit": ratio.unwrap_or(mem.ratio),
        "seed_ratio_limited": ratio.is_some(),
        "idle_seeding_limit": idle.unwrap_or(mem.idle_minutes),
        "idle_seeding_limit_enabled": idle.is_some(),
    });
    let rest = json!({
        "download_queue_enabled": false,
        "download_queue_size": 5,
        "seed_queue_enabled": false,
        "seed_queue_size": 10,
        "queue_stalled_enabled": false,
        "queue_stalled_minutes": 30,
        "start_added_torrents": mem.start_added,
        "rename_partial_files": false,
        "trash_original_torrent_files": false,
        "blocklist_enabled": false,
        "blocklist_size": 0,
        "blocklist_url": "",
        "script_torrent_done_enabled": false,
        "script_torrent_done_filename": "",
        "units": {
            "speed_units": ["kB/s", "MB/s", "GB/s", "TB/s"],
            "speed_bytes": 1000,
            "size_units": ["kB", "MB", "GB", "TB"],
            "size_bytes": 1000,
            "memory_units": ["KiB", "MiB", "GiB", "TiB"],
            "memory_bytes": 1024
        },
    });
    drop(mem);
    for part in [limits, rest] {
        if let (Value::Object(all), Value::Object(part)) = (&mut all, part) {
            all.extend(part);
        }
    }
    if let Some(fields) = args.get("fields") {
        let Some(fields) = fields.as_array() else {
            return Err("fields: must be an array of key names".into());
        };
        let wanted: Vec<String> = fields
            .iter()
            .filter_map(Value::as_str)
            .map(super::names::snake)
            .collect();
        if let Value::Object(map) = &mut all {
            map.retain(|k, _| wanted.contains(k));
        }
    }
    Ok(restyle(all, ctx.style, Old::Session))
}

fn bool_arg(args: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match args.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Transmission reads 0 and 1 as booleans too.
        Some(v) if v.as_u64().is_some_and(|n| n <= 1) => Ok(Some(v.as_u64() == Some(1))),
        Some(other) => Err(format!("{key}: must be a boolean, not {other}")),
    }
}

fn u64_arg(args: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match args.get(key) {
        None => Ok(None),
        Some(v) => as_u64(v)
            .map(Some)
            .ok_or_else(|| format!("{key}: must be a whole number >= 0, not {v}")),
    }
}

/// Keys `session-set` changes; any other is refused by name (never silently ignored).
const SESSION_SET_KEYS: [&str; 13] = [
    "start_added_torrents",
    "speed_limit_down",
    "speed_limit_down_enabled",
    "speed_limit_up",
    "speed_limit_up_enabled",
    "alt_speed_down",
    "alt_speed_up",
    "alt_speed_enabled",
    "seed_ratio_limit",
    "seed_ratio_limited",
    "idle_seeding_limit",
    "idle_seeding_limit_enabled",
    "download_dir",
];

async fn session_set(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<(), String> {
    if !ctx.caller.can_admin {
        return Err(
            "unauthorized: session-set changes the server's settings: it is refused to \
                    clients on other machines unless the server's `remote_admin` setting is on \
                    (and to read-only tokens)"
                .into(),
        );
    }
    let unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|k| !SESSION_SET_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "session-set: Magnetar cannot change {}: see docs/API.md section 12",
            unknown.join(", ")
        ));
    }
    let info = ctx.call("session.info", Value::Null).await?;
    if let Some(dir) = args.get("download_dir") {
        if dir != &info["download_dir"] {
            return Err(
                "download-dir: Magnetar's download folder changes only with a restart: \
                        use session.setSettings (download_dir) or the preferences, or name a \
                        folder per torrent with torrent-add's download-dir"
                    .into(),
            );
        }
    }
    let down_kbps = u64_arg(args, "speed_limit_down")?;
    let down_on = bool_arg(args, "speed_limit_down_enabled")?;
    let up_kbps = u64_arg(args, "speed_limit_up")?;
    let up_on = bool_arg(args, "speed_limit_up_enabled")?;
    let alt_down = u64_arg(args, "alt_speed_down")?;
    let alt_up = u64_arg(args, "alt_speed_up")?;
    let alt_on = bool_arg(args, "alt_speed_enabled")?;
    let ratio = match args.get("seed_ratio_limit") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|r| *r >= 0.0 && r.is_finite())
                .ok_or_else(|| format!("seedRatioLimit: must be a number >= 0, not {v}"))?,
        ),
    };
    let ratio_on = bool_arg(args, "seed_ratio_limited")?;
    let idle = u64_arg(args, "idle_seeding_limit")?;
    let idle_on = bool_arg(args, "idle_seeding_limit_enabled")?;
    if let Some(start) = bool_arg(args, "start_added_torrents")? {
        ctx.rpc.memory().start_added = start;
    }

    // Speed limits: the normal ones, and which apply now.
    let limits = {
        let mut mem = ctx.rpc.memory();
        let (cur_down, cur_up) = if mem.alt_enabled {
            mem.normal
        } else {
            (info["download_bps"].as_u64(), info["upload_bps"].as_u64())
        };
        if let Some(k) = down_kbps {
            mem.down_kbps = k;
        }
        if let Some(k) = up_kbps {
            mem.up_kbps = k;
        }
        let down = match down_on.unwrap_or(cur_down.is_some()) {
            true if down_kbps.is_some() || cur_down.is_none() => Some(mem.down_kbps * 1000),
            true => cur_down,
            false => None,
        };
        let up = match up_on.unwrap_or(cur_up.is_some()) {
            true if up_kbps.is_some() || cur_up.is_none() => Some(mem.up_kbps * 1000),
            true => cur_up,
            false => None,
        };
        if let Some(k) = alt_down {
            mem.alt_down_kbps = k;
        }
        if let Some(k) = alt_up {
            mem.alt_up_kbps = k;
        }
        if let Some(on) = alt_on {
            mem.alt_enabled = on;
        }
        mem.normal = (down, up);
        let apply = if mem.alt_enabled {
            (Some(mem.alt_down_kbps * 1000), Some(mem.alt_up_kbps * 1000))
        } else {
            (down, up)
        };
        let before = (info["download_bps"].as_u64(), info["upload_bps"].as_u64());
        (apply != before).then_some(apply)
    };
    if let Some((down, up)) = limits {
        ctx.call(
            "session.setLimits",
            json!({"download_bps": down, "upload_bps": up}),
        )
        .await?;
    }

    // Seeding goals: Magnetar's global ones.
    let mut goals = Map::new();
    if ratio.is_some() || ratio_on.is_some() {
        let settings = ctx.call("session.getSettings", Value::Null).await?;
        let current = settings["settings"]["seed_ratio_limit"].as_f64();
        let mut mem = ctx.rpc.memory();
        if let Some(r) = ratio {
            mem.ratio = r;
        }
        let value = match ratio_on.unwrap_or(current.is_some()) {
            true => json!(ratio.or(current).unwrap_or(mem.ratio)),
            false => Value::Null,
        };
        goals.insert("seed_ratio_limit".into(), value);
    }
    if idle.is_some() || idle_on.is_some() {
        let settings = ctx.call("session.getSettings", Value::Null).await?;
        let current = settings["settings"]["seed_idle_limit_minutes"].as_u64();
        let mut mem = ctx.rpc.memory();
        if let Some(m) = idle {
            mem.idle_minutes = m;
        }
        let value = match idle_on.unwrap_or(current.is_some()) {
            true => json!(idle.or(current).unwrap_or(mem.idle_minutes)),
            false => Value::Null,
        };
        goals.insert("seed_idle_limit_minutes".into(), value);
    }
    if !goals.is_empty() {
        ctx.call("session.setSettings", json!({ "settings": goals }))
            .await?;
    }
    Ok(())
}

async fn session_stats(ctx: &Context<'_>) -> Result<Value, String> {
    let info = ctx.call("session.info", Value::Null).await?;
    let tasks = ctx.call("task.list", Value::Null).await?;
    let tasks = tasks.as_array().cloned().unwrap_or_default();
    let active = tasks
        .iter()
        .filter(|t| t["dl_speed"].as_u64() > Some(0) || t["ul_speed"].as_u64() > Some(0))
        .count();
    let paused = tasks
        .iter()
        .filter(|t| matches!(t["state"].as_u64(), Some(3 | 4)))
        .count();
    let stats = json!({
        "active_torrent_count": active,
        "paused_torrent_count": paused,
        "torrent_count": tasks.len(),
        "download_speed": info["dl_speed"],
        "upload_speed": info["ul_speed"],
        "cumulative_stats": {
            "uploaded_bytes": info["uploaded_ever"],
            "downloaded_bytes": info["downloaded_ever"],
            "files_added": tasks.len(),
            "session_count": 1,
            "seconds_active": info["uptime_seconds"],
        },
        "current_stats": {
            "uploaded_bytes": info["ul_bytes"],
            "downloaded_bytes": info["dl_bytes"],
            "files_added": tasks.len(),
            "session_count": 1,
            "seconds_active": info["uptime_seconds"],
        },
    });
    Ok(restyle(stats, ctx.style, Old::Camel))
}

/// `free-space {path}`: the free bytes of a folder under the download folder or a download
/// root (any other path is refused: a client must not probe the server's file systems).
async fn free_space(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let Some(Value::String(path)) = args.get("path") else {
        return Err("path: must be a string (a folder under the download folder)".into());
    };
    let info = ctx.call("session.info", Value::Null).await?;
    let settings = ctx.call("session.getSettings", Value::Null).await?;
    let mut roots: Vec<std::path::PathBuf> = settings["settings"]["download_roots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(std::path::PathBuf::from)
        .collect();
    if let Some(dir) = info["download_dir"].as_str() {
        roots.push(dir.into());
    }
    let requested = std::path::Path::new(path);
    let canonical = std::fs::canonicalize(requested)
        .map_err(|e| format!("path: {path:?} cannot be read: {e}"))?;
    let inside = roots
        .iter()
        .any(|root| std::fs::canonicalize(root).is_ok_and(|root| canonical.starts_with(&root)));
    if !inside {
        return Err(format!(
            "path: {path:?} is not under the download folder or a download root"
        ));
    }
    let (free, total) = statvfs(&canonical).map_err(|e| format!("path: {path:?}: {e}"))?;
    Ok(restyle(
        json!({"path": path, "size_bytes": free, "total_size": total}),
        ctx.style,
        Old::Session,
    ))
}

/// Free bytes (for an unprivileged user) and total bytes of the file system holding `path`.
fn statvfs(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the path holds a NUL byte"))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid C string and stat a valid, writable statvfs.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = stat.f_frsize as u64;
    Ok((
        (stat.f_bavail as u64).saturating_mul(block),
        (stat.f_blocks as u64).saturating_mul(block),
    ))
}
