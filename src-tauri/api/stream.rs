//! `stream.url` and the signed links of the stream endpoint (`GET /stream/{task_id}/{file}`).
//!
//! Media players (VLC, mpv, a TV, a `<video>` element) cannot send an `Authorization` header,
//! and the API token must never sit in a URL that is copied around. So `stream.url` hands out a
//! link signed for one file: `?st=EXPIRES.ACCESS.MAC`, where `EXPIRES` is a Unix time in
//! seconds, `ACCESS` is `w` when the caller that asked may change tasks (a paused task is then
//! resumed for the stream) and `r` otherwise, and `MAC` is HMAC-SHA256 over the task id, the
//! file index, the expiry and the access, in hex. The key is 32 random bytes made on first use
//! and kept in the data folder (`stream.key`, mode 0600): it is never the API token, and
//! deleting the file (with the server stopped) revokes every link.
//!
//! A link works for its task and file only, until it expires ([`DEFAULT_LIFETIME`], or less if
//! asked); anything else about it is "invalid or expired", without saying which.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::tasks::to_json;
use super::{Api, ApiError, Caller};
use crate::protocol::{ErrorCode, Reply, TaskId};

pub use crate::engine::{FileStream, StreamError, StreamFile, MAX_STREAMS};

/// How long a link from `stream.url` works unless asked for less: 12 hours, a long film and
/// then some, short enough that a leaked link dies the same day.
pub const DEFAULT_LIFETIME: u64 = 12 * 60 * 60;
/// The query parameter that carries a signed link.
pub const LINK_PARAM: &str = "st";

/// The stream key: loaded (or made) on first use.
#[derive(Default)]
pub struct StreamKey {
    key: Mutex<Option<[u8; 32]>>,
}

impl StreamKey {
    fn get(&self, folder: &Path) -> Result<[u8; 32], String> {
        let mut key = self.key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = *key {
            return Ok(key);
        }
        let loaded = load_or_make_key(&folder.join("stream.key"))?;
        *key = Some(loaded);
        Ok(loaded)
    }
}

fn load_or_make_key(path: &PathBuf) -> Result<[u8; 32], String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Some(key) = parse_hex_32(text.trim()) {
            return Ok(key);
        }
        tracing::warn!("{} is not a key: making a new one", path.display());
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness for the stream key: {e}"))?;
    crate::durable::write_atomically(path, hex(&key).as_bytes(), crate::durable::Access::Private)
        .map_err(|e| format!("cannot save the stream key in {}: {e}", path.display()))?;
    Ok(key)
}

