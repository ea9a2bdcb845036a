//! `task.*` methods: parse params, call the engine, return JSON.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Api, ApiError, Caller};
use crate::engine::{parse_magnet, parse_torrent, AddChoices, Limit, Refusal};
use crate::protocol::{null, ErrorCode, Reply, TaskId};

#[derive(Deserialize)]
struct AddParams {
    #[serde(rename = "type")]
    kind: String,
    uri: String,
    /// Start paused (state 4) [Magnetar].
    #[serde(default)]
    paused: bool,
    /// The folder to download into (absolute) [Magnetar].
    #[serde(default)]
    download_dir: Value,
    /// The task's label [Magnetar].
    #[serde(default)]
    label: Value,
    /// The indices of the files to download [Magnetar].
    #[serde(default)]
    files: Value,
}

#[derive(Deserialize)]
struct TaskIdParams {
    task_id: TaskId,
}

#[derive(Deserialize)]
struct RemoveParams {
    task_id: TaskId,
    #[serde(default)]
    delete_files: bool,
}

/// `task.add {type, uri, paused?, download_dir?, label?, files?}`: validated here,
/// synchronously; the download starts in the background. A client on another machine may only
/// name a folder under the download roots.
pub async fn add(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let params: AddParams = parse(params)?;
    let dir = match optional_string(params.download_dir, "download_dir")? {
        Some(dir) => Some(
            api.engine
                .resolve_folder(&dir, caller.is_remote(), "download_dir")
                .map_err(refusal)?,
        ),
        None => None,
    };
    let label = optional_string(params.label, "label")?;
    let files = match params.files {
        Value::Null => None,
        Value::Array(items) => Some(
            items
                .iter()
                .map(|item| {
                    item.as_u64().ok_or_else(|| {
                        ApiError::invalid_params(format!(
                            "files: each entry must be a file index (a whole number >= 0), not {item}"
                        ))
                    })
                })
                .collect::<Result<Vec<u64>, ApiError>>()?,
        ),
        other => {
            return Err(ApiError::invalid_params(format!(
                "files: must be an array of file indices or null, not {other}"
            )))
        }
    };
    let source = match params.kind.as_str() {
        "magnet" => parse_magnet(&params.uri)?,
        "torrent" => parse_torrent(decode_base64(&params.uri)?)?,
        other => {
            return Err(ApiError::invalid_params(format!(
                "\"type\" must be \"magnet\" or \"torrent\", not {other:?}"
            )));
        }
    };
    let choices = AddChoices {
        paused: params.paused,
        dir,
        label,
        files,
    };
    api.engine.add_with(source, choices).await?;
    Ok(null())
}

/// An optional string field: absent or `null` is `None`.
fn optional_string(value: Value, name: &str) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(ApiError::invalid_params(format!(
            "{name}: must be a string or null, not {other}"
        ))),
    }
}

/// A refused folder: -2 when it is not usable, -6 when this caller may not name it.
pub(super) fn refusal(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Invalid(why) => ApiError::invalid_params(why),
        Refusal::Outside(why) => ApiError::new(ErrorCode::Unauthorized, why),
    }
}

