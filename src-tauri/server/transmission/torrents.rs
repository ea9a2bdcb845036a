//! `torrent-*` methods: ids, `torrent-get`'s fields, adds, actions and changes, each through the
//! WebSocket API's task methods.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::fetch::{self, Fetched};
use super::methods::Context;
use super::names::{restyle, snake, Old};

/// A task the request names: its number, and its `task.list` row.
pub struct Named {
    pub number: i64,
    pub row: Value,
}

fn hash_of(row: &Value) -> &str {
    row["id"].as_str().unwrap_or("")
}

/// Whether a task (its row and number) is one that `ids` names.
type Test = Box<dyn Fn(&Value, i64) -> bool>;

/// The tasks `ids` names (absent: all), numbered; unknown numbers and hashes are skipped, as
/// Transmission does. Also answers whether it was "recently-active".
pub async fn resolve_ids(ctx: &Context<'_>, ids: Option<&Value>) -> Result<Vec<Named>, String> {
    let list = ctx.call("task.list", Value::Null).await?;
    let rows = list.as_array().cloned().unwrap_or_default();
    let mut numbers = ctx.rpc.ids();
    let pairs: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (hash_of(r).to_owned(), r["added"].as_u64().unwrap_or(0)))
        .collect();
    numbers.sync(&pairs);
    let named = |row: &Value| Named {
        number: numbers.id_of(hash_of(row)).unwrap_or(0),
        row: row.clone(),
    };
    let pick = |wanted: &dyn Fn(&Value, i64) -> bool| -> Vec<Named> {
        rows.iter()
            .map(named)
            .filter(|n| wanted(&n.row, n.number))
            .collect()
    };
    let one = |item: &Value| -> Result<Test, String> {
        match item {
            Value::Number(n) => {
                let n = n
                    .as_i64()
                    .ok_or_else(|| format!("ids: {item} is not a torrent id"))?;
                Ok(Box::new(move |_, number| number == n))
            }
            Value::String(s) if s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
                let s = s.to_ascii_lowercase();
                Ok(Box::new(move |row, _| hash_of(row) == s))
            }
            other => Err(format!(
                "ids: each must be a torrent id (a number) or a 40-character hash string, not {other}"
            )),
        }
    };
    match ids {
        None | Some(Value::Null) => Ok(pick(&|_, _| true)),
        Some(Value::String(s)) if s == "recently-active" || s == "recently_active" => {
            Ok(pick(&|row, _| recently_active(row)))
        }
        Some(Value::Array(items)) => {
            let tests = items.iter().map(one).collect::<Result<Vec<_>, _>>()?;
            Ok(pick(&|row, n| tests.iter().any(|t| t(row, n))))
        }
        Some(item) => {
            let test = one(item)?;
            Ok(pick(&|row, n| test(row, n)))
        }
    }
}

/// Active in Transmission's sense: moving bytes, or preparing (checking, fetching metadata).
fn recently_active(row: &Value) -> bool {
    row["dl_speed"].as_u64() > Some(0)
        || row["ul_speed"].as_u64() > Some(0)
        || row["state"].as_u64() == Some(0)
        || now().saturating_sub(row["state_since"].as_u64().unwrap_or(0)) < 60
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Magnetar's state (and what is known of the task) as Transmission's status: 0 stopped,
/// 2 checking, 4 downloading, 6 seeding (1, 3 and 5, the queues, never happen: Magnetar has no
/// queue).
pub fn status(row: &Value) -> u64 {
    match row["state"].as_u64() {
        // Preparing: fetching a magnet's metadata is downloading to Transmission; with the
        // metadata known, it is the check of the data.
        Some(0) if row["total_bytes"].as_u64() == Some(0) => 4,
        Some(0) => 2,
        Some(1) => 4,
        Some(2) => 6,
        _ => 0,
    }
}

/// `torrent-get {ids?, fields, format?}`.
pub async fn get(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let fields: Vec<String> = match args.get("fields") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|f| {
                f.as_str()
                    .map(snake)
                    .ok_or_else(|| format!("fields: each must be a field name, not {f}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "fields: must be an array of field names, not {other}"
            ))
        }
        None => return Err("fields: missing (an array of field names)".into()),
    };
    let table = match args.get("format") {
        None => false,
        Some(Value::String(f)) if f == "objects" => false,
        Some(Value::String(f)) if f == "table" => true,
        Some(other) => {
            return Err(format!(
                "format: must be \"objects\" or \"table\", not {other}"
            ))
        }
    };
    let recent = matches!(args.get("ids"), Some(Value::String(s)) if snake(s) == "recently_active");
    let named = resolve_ids(ctx, args.get("ids")).await?;
    let mut torrents = Vec::with_capacity(named.len());
    for task in &named {
        torrents.push(super::fields::torrent(ctx, task, &fields).await?);
    }
    let torrents: Vec<Value> = torrents
        .into_iter()
        .map(|t| restyle(t, ctx.style, Old::Camel))
        .collect();
    let torrents = if table {
        let names: Vec<String> = fields
            .iter()
            .map(|f| super::names::answer_key(f, ctx.style, Old::Camel))
            .collect();
        let mut rows = vec![json!(names)];
        rows.extend(torrents.iter().map(|t| {
            Value::Array(
                names
                    .iter()
                    .map(|n| t.get(n).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        }));
        Value::Array(rows)
    } else {
        Value::Array(torrents)
    };
    let mut answer = json!({ "torrents": torrents });
    if recent {
        answer["removed"] = json!(ctx.rpc.ids().recently_removed());
    }
    Ok(answer)
}

/// Runs one task method (params `{task_id}`) on every task `ids` names.
pub async fn each(
    ctx: &Context<'_>,
    args: &Map<String, Value>,
    method: &str,
) -> Result<Value, String> {
    for task in resolve_ids(ctx, args.get("ids")).await? {
        ctx.call(method, json!({"task_id": hash_of(&task.row)}))
            .await?;
    }
    Ok(json!({}))
}

/// `torrent-remove {ids, delete-local-data?}`.
pub async fn remove(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let delete = match args.get("delete_local_data") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("delete-local-data: must be a boolean, not {other}")),
    };
    for task in resolve_ids(ctx, args.get("ids")).await? {
        ctx.call(
            "task.remove",
            json!({"task_id": hash_of(&task.row), "delete_files": delete}),
        )
        .await?;
    }
    Ok(json!({}))
}

