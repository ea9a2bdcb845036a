//! `session.getSettings` and `session.setSettings`: the server's settings, read and changed by
//! clients (the preferences dialog).
//!
//! One table, [`KEYS`], says which `settings.json` keys a client may change, how each value is
//! checked, and whether it applies at once (and how) or at the next start. Adding a setting is
//! one line there (plus its field in `config::Settings` and its row in docs/API.md). The tokens
//! are never in the table: clients learn only whether each is set.
//!
//! A change is all or nothing: every key is checked, then the whole settings are checked
//! together (`Settings::validate`, for rules across keys), then the keys are written to
//! `settings.json` in one atomic write, and only then applied and announced
//! (`session.settingsUpdated`, and `session.limitsUpdated` when a limit changed). Calls are
//! serialized with `session.setLimits` (the API's settings turn), so that calls at once lose
//! none of each other's keys, in the file or in what clients are told.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::tasks::{no_params, to_json};
use super::{Api, ApiError};
use crate::config::Settings;
use crate::protocol::{ErrorCode, Event, Reply, SessionSettings};

/// When a new value takes effect.
#[derive(Clone, Copy)]
pub enum Applies {
    /// At once: the function takes the engine or the API to the new settings.
    Live(fn(&Api, &Settings)),
    /// At the next start of the server: saved now, listed in `pending_restart` until then.
    Restart,
}

/// One setting a client may change.
pub struct Key {
    pub name: &'static str,
    /// What a value must be, for the error message: "`seed` must be {what}".
    what: &'static str,
    /// Checks a value a client sent; gives it back as `settings.json` keeps it.
    check: fn(&Value) -> Result<Value, String>,
    pub applies: Applies,
}

const fn key(
    name: &'static str,
    what: &'static str,
    check: fn(&Value) -> Result<Value, String>,
    applies: Applies,
) -> Key {
    Key {
        name,
        what,
        check,
        applies,
    }
}

use Applies::{Live, Restart};

/// Every setting a client may read and change. docs/API.md (`session.setSettings`) documents
/// each, with the same "live" or "restart".
#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    key("download_bps", "null, or a whole number of bytes per second up to 4294967295 (0: unlimited)", limit, Live(apply_limits)),
    key("upload_bps", "null, or a whole number of bytes per second up to 4294967295 (0: unlimited)", limit, Live(apply_limits)),
    key("seed", "a boolean", typed::<bool>, Live(|api, s| api.engine.set_seed(s.seed))),
    key("seed_ratio_limit", "null, or a ratio from 0 to 1000000", typed::<Option<f64>>, Live(apply_seed_goal)),
    key("seed_time_limit_minutes", "null, or a whole number of minutes", typed::<Option<u64>>, Live(apply_seed_goal)),
    key("seed_idle_limit_minutes", "null, or a whole number of minutes", typed::<Option<u64>>, Live(apply_seed_goal)),
    key("remote_adds_per_minute", "a whole number from 0 to 4294967295", typed::<u32>, Live(|api, s| api.adds.set_per_minute(s.remote_adds_per_minute))),
    key("download_roots", "an array of absolute paths of existing folders", folders, Live(|api, s| api.engine.set_download_roots(&s.download_roots))),
    key("watch_dir", "null, or the absolute path of an existing folder", optional_folder, Live(read_where_used)),
    key("download_dir", "null (the user's Downloads folder), or an absolute path", optional_absolute, Restart),
    key("listen", "an address and port, such as \"127.0.0.1:7345\"", typed::<SocketAddr>, Restart),
    key("peer_port", "a port number from 0 to 65535", typed::<u16>, Restart),
    key("dht", "a boolean", typed::<bool>, Restart),
    key("upnp", "a boolean", typed::<bool>, Restart),
    key("lsd", "a boolean", typed::<bool>, Restart),
    key("allowed_origins", "an array of strings", typed::<Vec<String>>, Restart),
    key("allowed_hosts", "an array of strings", typed::<Vec<String>>, Restart),
    key("max_connections", "a whole number, at least 1", typed::<usize>, Restart),
    key("max_message_bytes", "a whole number, at least 1024", typed::<usize>, Restart),
    key("remote_admin", "a boolean", typed::<bool>, Restart),
    key("loopback_needs_token", "a boolean", typed::<bool>, Restart),
    key("lockout_seconds", "a whole number from 1 to 86400", typed::<u64>, Restart),
    key("trusted_proxies", "an array of IP addresses", typed::<Vec<IpAddr>>, Restart),
    key("max_queue_bytes", "a whole number, at least 65536", typed::<usize>, Restart),
    key("tls_cert", "null, or an absolute path", optional_absolute, Restart),
    key("tls_key", "null, or an absolute path", optional_absolute, Restart),
    key("tls_self_signed", "a boolean", typed::<bool>, Restart),
];