/// `task.setLabel {task_id, label, move?}`: `label` a defined label's name, or `null` for none.
/// The data stays where it is, unless `move` asks to move it into the label's folder.
pub async fn set_label(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(mut params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with task_id and label",
        ));
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| !["task_id", "label", "move"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected task_id, label and move"
        )));
    }
    let task_id: TaskId = match params.remove("task_id") {
        Some(id) => serde_json::from_value(id)
            .map_err(|e| ApiError::invalid_params(format!("task_id: {e}")))?,
        None => return Err(ApiError::invalid_params("missing field \"task_id\"")),
    };
    let label = match params.remove("label") {
        Some(label) => optional_string(label, "label")?,
        None => {
            return Err(ApiError::invalid_params(
                "missing field \"label\" (a label's name, or null for none)",
            ))
        }
    };
    let move_data = match params.remove("move") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => {
            return Err(ApiError::invalid_params(format!(
                "move: must be a boolean, not {other}"
            )))
        }
    };
    if move_data {
        // The data goes to the label's folder first: a move that fails leaves the label as it
        // was too.
        let folder = label
            .as_ref()
            .and_then(|name| api.engine.labels().into_iter().find(|l| &l.name == name))
            .and_then(|l| l.folder)
            .ok_or_else(|| {
                ApiError::invalid_params(
                    "move: the label must be one of the session's labels, with a folder to move \
                     the data to",
                )
            })?;
        let dir = api
            .engine
            .resolve_folder(&folder, caller.is_remote(), "the label's folder")
            .map_err(refusal)?;
        api.engine.move_data(&task_id, dir).await?;
    }
    api.engine.set_label(&task_id, label).await?;
    Ok(null())
}

/// `task.move {task_id, download_dir}`: moves the task's data to another folder (the same
/// rules as `task.add`'s `download_dir`: a client on another machine may only name a folder
/// under the download roots). Answered once the data is in its new folder, or back in its old
/// one with the error.
pub async fn move_task(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(mut params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with task_id and download_dir",
        ));
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| *k != "task_id" && *k != "download_dir")
    {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected task_id and download_dir"
        )));
    }
    let task_id = match params.remove("task_id") {
        Some(Value::String(id)) => TaskId::from_client(&id),
        Some(other) => {
            return Err(ApiError::invalid_params(format!(
                "task_id: must be a string, not {other}"
            )))
        }
        None => return Err(ApiError::invalid_params("missing field \"task_id\"")),
    };
    let dir = match params.remove("download_dir") {
        Some(Value::String(dir)) => dir,
        Some(other) => {
            return Err(ApiError::invalid_params(format!(
                "download_dir: must be a string (an absolute folder), not {other}"
            )))
        }
        None => {
            return Err(ApiError::invalid_params(
                "missing field \"download_dir\" (an absolute folder)",
            ))
        }
    };
    let dir = api
        .engine
        .resolve_folder(&dir, caller.is_remote(), "download_dir")
        .map_err(refusal)?;
    api.engine.move_data(&task_id, dir).await?;
    Ok(null())
}

/// `task.list`: params `null`, `{}` or absent.
pub fn list(api: &Api, params: Value) -> Result<Reply, ApiError> {
    no_params(params)?;
    Ok(api.engine.list_json())
}

pub fn get_status(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    to_json(&api.engine.status(&task_id)?)
}

pub fn get_metadata(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    to_json(&api.engine.metadata(&task_id)?)
}

pub async fn pause(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    api.engine.pause(&task_id).await?;
    Ok(null())
}

pub async fn resume(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    api.engine.resume(&task_id).await?;
    Ok(null())
}

pub async fn remove(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let RemoveParams {
        task_id,
        delete_files,
    } = parse(params)?;
    api.engine.remove(&task_id, delete_files).await?;
    Ok(null())
}

/// `task.getTrackers {task_id}`: the task's trackers, by tier.
pub fn get_trackers(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    to_json(&json!({ "trackers": api.engine.trackers(&task_id)? }))
}

/// `task.reannounce {task_id}`: asks the task's trackers for peers again now.
pub async fn reannounce(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    api.engine.reannounce(&task_id).await?;
    Ok(null())
}

/// `task.recheck {task_id}`: checks the task's data on disk again.
pub async fn recheck(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let TaskIdParams { task_id } = parse(params)?;
    api.engine.recheck(&task_id).await?;
    Ok(null())
}

#[derive(Deserialize)]
struct SetFilesParams {
    task_id: TaskId,
    files: Vec<u64>,
}

/// `task.setFiles {task_id, files}`: download the files at these indices, skip the rest.
pub async fn set_files(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let SetFilesParams { task_id, files } = parse(params)?;
    api.engine.set_files(&task_id, &files).await?;
    Ok(null())
}