/// `torrent-set-location {ids, location, move?}`: with `move`, the data moves (`task.move`);
/// without it Transmission would look for the data there, which Magnetar does not do.
pub async fn set_location(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let Some(Value::String(location)) = args.get("location") else {
        return Err("location: must be a string (an absolute folder)".into());
    };
    match args.get("move") {
        Some(Value::Bool(true)) => {}
        None | Some(Value::Bool(false)) => {
            return Err(
                "torrent-set-location without move: true (look for the data in another \
                        folder) is not supported: Magnetar only moves a torrent's data"
                    .into(),
            )
        }
        Some(other) => return Err(format!("move: must be a boolean, not {other}")),
    }
    for task in resolve_ids(ctx, args.get("ids")).await? {
        ctx.call(
            "task.move",
            json!({"task_id": hash_of(&task.row), "download_dir": location}),
        )
        .await?;
    }
    Ok(json!({}))
}

fn indices(args: &Map<String, Value>, key: &str) -> Result<Option<Vec<u64>>, String> {
    match args.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_u64().ok_or_else(|| {
                    format!(
                        "{}: each must be a file index, not {i}",
                        key.replace('_', "-")
                    )
                })
            })
            .collect::<Result<Vec<u64>, String>>()
            .map(Some),
        Some(other) => Err(format!(
            "{}: must be an array of file indices, not {other}",
            key.replace('_', "-")
        )),
    }
}

/// The one label of a `labels` argument (Magnetar has one label a task): `None` for `[]`.
fn one_label(value: &Value) -> Result<Option<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("labels: must be an array of strings, not {value}"));
    };
    match items.as_slice() {
        [] => Ok(None),
        [Value::String(label)] => Ok(Some(label.clone())),
        [_] => Err("labels: each must be a string".into()),
        _ => Err("labels: Magnetar gives a task one label: send at most one".into()),
    }
}

/// Keys of `torrent-set` that change something here.
const SET_KEYS: [&str; 8] = [
    "ids",
    "files_wanted",
    "files_unwanted",
    "labels",
    "seed_ratio_limit",
    "seed_ratio_mode",
    "seed_idle_limit",
    "seed_idle_mode",
];

