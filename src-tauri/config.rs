//! Settings: what the command line, the settings file and the platform defaults say, merged in
//! that order of precedence, and validated once at start.
//!
//! Where things live (from `directories`): the settings file is `settings.json` in the config dir,
//! session state and the API token in the data dir, downloads in the user's Downloads folder.
//! `--data-dir DIR` puts all three of settings, state and token in `DIR`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::{write_atomically, Access};

/// A secret (the API token): readable by code that needs it through [`Secret::expose`], and
/// never shown by `Debug`, so it cannot leak into a log line or a panic message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The default API address: loopback only, so nothing is exposed until the user asks for it.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7345";
/// The default largest WebSocket message a client may send.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// The default cap on simultaneous WebSocket connections. An idle connection costs one task, a
/// socket and a bus receiver (events are shared, not copied), so a thousand is cheap.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The settings file, `settings.json`. Every field is optional in the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address of the HTTP/WebSocket API.
    pub listen: SocketAddr,
    /// Where downloads go; defaults to the user's Downloads folder.
    pub download_dir: Option<PathBuf>,
    /// Port for incoming BitTorrent peers; 0 lets the system pick.
    pub peer_port: u16,
    /// API token required from non-loopback clients.
    pub token: Option<Secret>,
    pub dht: bool,
    pub upnp: bool,
    pub lsd: bool,
    /// Keep seeding once complete.
    pub seed: bool,
    /// Extra allowed WebSocket `Origin`s (e.g. "https://my.host").
    pub allowed_origins: Vec<String>,
    /// Extra allowed `Host` names (e.g. "nas.local"), besides loopback names and literal IPs.
    pub allowed_hosts: Vec<String>,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    /// A second token that allows only the read methods (`task.list`, `task.getStatus`,
    /// `task.getMetadata`, `session.info`) to clients from other machines.
    pub read_only_token: Option<Secret>,
    /// Let clients from other machines call the methods that change settings, paths or limits.
    pub remote_admin: bool,
    /// Clients on this machine must present the token too (a machine shared with other users,
    /// any of whom can reach loopback). Off by default: the desktop window and local scripts
    /// are trusted.
    pub loopback_needs_token: bool,
    /// How long an address that failed [`LOCKOUT_FAILURES`] tokens in a row is locked out.
    pub lockout_seconds: u64,
    /// Reverse proxies whose `X-Forwarded-For` header is believed. From any other peer the
    /// header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `task.add` requests allowed per minute from one remote address (loopback: no limit).
    pub remote_adds_per_minute: u32,
    /// Bytes of events that may wait for one slow client before it is resynced.
    pub max_queue_bytes: usize,
    /// Serve TLS with this PEM certificate (chain) and key.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate made on first use (kept in the data dir).
    pub tls_self_signed: bool,
    /// Global download limit in bytes per second (`session.setLimits`); none: unlimited.
    pub download_bps: Option<u32>,
    /// Global upload limit in bytes per second; none: unlimited.
    pub upload_bps: Option<u32>,
    /// Absolute folders under which a remote `task.add` may name its `download_dir`; empty:
    /// the download folder only.
    pub download_roots: Vec<PathBuf>,
    /// An absolute folder watched for `.torrent` and `.magnet` files to add; none: no watching.
    pub watch_dir: Option<PathBuf>,
    /// The session's labels (`session.setLabels`).
    pub labels: Vec<crate::protocol::Label>,
    /// Seeding goal: a seeding task stops (state 3) once its ratio reaches this; none: no
    /// limit. A label's or the task's own goal (`task.setSeedGoal`) comes first.
    pub seed_ratio_limit: Option<f64>,
    /// Seeding goal: a task stops once it has seeded this many minutes in all; none: no limit.
    pub seed_time_limit_minutes: Option<u64>,
    /// Seeding goal: a seeding task stops once it has uploaded nothing for this many minutes;
    /// none: no limit.
    pub seed_idle_limit_minutes: Option<u64>,
}

/// The largest `seed_ratio_limit`.
pub const MAX_SEED_RATIO: f64 = 1_000_000.0;
/// The largest seeding time limits, in minutes (about a hundred years).
pub const MAX_SEED_MINUTES: u64 = 52_560_000;

/// Failed tokens in a row from one address before it is locked out.
pub const LOCKOUT_FAILURES: u32 = 5;
/// The longest `lockout_seconds`: one day. Longer would let a mistyped token shut a user out for
/// good, and keep the lockout table's records (and their memory) for as long.
pub const MAX_LOCKOUT_SECONDS: u64 = 24 * 3600;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            download_dir: None,
            peer_port: 0,
            token: None,
            dht: true,
            upnp: true,
            lsd: true,
            seed: true,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            read_only_token: None,
            remote_admin: false,
            loopback_needs_token: false,
            lockout_seconds: 300,
            trusted_proxies: Vec::new(),
            remote_adds_per_minute: 120,
            max_queue_bytes: 8 * 1024 * 1024,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            download_bps: None,
            upload_bps: None,
            download_roots: Vec::new(),
            watch_dir: None,
            labels: Vec::new(),
            seed_ratio_limit: None,
            seed_time_limit_minutes: None,
            seed_idle_limit_minutes: None,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid settings in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("no home directory: pass --data-dir and --download-dir")]
    NoHome,
}