/// The secret settings: shown only as whether each is set, never changed through the API.
const SECRETS: [&str; 2] = ["token", "read_only_token"];

/// The API's view of the settings (behind a lock in [`Api`]).
pub struct SettingsState {
    /// What clients are shown: the settings the server runs with, and the changes that wait
    /// for a restart.
    current: Settings,
    /// The settable keys' values at start, to tell which changes wait for a restart.
    started: Map<String, Value>,
    /// Keys given on the command line.
    overridden: Vec<String>,
}

impl SettingsState {
    pub fn new(settings: Settings, overridden: &[&str]) -> SettingsState {
        SettingsState {
            started: settable_values(&settings),
            current: settings,
            overridden: overridden.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// The settings as clients see them.
    fn view(&self, changed: Option<Vec<String>>) -> SessionSettings {
        let settings = settable_values(&self.current);
        let restart_required: Vec<String> = KEYS
            .iter()
            .filter(|k| matches!(k.applies, Restart))
            .map(|k| k.name.to_owned())
            .collect();
        let pending_restart = restart_required
            .iter()
            .filter(|k| settings.get(*k) != self.started.get(*k))
            .cloned()
            .collect();
        SessionSettings {
            settings,
            restart_required,
            pending_restart,
            overridden: self.overridden.clone(),
            secrets: [
                ("token".to_owned(), self.current.token.is_some()),
                (
                    "read_only_token".to_owned(),
                    self.current.read_only_token.is_some(),
                ),
            ]
            .into(),
            changed,
        }
    }
}

/// The settable keys of `settings` and their values (never a secret: those are not in
/// [`KEYS`]).
fn settable_values(settings: &Settings) -> Map<String, Value> {
    let Ok(Value::Object(mut all)) = serde_json::to_value(settings) else {
        return Map::new();
    };
    KEYS.iter()
        .filter_map(|k| all.remove(k.name).map(|v| (k.name.to_owned(), v)))
        .collect()
}

impl Api {
    /// The settings now (for a method that reads one where it is used, such as
    /// `download_roots` in `task.add`).
    pub fn settings_now(&self) -> Settings {
        self.settings_state().current.clone()
    }

    fn settings_state(&self) -> std::sync::MutexGuard<'_, SettingsState> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes limits set by `session.setLimits` (in the settings turn) and announces them as a
    /// settings change too.
    pub(super) fn limits_were_set(&self, download_bps: Option<u32>, upload_bps: Option<u32>) {
        let view = {
            let mut state = self.settings_state();
            state.current.download_bps = download_bps;
            state.current.upload_bps = upload_bps;
            state.view(Some(vec!["download_bps".into(), "upload_bps".into()]))
        };
        self.engine.announce(Event::SettingsUpdated(Box::new(view)));
    }
}

/// `session.getSettings`: every settable key with its value, which keys need a restart (and
/// which changes wait for one), and whether each token is set.
pub fn get(api: &Api, params: Value) -> Result<Reply, ApiError> {
    no_params(params)?;
    to_json(&api.settings_state().view(None))
}

/// `session.setSettings {key: value, ...}`: checks every key, saves them in one atomic write,
/// applies those that can be applied at once, and announces the new settings. All or nothing:
/// any bad key or value is -2 naming it, and nothing changes.
pub async fn set(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object of settings to change, such as {\"seed\": false}",
        ));
    };
    if params.is_empty() {
        return Err(ApiError::invalid_params(
            "\"params\" names no setting: give at least one key to change",
        ));
    }
    let mut changes: Vec<(&'static Key, Value)> = Vec::with_capacity(params.len());
    for (name, value) in &params {
        let Some(key) = KEYS.iter().find(|k| k.name == name) else {
            let why = if SECRETS.contains(&name.as_str()) {
                "it is secret and cannot be changed through the API (edit settings.json)"
            } else {
                "no such setting (session.getSettings lists them)"
            };
            return Err(ApiError::invalid_params(format!(
                "invalid params: setting {name:?}: {why}"
            )));
        };
        let value = (key.check)(value).map_err(|why| {
            ApiError::invalid_params(format!(
                "invalid params: setting {name:?} must be {}: {why}",
                key.what
            ))
        })?;
        changes.push((key, value));
    }
    // In a task of its own: a client that goes away mid-call must not leave the settings saved
    // but neither applied nor announced.
    let api = api.clone();
    let outcome = tokio::spawn(async move {
        let _turn = api.limits_turn.lock().await;
        let (next, moves_downloads) = {
            let state = api.settings_state();
            let next = with_changes(&state.current, &changes)?;
            let moves = next.download_dir != state.current.download_dir;
            (next, moves)
        };
        // A task's files are placed, claimed and deleted relative to the download folder of
        // the run (engine/placement.rs, lifecycle.rs): with tasks, another folder at the next
        // start would have them claim, and `task.remove` delete, files under the new folder
        // with their names. Refused until every task records its own folder.
        if moves_downloads && !api.engine.list().is_empty() {
            return Err(ApiError::invalid_params(
                "invalid params: setting \"download_dir\" cannot change while there are tasks: \
                 their files are found relative to it (remove the tasks first)",
            ));
        }
        if let Some(path) = api.settings_file.clone() {
            let saved: Vec<(&str, Value)> =
                changes.iter().map(|(k, v)| (k.name, v.clone())).collect();
            tokio::task::spawn_blocking(move || {
                crate::config::update_settings_file(&path, &saved).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(super::session::join_failure(e)))
            .map_err(|why| {
                ApiError::new(
                    ErrorCode::Internal,
                    format!("settings not saved, nothing changed: {why}"),
                )
            })?;
        }
        let changed: Vec<String> = changes.iter().map(|(k, _)| k.name.to_owned()).collect();
        let view = {
            let mut state = api.settings_state();
            state.current = next.clone();
            state.view(Some(changed.clone()))
        };
        for (key, _) in &changes {
            if let Live(apply) = key.applies {
                apply(&api, &next);
            }
        }
        if changed
            .iter()
            .any(|k| k == "download_bps" || k == "upload_bps")
        {
            api.engine.announce(Event::LimitsUpdated {
                download_bps: next.download_bps,
                upload_bps: next.upload_bps,
            });
        }
        api.engine
            .announce(Event::SettingsUpdated(Box::new(view.clone())));
        Ok(view)
    })
    .await;
    match outcome {
        Ok(Ok(view)) => to_json(&view),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("internal error: {}", super::session::join_failure(e)),
        )),
    }
}