/// `torrent-set`: files, label, seeding goal.
pub async fn set(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|k| !SET_KEYS.contains(k))
        .filter(|k| !harmless(k, &args[*k]))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "torrent-set: Magnetar cannot change {} per torrent (see docs/API.md section 12)",
            unknown.join(", ")
        ));
    }
    let wanted = indices(args, "files_wanted")?;
    let unwanted = indices(args, "files_unwanted")?;
    let label = args.get("labels").map(one_label).transpose()?;
    let ratio = goal(args, "seed_ratio_mode", "seed_ratio_limit", |v| {
        v.as_f64().filter(|r| *r >= 0.0).map(|r| json!(r))
    })?;
    let idle = goal(args, "seed_idle_mode", "seed_idle_limit", |v| {
        v.as_u64().map(|m| json!(m))
    })?;
    for task in resolve_ids(ctx, args.get("ids")).await? {
        let id = hash_of(&task.row).to_owned();
        if wanted.is_some() || unwanted.is_some() {
            let metadata = ctx.call("task.getMetadata", json!({"task_id": id})).await?;
            let files = metadata["files"].as_array().cloned().unwrap_or_default();
            if files.is_empty() {
                return Err(
                    "files-wanted/files-unwanted: the torrent's file list is not known \
                            yet (its metadata is still being fetched)"
                        .into(),
                );
            }
            let mut selected: Vec<bool> = files
                .iter()
                .map(|f| f["selected"].as_bool().unwrap_or(true))
                .collect();
            for (list, value) in [(&wanted, true), (&unwanted, false)] {
                for &i in list.iter().flatten() {
                    let slot = selected.get_mut(i as usize).ok_or_else(|| {
                        format!(
                            "file index {i} is out of range: the torrent has {} files",
                            files.len()
                        )
                    })?;
                    *slot = value;
                }
            }
            let chosen: Vec<usize> = (0..selected.len()).filter(|i| selected[*i]).collect();
            ctx.call("task.setFiles", json!({"task_id": id, "files": chosen}))
                .await?;
        }
        if let Some(label) = &label {
            ctx.call("task.setLabel", json!({"task_id": id, "label": label}))
                .await?;
        }
        if ratio.is_some() || idle.is_some() {
            let mut params = json!({"task_id": id});
            if let Some(r) = &ratio {
                params["ratio_limit"] = r.clone();
            }
            if let Some(m) = &idle {
                params["idle_limit_minutes"] = m.clone();
            }
            ctx.call("task.setSeedGoal", params).await?;
        }
    }
    Ok(json!({}))
}

/// Keys a client sends with their default value, which change nothing here.
fn harmless(key: &str, value: &Value) -> bool {
    match key {
        "bandwidth_priority" => value.as_i64() == Some(0),
        "honors_session_limits" => value.as_bool() == Some(true),
        "download_limited" | "upload_limited" => value.as_bool() == Some(false),
        "priority_high" | "priority_low" | "priority_normal" => {
            value.as_array().is_some_and(|a| a.is_empty())
        }
        _ => false,
    }
}

/// A seeding goal from a mode (0 the session's, 1 this torrent's limit, 2 unlimited) and a
/// limit: as `task.setSeedGoal` takes it (`null` inherit, `-1` none, or the value).
fn goal(
    args: &Map<String, Value>,
    mode_key: &str,
    limit_key: &str,
    read: impl Fn(&Value) -> Option<Value>,
) -> Result<Option<Value>, String> {
    let limit = match args.get(limit_key) {
        None => None,
        Some(v) => {
            Some(read(v).ok_or_else(|| format!("{limit_key}: must be a number >= 0, not {v}"))?)
        }
    };
    match args.get(mode_key) {
        None => Ok(limit),
        Some(mode) => match mode.as_u64() {
            Some(0) => Ok(Some(Value::Null)),
            Some(1) => limit.map(Some).ok_or_else(|| {
                format!(
                    "{mode_key} 1 (this torrent's own limit) needs {limit_key} in the same request"
                )
            }),
            Some(2) => Ok(Some(json!(-1))),
            _ => Err(format!("{mode_key}: must be 0, 1 or 2, not {mode}")),
        },
    }
}

/// Keys of `torrent-add` that change nothing here (their defaults) and are accepted.
const ADD_TOLERATED: [&str; 3] = ["bandwidth_priority", "peer_limit", "sequential_download"];