/// Where the settings file and the data live.
#[derive(Debug, Clone)]
pub struct Paths {
    pub settings_file: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// `--data-dir` holds everything; otherwise the platform's config and data dirs.
    pub fn resolve(data_dir: Option<&Path>) -> Result<Paths, ConfigError> {
        if let Some(dir) = data_dir {
            return Ok(Paths {
                settings_file: dir.join("settings.json"),
                data_dir: dir.to_owned(),
            });
        }
        let dirs = directories::ProjectDirs::from("", "", "magnetar").ok_or(ConfigError::NoHome)?;
        Ok(Paths {
            settings_file: dirs.config_dir().join("settings.json"),
            data_dir: dirs.data_dir().to_owned(),
        })
    }

    pub fn token_file(&self) -> PathBuf {
        self.data_dir.join("token")
    }
}

impl Settings {
    /// Reads the settings file; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "max_connections must be at least 1".into(),
            ));
        }
        if self.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_message_bytes must be at least 1024".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together: set both, or neither".into(),
            ));
        }
        if self.tls_self_signed && self.tls_cert.is_some() {
            return Err(ConfigError::Invalid(
                "choose tls_cert/tls_key or a self-signed certificate, not both".into(),
            ));
        }
        if self.max_queue_bytes < 64 * 1024 {
            return Err(ConfigError::Invalid(
                "max_queue_bytes must be at least 65536".into(),
            ));
        }
        if self.lockout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "lockout_seconds must be at least 1 (a lockout of 0 seconds would let an \
                 address guess tokens without end)"
                    .into(),
            ));
        }
        if self.lockout_seconds > MAX_LOCKOUT_SECONDS {
            return Err(ConfigError::Invalid(format!(
                "lockout_seconds must be at most {MAX_LOCKOUT_SECONDS} (one day), not {}",
                self.lockout_seconds
            )));
        }
        let empty = |t: &Option<Secret>| t.as_ref().is_some_and(|t| t.expose().trim().is_empty());
        if empty(&self.read_only_token) {
            return Err(ConfigError::Invalid(
                "read_only_token must not be empty".into(),
            ));
        }
        if self.read_only_token.is_some() && self.read_only_token == self.token {
            return Err(ConfigError::Invalid(
                "read_only_token must differ from token".into(),
            ));
        }
        if empty(&self.token) {
            return Err(ConfigError::Invalid("token must not be empty".into()));
        }
        for root in &self.download_roots {
            plain_absolute(root)
                .map_err(|why| ConfigError::Invalid(format!("download_roots: {why}")))?;
        }
        if let Some(dir) = &self.watch_dir {
            plain_absolute(dir).map_err(|why| ConfigError::Invalid(format!("watch_dir: {why}")))?;
        }
        let mut names = std::collections::BTreeSet::new();
        for label in &self.labels {
            crate::protocol::check_label_name(&label.name)
                .map_err(|why| ConfigError::Invalid(format!("labels: {why}")))?;
            if !names.insert(label.name.to_lowercase()) {
                return Err(ConfigError::Invalid(format!(
                    "labels: {:?} is listed twice",
                    label.name
                )));
            }
            if label
                .folder
                .as_ref()
                .is_some_and(|f| !Path::new(f).is_absolute())
            {
                return Err(ConfigError::Invalid(format!(
                    "labels: the folder of {:?} must be an absolute path",
                    label.name
                )));
            }
        }
        if let Some(ratio) = self.seed_ratio_limit {
            if !(0.0..=MAX_SEED_RATIO).contains(&ratio) {
                return Err(ConfigError::Invalid(format!(
                    "seed_ratio_limit must be between 0 and {MAX_SEED_RATIO}, or null, not {ratio}"
                )));
            }
        }
        for (key, minutes) in [
            ("seed_time_limit_minutes", self.seed_time_limit_minutes),
            ("seed_idle_limit_minutes", self.seed_idle_limit_minutes),
        ] {
            if minutes.is_some_and(|m| m > MAX_SEED_MINUTES) {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be at most {MAX_SEED_MINUTES} minutes, or null"
                )));
            }
        }
        Ok(())
    }

    /// The download folder: the setting, else the user's Downloads folder, else `~/Downloads`.
    pub fn resolved_download_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(dir) = &self.download_dir {
            return Ok(dir.clone());
        }
        let user = directories::UserDirs::new().ok_or(ConfigError::NoHome)?;
        Ok(user
            .download_dir()
            .map(Path::to_owned)
            .unwrap_or_else(|| user.home_dir().join("Downloads")))
    }
}