/// `current` with `changes` made, checked as a whole (the rules across keys, such as
/// `tls_cert` and `tls_key` together).
fn with_changes(current: &Settings, changes: &[(&Key, Value)]) -> Result<Settings, ApiError> {
    let internal = |e: serde_json::Error| ApiError::new(ErrorCode::Internal, e.to_string());
    let Value::Object(mut all) = serde_json::to_value(current).map_err(internal)? else {
        return Err(ApiError::new(
            ErrorCode::Internal,
            "settings are not an object",
        ));
    };
    for (key, value) in changes {
        all.insert(key.name.to_owned(), value.clone());
    }
    let next: Settings = serde_json::from_value(Value::Object(all)).map_err(|e| {
        ApiError::invalid_params(format!(
            "invalid params: these settings do not go together: {e}"
        ))
    })?;
    next.validate()
        .map_err(|e| ApiError::invalid_params(format!("invalid params: {e}")))?;
    Ok(next)
}

/// A value of the setting's own type, as serde reads `settings.json`.
fn typed<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, String> {
    let parsed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(parsed).map_err(|e| e.to_string())
}

/// A rate limit: `null` or `0` is unlimited (kept as `null`).
fn limit(value: &Value) -> Result<Value, String> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Ok(Value::Null),
            Some(n) if n <= u64::from(u32::MAX) => Ok(json!(n)),
            Some(n) => Err(format!("{n} is too large")),
            None => Err(format!("{n} is not a non-negative whole number")),
        },
        other => Err(format!("not {}", kind(other))),
    }
}