/// `torrent-add {filename | metainfo, download-dir?, paused?, labels?, files-wanted?,
/// files-unwanted?}`.
pub async fn add(ctx: &Context<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    // Before anything is read or fetched: a URL would have the server probe its network on a
    // reader's behalf.
    if !ctx.caller.can_write {
        return Err("unauthorized: torrent-add: this connection's token is read-only".into());
    }
    const KEYS: [&str; 8] = [
        "filename",
        "cookies",
        "metainfo",
        "download_dir",
        "paused",
        "labels",
        "files_wanted",
        "files_unwanted",
    ];
    let unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|k| !KEYS.contains(k) && !ADD_TOLERATED.contains(k))
        .filter(|k| !harmless(k, &args[*k]))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "torrent-add: Magnetar does not take {} (see docs/API.md section 12)",
            unknown.join(", ")
        ));
    }
    let cookies = match args.get("cookies") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(other) => return Err(format!("cookies: must be a string, not {other}")),
    };
    let input = match (args.get("metainfo"), args.get("filename")) {
        (Some(Value::String(b64)), _) => Fetched::Torrent(
            decode_base64(b64).ok_or("metainfo: is not valid base64 torrent data")?,
        ),
        (Some(other), _) => return Err(format!("metainfo: must be a base64 string, not {other}")),
        (None, Some(Value::String(name))) if is_magnet(name) => Fetched::Magnet(name.clone()),
        (None, Some(Value::String(url))) if fetch::is_url(url) => {
            ctx.rpc.fetcher.fetch(url, cookies).await?
        }
        (None, Some(Value::String(path))) => Fetched::Torrent(read_local(ctx, path)?),
        (None, Some(other)) => return Err(format!("filename: must be a string, not {other}")),
        (None, None) => return Err("torrent-add needs filename (a magnet link) or metainfo".into()),
    };
    let (source, uri, kind) = match &input {
        Fetched::Torrent(bytes) => (
            crate::engine::parse_torrent(bytes.clone()).map_err(|e| e.to_string())?,
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "torrent",
        ),
        Fetched::Magnet(link) => (
            crate::engine::parse_magnet(link).map_err(|e| e.to_string())?,
            link.clone(),
            "magnet",
        ),
    };
    let paused = match args.get("paused") {
        None => !ctx.rpc.memory().start_added,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("paused: must be a boolean, not {other}")),
    };
    let mut params = json!({"type": kind, "uri": uri, "paused": paused});
    match args.get("download_dir") {
        None => {}
        Some(Value::String(dir)) => params["download_dir"] = json!(dir),
        Some(other) => return Err(format!("download-dir: must be a string, not {other}")),
    }
    if let Some(labels) = args.get("labels") {
        if let Some(label) = one_label(labels)? {
            params["label"] = json!(label);
        }
    }
    let wanted = indices(args, "files_wanted")?;
    let unwanted = indices(args, "files_unwanted")?;
    if wanted.is_some() || unwanted.is_some() {
        let count = match &source.kind {
            crate::engine::SourceKind::Torrent { files, .. } => files.len() as u64,
            _ => {
                return Err(
                    "files-wanted/files-unwanted: a magnet's files are not known yet: \
                            add it, then use torrent-set when its metadata has arrived"
                        .into(),
                )
            }
        };
        let unwanted = unwanted.unwrap_or_default();
        let files: Vec<u64> = (0..count)
            .filter(|i| wanted.as_ref().is_none_or(|w| w.contains(i)))
            .filter(|i| !unwanted.contains(i))
            .collect();
        params["files"] = json!(files);
    }
    let before = ctx.call("task.list", Value::Null).await?;
    let exists = before
        .as_array()
        .is_some_and(|rows| rows.iter().any(|r| hash_of(r) == source.id));
    let key = if exists {
        "torrent_duplicate"
    } else {
        match ctx.api.call_as(ctx.caller, "task.add", params).await {
            Ok(_) => "torrent_added",
            Err(e) if e.code == crate::protocol::ErrorCode::TaskExists => "torrent_duplicate",
            Err(e) => return Err(e.message),
        }
    };
    let name = before
        .as_array()
        .and_then(|rows| rows.iter().find(|r| hash_of(r) == source.id))
        .and_then(|r| r["name"].as_str().map(str::to_owned))
        .unwrap_or(source.name.clone());
    let number = {
        // Number it now, after the tasks already there (added order).
        let list = ctx.call("task.list", Value::Null).await?;
        let mut numbers = ctx.rpc.ids();
        let pairs: Vec<(String, u64)> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (hash_of(r).to_owned(), r["added"].as_u64().unwrap_or(0)))
            .collect();
        numbers.sync(&pairs);
        numbers.assign(&source.id)
    };
    let answer = json!({ key: {"id": number, "name": name, "hash_string": source.id} });
    Ok(restyle(answer, ctx.style, Old::Camel))
}

fn is_magnet(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
        || (name.len() == 40 && name.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A .torrent file named by path: for clients on this machine only (a remote client must not
/// make the server read its files), and at most 16 MiB.
fn read_local(ctx: &Context<'_>, path: &str) -> Result<Vec<u8>, String> {
    if ctx.caller.is_remote() {
        return Err(
            "filename: a path on the server's machine is read only for clients on that \
                    machine: send the file's contents as metainfo (base64)"
                .into(),
        );
    }
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("filename: {path:?}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(16 * 1024 * 1024 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("filename: {path:?}: {e}"))?;
    if bytes.len() > 16 * 1024 * 1024 {
        return Err(format!(
            "filename: {path:?} is larger than 16 MiB: not a .torrent file"
        ));
    }
    Ok(bytes)
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .ok()
}