fn parse_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`, from the RustCrypto `hmac` crate.
fn mac_of(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac
}

fn signed_message(task_id: &str, file: usize, expires: u64, access: char) -> Vec<u8> {
    format!("magnetar-stream-1\n{task_id}\n{file}\n{expires}\n{access}").into_bytes()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The value of `st` for a link to `file` of `task_id` until `expires`.
fn sign(key: &[u8; 32], task_id: &str, file: usize, expires: u64, can_write: bool) -> String {
    let access = if can_write { 'w' } else { 'r' };
    let mac = mac_of(key, &signed_message(task_id, file, expires, access)).finalize();
    format!("{expires}.{access}.{}", hex(&mac.into_bytes()))
}

/// Checks `st` for `file` of `task_id` at `now`: `Some(can_write)` when it is good.
fn check(key: &[u8; 32], task_id: &str, file: usize, st: &str, now: u64) -> Option<bool> {
    let mut parts = st.split('.');
    let (expires, access, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || expires.len() > 20 || !expires.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let expires: u64 = expires.parse().ok()?;
    let access = match access {
        "w" => 'w',
        "r" => 'r',
        _ => return None,
    };
    let given = parse_hex_32(mac)?;
    // Compared in constant time by `verify_slice`.
    let same = mac_of(key, &signed_message(task_id, file, expires, access))
        .verify_slice(&given)
        .is_ok();
    (same && now < expires).then_some(access == 'w')
}

/// `stream.url {task_id, file_index, lifetime_seconds?}`: a link that plays the file in any
/// player, signed for this file only.
pub async fn url(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with task_id and file_index",
        ));
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| !["task_id", "file_index", "lifetime_seconds"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected task_id, file_index, lifetime_seconds"
        )));
    }
    let task_id = match params.get("task_id") {
        Some(Value::String(id)) => TaskId::from_client(id),
        _ => return Err(ApiError::invalid_params("task_id: must be a string")),
    };
    let file = number(&params, "file_index", u32::MAX as u64)?
        .ok_or_else(|| ApiError::invalid_params("file_index: missing"))? as usize;
    let lifetime =
        number(&params, "lifetime_seconds", DEFAULT_LIFETIME)?.unwrap_or(DEFAULT_LIFETIME);
    if lifetime == 0 {
        return Err(ApiError::invalid_params(format!(
            "lifetime_seconds: must be from 1 to {DEFAULT_LIFETIME}"
        )));
    }
    let stream_file = api
        .engine
        .stream_file(&task_id, file)
        .map_err(refusal_of_stream)?;
    let key = api.stream_key_bytes()?;
    let expires = now() + lifetime;
    let st = sign(&key, task_id.as_str(), file, expires, caller.can_write);
    let path = format!("/stream/{}/{file}?{LINK_PARAM}={st}", task_id.as_str());
    let url = api
        .listen_urls
        .first()
        .map(|ws| http_base(ws) + &path)
        .unwrap_or_else(|| path.clone());
    to_json(&json!({
        "url": url,
        "path": path,
        "expires": expires,
        "name": stream_file.path,
        "size": stream_file.size,
    }))
}

/// `stream.openInPlayer {task_id, file_index}`: plays the file in the default media player of
/// the machine the server runs on (the desktop app only), for a client on that machine only,
/// as `task.openFolder`. The player is given a one-entry playlist (`.m3u`, which every desktop
/// media player opens) holding a signed link to the stream, not the file on disk: a file still
/// downloading has holes that a player would read as garbage, while the stream waits for its
/// pieces and fetches them first. The playlist is written in the data folder
/// (`players/TASK-FILE.m3u`, mode 0600), replaced on every call.
pub async fn open_in_player(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with task_id and file_index",
        ));
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| !["task_id", "file_index"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected task_id, file_index"
        )));
    }
    let task_id = match params.get("task_id") {
        Some(Value::String(id)) => TaskId::from_client(id),
        _ => return Err(ApiError::invalid_params("task_id: must be a string")),
    };
    let file = number(&params, "file_index", u32::MAX as u64)?
        .ok_or_else(|| ApiError::invalid_params("file_index: missing"))? as usize;
    if caller.is_remote() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "unauthorized: stream.openInPlayer starts a player on the server's own desktop, so \
             only clients on that machine may call it (others: stream.url)",
        ));
    }
    let stream_file = api
        .engine
        .stream_file(&task_id, file)
        .map_err(refusal_of_stream)?;
    let Some(opener) = api.folder_opener() else {
        return Err(ApiError::invalid_params(
            "this server has no desktop to start a player on (it runs headless): use \
             stream.url and open the link in a player",
        ));
    };
    let key = api.stream_key_bytes()?;
    let st = sign(
        &key,
        task_id.as_str(),
        file,
        now() + DEFAULT_LIFETIME,
        caller.can_write,
    );
    let path = format!("/stream/{}/{file}?{LINK_PARAM}={st}", task_id.as_str());
    let url = api
        .listen_urls
        .first()
        .map(|ws| http_base(ws) + &path)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the server has no address"))?;
    let playlist = write_playlist(
        api.engine.state_dir(),
        &format!("{}-{file}", task_id.as_str()),
        &stream_file.path,
        &url,
    )
    .map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("cannot write the playlist: {e}"),
        )
    })?;
    opener(&playlist).map_err(|why| {
        ApiError::new(
            ErrorCode::Internal,
            format!("could not start a player on {}: {why}", playlist.display()),
        )
    })?;
    to_json(&json!({ "playlist": playlist, "url": url }))
}

/// Writes `players/STEM.m3u` under `data_dir`: the title (its control characters, line breaks
/// included, made spaces: a torrent's file name must not add entries) and the link; 0600 in a
/// 0700 folder, since the link plays the file for as long as it lives.
fn write_playlist(data_dir: &Path, stem: &str, title: &str, url: &str) -> std::io::Result<PathBuf> {
    let title: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let path = data_dir.join("players").join(format!("{stem}.m3u"));
    let text = format!("#EXTM3U\n#EXTINF:-1,{title}\n{url}\n");
    crate::durable::write_atomically(&path, text.as_bytes(), crate::durable::Access::Private)?;
    Ok(path)
}

/// A stream refusal as an API error: unknown task `-4`, anything else `-2`.
fn refusal_of_stream(e: StreamError) -> ApiError {
    match e {
        StreamError::NotFound(_) => ApiError::new(ErrorCode::TaskNotFound, e.to_string()),
        StreamError::NoFile(why) => ApiError::invalid_params(format!("file_index: {why}")),
        _ => ApiError::invalid_params(e.to_string()),
    }
}

/// A whole number from 0 to `max` in `params[name]`, if present.
fn number(params: &Map<String, Value>, name: &str, max: u64) -> Result<Option<u64>, ApiError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| *n <= max)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_params(format!("{name}: must be a whole number from 0 to {max}"))
            }),
    }
}

/// `ws://host:port/ws` to `http://host:port` (`wss` to `https`).
fn http_base(ws: &str) -> String {
    let base = ws.strip_suffix("/ws").unwrap_or(ws);
    if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        base.to_owned()
    }
}