/// Checks that `path` is absolute and plain: no `.` or `..` part, so that "under this folder"
/// means what it says when compared part by part.
pub fn plain_absolute(path: &Path) -> Result<(), String> {
    use std::path::Component;
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
    {
        return Err(format!(
            "{} has a \".\" or \"..\" part: name the folder itself",
            path.display()
        ));
    }
    Ok(())
}

/// Sets `changes` (top-level keys) in the settings file at `path`, keeping every other key as
/// the user wrote it; creates the file if missing. Written atomically and durably.
pub fn update_settings_file(
    path: &Path,
    changes: &[(&str, serde_json::Value)],
) -> Result<(), ConfigError> {
    let mut object = match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => {
                return Err(ConfigError::Invalid(format!(
                    "{} is not a JSON object",
                    path.display()
                )))
            }
            Err(source) => {
                return Err(ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    for (key, value) in changes {
        object.insert((*key).to_owned(), value.clone());
    }
    let mut bytes = serde_json::to_vec_pretty(&object).unwrap_or_default();
    bytes.push(b'\n');
    write_atomically(path, &bytes, Access::Private).map_err(|source| ConfigError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The API token: the given one, else the saved one; when none exists and `required`, a new
/// random token is generated and saved. Returns the token and whether it was just generated.
pub fn resolve_token(
    given: Option<Secret>,
    token_file: &Path,
    required: bool,
) -> Result<(Option<Secret>, bool), ConfigError> {
    if let Some(token) = given {
        return Ok((Some(token), false));
    }
    if let Ok(saved) = std::fs::read_to_string(token_file) {
        let saved = saved.trim();
        if !saved.is_empty() {
            return Ok((Some(Secret(saved.to_owned())), false));
        }
    }
    if !required {
        return Ok((None, false));
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConfigError::Invalid(format!("no randomness for a token: {e}")))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_atomically(token_file, token.as_bytes(), Access::Private).map_err(|source| {
        ConfigError::Write {
            path: token_file.to_owned(),
            source,
        }
    })?;
    Ok((Some(Secret(token)), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_partial_file_merges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        std::fs::write(&path, r#"{"dht": false, "peer_port": 51413}"#).unwrap();
        let settings = Settings::load(&path).unwrap();
        assert!(!settings.dht);
        assert_eq!(settings.peer_port, 51413);
        assert_eq!(settings.listen, DEFAULT_LISTEN.parse().unwrap());
    }

    #[test]
    fn lockout_seconds_must_be_between_one_second_and_one_day() {
        let with = |lockout_seconds| Settings {
            lockout_seconds,
            ..Settings::default()
        };
        for bad in [0, 86_401, u64::MAX] {
            let err = with(bad).validate().unwrap_err().to_string();
            assert!(err.contains("lockout_seconds must be"), "{bad}: {err}");
        }
        for good in [1, 300, 86_400] {
            with(good).validate().unwrap();
        }
        // From the file too: the value the server would have panicked on.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"lockout_seconds": 18446744073709551615}"#).unwrap();
        let err = Settings::load(&path).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("at most 86400"), "{err}");
    }

    #[test]
    fn seeding_goals_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(
            &path,
            r#"{"seed_ratio_limit": 1.5, "seed_time_limit_minutes": 60, "seed_idle_limit_minutes": null}"#,
        )
        .unwrap();
        let settings = Settings::load(&path).unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.seed_ratio_limit, Some(1.5));
        assert_eq!(settings.seed_time_limit_minutes, Some(60));
        assert_eq!(settings.seed_idle_limit_minutes, None);
        for (bad, key) in [
            (r#"{"seed_ratio_limit": -1}"#, "seed_ratio_limit"),
            (r#"{"seed_ratio_limit": 2e6}"#, "seed_ratio_limit"),
            (
                r#"{"seed_idle_limit_minutes": 99999999999}"#,
                "seed_idle_limit_minutes",
            ),
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = Settings::load(&path).unwrap().validate().unwrap_err();
            assert!(err.to_string().contains(key), "{bad}: {err}");
        }
        std::fs::write(&path, r#"{"seed_time_limit_minutes": -5}"#).unwrap();
        assert!(Settings::load(&path).is_err());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let settings = Settings {
            token: Some(Secret::new("hunter2-token")),
            ..Settings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(!format!("{settings:#?}").contains("hunter2"));
    }

    #[test]
    fn bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"dht": "yes"}"#).unwrap();
        let err = Settings::load(&path).unwrap_err().to_string();
        assert!(err.contains("settings.json"), "{err}");
    }

    #[test]
    fn token_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        assert_eq!(resolve_token(None, &file, false).unwrap(), (None, false));
        let (token, generated) = resolve_token(None, &file, true).unwrap();
        assert!(generated);
        let token = token.unwrap();
        assert_eq!(token.expose().len(), 48);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the token file is private");
        }
        assert_eq!(
            resolve_token(None, &file, true).unwrap(),
            (Some(token), false)
        );
        let given = resolve_token(Some(Secret::new("mine")), &file, true).unwrap();
        assert_eq!(given, (Some(Secret::new("mine")), false));
    }
}