/// `task.setSeedGoal {task_id, ratio_limit?, seed_time_limit_minutes?, idle_limit_minutes?}`:
/// the task's own seeding goal. Each limit: absent, unchanged; `null`, inherit (the label's,
/// else the global setting); `-1`, no limit for this task; otherwise the limit (a ratio ≥ 0, a
/// whole number of minutes ≥ 0). Answers the task's goal after the change and the goal in
/// force, so `{task_id}` alone reads them.
pub async fn set_seed_goal(api: &Api, params: Value) -> Result<Reply, ApiError> {
    const FIELDS: [&str; 4] = [
        "task_id",
        "ratio_limit",
        "seed_time_limit_minutes",
        "idle_limit_minutes",
    ];
    let Value::Object(params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with task_id",
        ));
    };
    if let Some(unknown) = params.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected {}",
            FIELDS.join(", ")
        )));
    }
    let task_id: TaskId = match params.get("task_id") {
        Some(Value::String(id)) => TaskId::from_client(id),
        Some(_) => return Err(ApiError::invalid_params("task_id must be a string")),
        None => return Err(ApiError::invalid_params("missing field task_id")),
    };
    let ratio = params.get("ratio_limit").map(ratio_limit).transpose()?;
    let seed_minutes = params
        .get("seed_time_limit_minutes")
        .map(|v| minutes_limit(v, "seed_time_limit_minutes"))
        .transpose()?;
    let idle_minutes = params
        .get("idle_limit_minutes")
        .map(|v| minutes_limit(v, "idle_limit_minutes"))
        .transpose()?;
    let (own, effective) = api
        .engine
        .set_seed_goal(&task_id, ratio, seed_minutes, idle_minutes)
        .await?;
    seed_goal_reply(own, effective)
}

/// `task.getSeedGoal {task_id}`: the task's own seeding goal and the goal in force, as
/// `task.setSeedGoal` answers them; a read (the read-only token may), which changes nothing.
pub fn get_seed_goal(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let task_id = only_task_id(params)?;
    let (own, effective) = api.engine.seed_goal(&task_id)?;
    seed_goal_reply(own, effective)
}

/// The params of a method that takes `{task_id}` and nothing else.
fn only_task_id(params: Value) -> Result<TaskId, ApiError> {
    let Value::Object(params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with task_id",
        ));
    };
    if let Some(unknown) = params.keys().find(|k| *k != "task_id") {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected task_id"
        )));
    }
    match params.get("task_id") {
        Some(Value::String(id)) => Ok(TaskId::from_client(id)),
        Some(_) => Err(ApiError::invalid_params("task_id must be a string")),
        None => Err(ApiError::invalid_params("missing field task_id")),
    }
}

/// The answer of `task.setSeedGoal` and `task.getSeedGoal`.
fn seed_goal_reply(
    own: crate::engine::GoalOverrides,
    effective: crate::engine::SeedGoal,
) -> Result<Reply, ApiError> {
    fn own_json<T: serde::Serialize>(limit: Limit<T>) -> Value {
        match limit {
            Limit::Inherit => Value::Null,
            Limit::Unlimited => json!(-1),
            Limit::Value(v) => json!(v),
        }
    }
    to_json(&json!({
        "ratio_limit": own_json(own.ratio),
        "seed_time_limit_minutes": own_json(own.seed_minutes),
        "idle_limit_minutes": own_json(own.idle_minutes),
        "effective": {
            "ratio_limit": effective.ratio,
            "seed_time_limit_minutes": effective.seed_minutes,
            "idle_limit_minutes": effective.idle_minutes,
        },
    }))
}

/// One ratio limit of `task.setSeedGoal` (also for a label's goal: the same form).
pub(super) fn ratio_limit(value: &Value) -> Result<Limit<f64>, ApiError> {
    crate::engine::parse_ratio_limit(value, "ratio_limit").map_err(ApiError::invalid_params)
}