impl Api {
    fn stream_key_bytes(&self) -> Result<[u8; 32], ApiError> {
        self.stream_key
            .get(self.engine.state_dir())
            .map_err(|e| ApiError::new(ErrorCode::Internal, e))
    }

    /// Checks a signed link's `st` for `file` of `task_id`: `Some(can_write)` when it is good,
    /// `None` for anything else (tampered, another file, expired, no key).
    pub fn check_stream_link(&self, task_id: &TaskId, file: usize, st: &str) -> Option<bool> {
        let key = self.stream_key_bytes().ok()?;
        check(&key, task_id.as_str(), file, st, now())
    }

    /// The file at `file` of `task_id`, for the stream endpoint's headers.
    pub fn stream_file(&self, task_id: &TaskId, file: usize) -> Result<StreamFile, StreamError> {
        self.engine.stream_file(task_id, file)
    }

    /// Opens a stream (see `engine/streaming.rs`); `may_resume`: the caller may change tasks.
    pub async fn open_stream(
        &self,
        task_id: &TaskId,
        file: usize,
        may_resume: bool,
    ) -> Result<FileStream, StreamError> {
        self.engine.open_stream(task_id, file, may_resume).await
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.engine.open_streams()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A torrent's file name is the author's: a line break in it must not add a playlist
    /// entry (a second URL, a local file) for the player to open.
    #[test]
    fn a_file_name_cannot_add_playlist_entries() {
        let dir = tempfile::tempdir().unwrap();
        let title = "film.mkv\nfile:///etc/passwd\r\n#EXTINF:-1,x\u{85}y";
        let path =
            write_playlist(dir.path(), "t-0", title, "http://127.0.0.1:1/stream/t/0").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "#EXTM3U",
                "#EXTINF:-1,film.mkv file:///etc/passwd  #EXTINF:-1,x y",
                "http://127.0.0.1:1/stream/t/0"
            ]
        );
    }

    /// RFC 4231's test cases 1, 2 and 6: the links are signed with HMAC-SHA256.
    #[test]
    fn hmac_matches_rfc_4231() {
        let hmac_sha256_any =
            |key: &[u8], message: &[u8]| mac_of(key, message).finalize().into_bytes();
        let mac = hmac_sha256_any(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex(&mac),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let mac = hmac_sha256_any(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than a block is hashed first.
        let mac = hmac_sha256_any(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_link_works_for_its_file_until_it_expires() {
        let key = [7u8; 32];
        let id = "a".repeat(40);
        let st = sign(&key, &id, 2, 1000, false);
        assert_eq!(check(&key, &id, 2, &st, 999), Some(false));
        assert_eq!(check(&key, &id, 2, &st, 1000), None, "expired");
        assert_eq!(check(&key, &id, 1, &st, 999), None, "another file");
        assert_eq!(
            check(&key, &"b".repeat(40), 2, &st, 999),
            None,
            "another task"
        );
        assert_eq!(check(&[8u8; 32], &id, 2, &st, 999), None, "another key");
        let writer = sign(&key, &id, 2, 1000, true);
        assert_eq!(check(&key, &id, 2, &writer, 999), Some(true));
        // Tampered: a later expiry, write access, a flipped digit, extra parts.
        let later = st.replacen("1000", "2000", 1);
        assert_eq!(check(&key, &id, 2, &later, 999), None);
        assert_eq!(
            check(&key, &id, 2, &st.replacen(".r.", ".w.", 1), 999),
            None
        );
        let mut flipped = st.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            check(&key, &id, 2, &String::from_utf8(flipped).unwrap(), 999),
            None
        );
        assert_eq!(check(&key, &id, 2, &format!("{st}.x"), 999), None);
        assert_eq!(check(&key, &id, 2, "", 999), None);
        assert_eq!(check(&key, &id, 2, "+1000.r.00", 999), None);
    }

    #[test]
    fn the_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = StreamKey::default().get(dir.path()).unwrap();
        let again = StreamKey::default().get(dir.path()).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("stream.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn listen_urls_become_http_bases() {
        assert_eq!(http_base("ws://127.0.0.1:1/ws"), "http://127.0.0.1:1");
        assert_eq!(http_base("wss://[::1]:2/ws"), "https://[::1]:2");
    }
}