/// An absolute, plain path.
fn absolute(value: &Value) -> Result<PathBuf, String> {
    let Value::String(text) = value else {
        return Err(format!("not {}", kind(value)));
    };
    let path = PathBuf::from(text);
    crate::config::plain_absolute(&path)?;
    Ok(path)
}

/// An absolute, plain path of a folder that exists.
fn existing_folder(value: &Value) -> Result<PathBuf, String> {
    let path = absolute(value)?;
    if !path.is_dir() {
        return Err(format!("{} is not an existing folder", path.display()));
    }
    Ok(path)
}

fn optional_absolute(value: &Value) -> Result<Value, String> {
    match value {
        Value::Null => Ok(Value::Null),
        _ => absolute(value).map(|p| json!(p)),
    }
}

/// The global seeding goal: the engine checks seeding tasks against it at once.
fn apply_seed_goal(api: &Api, settings: &Settings) {
    api.engine
        .set_global_seed_goal(crate::engine::SeedGoal::from_settings(settings));
}

fn optional_folder(value: &Value) -> Result<Value, String> {
    match value {
        Value::Null => Ok(Value::Null),
        _ => existing_folder(value).map(|p| json!(p)),
    }
}

/// Folders, each at most once.
fn folders(value: &Value) -> Result<Value, String> {
    let Value::Array(items) = value else {
        return Err(format!("not {}", kind(value)));
    };
    let mut seen: Vec<PathBuf> = Vec::with_capacity(items.len());
    for item in items {
        let folder = existing_folder(item)?;
        if seen.contains(&folder) {
            return Err(format!("{} is named twice", folder.display()));
        }
        seen.push(folder);
    }
    Ok(json!(seen))
}

/// What kind of JSON value a client sent, for an error message.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Both limits, as the settings now say.
fn apply_limits(api: &Api, settings: &Settings) {
    api.engine
        .set_limits(settings.download_bps, settings.upload_bps);
}

/// For a setting read where it is used (`watch_dir`, at every look of the watch folder):
/// nothing to do when it changes.
fn read_where_used(_: &Api, _: &Settings) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_a_settings_field_and_no_secret_is_one() {
        let fields = settable_values(&Settings::default());
        for key in KEYS {
            assert!(
                fields.contains_key(key.name),
                "{} is not a setting",
                key.name
            );
            assert!(!SECRETS.contains(&key.name));
        }
        assert_eq!(fields.len(), KEYS.len(), "a key is listed twice");
    }

    #[test]
    fn the_view_hides_the_tokens_and_lists_pending_restarts() {
        let settings = Settings {
            token: Some(crate::config::Secret::new("hunter2-token")),
            ..Settings::default()
        };
        let mut state = SettingsState::new(settings, &["dht"]);
        let text = serde_json::to_string(&state.view(None)).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let view = state.view(None);
        assert!(view.secrets["token"]);
        assert!(!view.secrets["read_only_token"]);
        assert!(view.pending_restart.is_empty());
        state.current.peer_port = 51413;
        state.current.seed = false;
        assert_eq!(state.view(None).pending_restart, vec!["peer_port"]);
    }

    #[test]
    fn checks_normalize_and_refuse() {
        assert_eq!(limit(&json!(0)).unwrap(), Value::Null);
        assert_eq!(limit(&json!(5)).unwrap(), json!(5));
        for bad in [json!(-1), json!(1.5), json!(4_294_967_296u64), json!("5")] {
            assert!(limit(&bad).is_err(), "{bad}");
        }
        assert!(typed::<u16>(&json!(70000)).is_err());
        assert!(typed::<SocketAddr>(&json!("nowhere")).is_err());
        assert!(optional_absolute(&json!("relative/dir")).is_err());
        assert!(optional_absolute(&json!("/a/../b")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().to_str().unwrap();
        assert_eq!(folders(&json!([here])).unwrap(), json!([here]));
        assert!(folders(&json!([here, here])).is_err());
        assert!(folders(&json!([format!("{here}/missing")])).is_err());
        assert!(optional_folder(&json!(format!("{here}/missing"))).is_err());
    }
}