/// One time limit of `task.setSeedGoal`, in minutes (also for a label's goal).
pub(super) fn minutes_limit(value: &Value, name: &str) -> Result<Limit<u64>, ApiError> {
    crate::engine::parse_minutes_limit(value, name).map_err(ApiError::invalid_params)
}

/// Deserializes params, turning any mismatch into `-2` with serde's explanation.
fn parse<T: DeserializeOwned>(params: Value) -> Result<T, ApiError> {
    if params.is_null() {
        return Err(ApiError::invalid_params("missing \"params\""));
    }
    serde_json::from_value(params)
        .map_err(|e| ApiError::invalid_params(format!("invalid params: {e}")))
}

/// For methods without params: accepts absent, `null` and any object (extra fields ignored).
pub(super) fn no_params(params: Value) -> Result<(), ApiError> {
    match params {
        Value::Null | Value::Object(_) => Ok(()),
        _ => Err(ApiError::invalid_params(
            "\"params\" must be null or an object",
        )),
    }
}

/// A result serialized straight to JSON text: a list of 1,000 tasks never becomes a tree of
/// `Value`s (issue 14's profile: that tree was most of `task.list`'s time).
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<Reply, ApiError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| ApiError::new(crate::protocol::ErrorCode::Internal, e.to_string()))
}

/// Decodes a .torrent sent as base64: standard or URL-safe alphabet, padded or not, with any
/// line breaks a client may have wrapped it in, and with or without the `data:...;base64,`
/// prefix that a browser's `FileReader.readAsDataURL` adds.
fn decode_base64(text: &str) -> Result<Vec<u8>, ApiError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = match text.trim_start().strip_prefix("data:") {
        Some(data_url) => data_url
            .split_once(";base64,")
            .map_or(text, |(_, data)| data),
        None => text,
    };
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(ApiError::invalid_params(
            "\"uri\" is empty: expected base64 torrent data",
        ));
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
        .ok_or_else(|| ApiError::invalid_params("\"uri\" is not valid base64"))
}

/// `task.openFolder {task_id}`: shows the task's folder in the file manager of the machine the
/// server runs on (the desktop app only), for a client on that machine only: a window opened on
/// someone's desktop from elsewhere would be a nuisance at best.
pub async fn open_folder(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let task_id = only_task_id(params)?;
    if caller.is_remote() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "unauthorized: task.openFolder opens a window on the server's own desktop, so only \
             clients on that machine may call it",
        ));
    }
    let metadata = api.engine.metadata(&task_id)?;
    let Some(opener) = api.folder_opener() else {
        return Err(ApiError::invalid_params(
            "this server has no desktop to show a folder on (it runs headless): open the \
             folder on its machine",
        ));
    };
    // A torrent with a file list is the folder <name>/ inside its download folder; a one-file
    // torrent's file is in the download folder itself.
    let dir = std::path::PathBuf::from(&metadata.download_dir);
    let own = dir.join(&metadata.name);
    let folder = if !metadata.name.is_empty() && own.is_dir() {
        own
    } else {
        dir
    };
    if !folder.is_dir() {
        return Err(ApiError::invalid_params(format!(
            "the task's folder {} does not exist yet: nothing is written there so far",
            folder.display()
        )));
    }
    opener(&folder).map_err(|why| {
        ApiError::new(
            ErrorCode::Internal,
            format!("could not open {}: {why}", folder.display()),
        )
    })?;
    Ok(null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_variants_decode() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aG\nk").unwrap(), b"hi");
        assert_eq!(decode_base64("_-8").unwrap(), vec![0xff, 0xef]);
        let data_url = "data:application/x-bittorrent;base64,aGk=";
        assert_eq!(decode_base64(data_url).unwrap(), b"hi");
        assert!(decode_base64("!!!").is_err());
        assert!(decode_base64("  ").is_err());
    }
}
