//! The rules every torrent must pass before librqbit sees it, whether it came as a .torrent from a
//! client or as a magnet's metadata from peers.
//!
//! librqbit trusts the numbers in a torrent: a `piece length` of 0 (or one that wraps to 0)
//! divides by zero, too few piece hashes or lengths that overflow are accepted and "complete"
//! with nothing on disk. Each rule here turns one of those into a clear refusal that names it.

use super::bencode::{self, Value};

/// Largest piece accepted. Real torrents use at most 16-64 MiB; 512 MiB leaves room.
pub const MAX_PIECE_LENGTH: u64 = 512 * 1024 * 1024;
/// Largest torrent accepted: 1 PiB.
pub const MAX_TOTAL_BYTES: u64 = 1 << 50;
/// Most files accepted in one torrent. librqbit opens every file of a torrent at once.
pub const MAX_FILES: usize = 100_000;
/// Longest path component, in bytes (the usual file system limit).
const MAX_COMPONENT_BYTES: usize = 255;
/// Deepest folder nesting accepted inside a torrent.
const MAX_PATH_DEPTH: usize = 32;
/// Length of one SHA-1 piece hash.
const HASH_BYTES: usize = 20;

/// Checks a whole .torrent file (a dictionary with an `info` dictionary).
pub fn check_torrent(bytes: &[u8]) -> Result<(), String> {
    let root = bencode::parse(bytes).map_err(|e| format!("not a valid torrent file: {e}"))?;
    let info = root
        .get("info")
        .ok_or("not a valid torrent file: it has no \"info\" dictionary")?;
    check_info(info)
}

/// Checks an info dictionary.
pub fn check_info(info: &Value<'_>) -> Result<(), String> {
    if !matches!(info, Value::Dict(_)) {
        return Err("invalid torrent: \"info\" is not a dictionary".into());
    }
    let piece_length = piece_length(info)?;
    let name = match info.get("name") {
        Some(Value::Bytes(name)) => name,
        Some(_) => return Err("invalid torrent: \"name\" is not a string".into()),
        None => return Err("invalid torrent: it has no \"name\"".into()),
    };
    check_component(name).map_err(|why| format!("invalid torrent name: {why}"))?;
    let total = match (info.get("length"), info.get("files")) {
        (Some(length), None) => file_length(length, "the file")?,
        (None, Some(Value::List(files))) => files_total(files)?,
        (None, Some(_)) => return Err("invalid torrent: \"files\" is not a list".into()),
        (Some(_), Some(_)) => {
            return Err("invalid torrent: it has both \"length\" and \"files\"".into());
        }
        (None, None) => {
            return Err("invalid torrent: it has neither \"length\" nor \"files\"".into())
        }
    };
    if total == 0 {
        return Err("invalid torrent: it holds no data (total length 0)".into());
    }
    if total > MAX_TOTAL_BYTES {
        return Err(format!(
            "invalid torrent: {total} bytes is more than the 1 PiB limit"
        ));
    }
    let hashes = match info.get("pieces") {
        Some(Value::Bytes(pieces)) if pieces.len() % HASH_BYTES == 0 => pieces.len() / HASH_BYTES,
        Some(Value::Bytes(pieces)) => {
            return Err(format!(
                "invalid torrent: \"pieces\" is {} bytes, not a whole number of 20-byte hashes",
                pieces.len()
            ));
        }
        _ => return Err("invalid torrent: it has no \"pieces\" string".into()),
    };
    let expected = total.div_ceil(piece_length);
    if hashes as u64 != expected {
        return Err(format!(
            "invalid torrent: {hashes} piece hashes, but {total} bytes in pieces of \
             {piece_length} bytes need {expected}"
        ));
    }
    Ok(())
}

fn piece_length(info: &Value<'_>) -> Result<u64, String> {
    let Some(Value::Int(n)) = info.get("piece length") else {
        return Err("invalid torrent: it has no integer \"piece length\"".into());
    };
    if *n <= 0 {
        return Err(format!(
            "invalid torrent: piece length must be greater than 0, not {n}"
        ));
    }
    if *n > i128::from(MAX_PIECE_LENGTH) {
        return Err(format!(
            "invalid torrent: piece length {n} is more than the 512 MiB limit"
        ));
    }
    Ok(*n as u64)
}

fn file_length(value: &Value<'_>, what: &str) -> Result<u64, String> {
    match value {
        Value::Int(n) if *n < 0 => Err(format!("invalid torrent: {what} has a negative length")),
        Value::Int(n) => u64::try_from(*n)
            .map_err(|_| format!("invalid torrent: {what} is longer than 2^64 bytes")),
        _ => Err(format!("invalid torrent: {what} has no integer length")),
    }
}

fn files_total(files: &[Value<'_>]) -> Result<u64, String> {
    if files.is_empty() {
        return Err("invalid torrent: its file list is empty".into());
    }
    if files.len() > MAX_FILES {
        return Err(format!(
            "invalid torrent: {} files is more than the limit of {MAX_FILES}",
            files.len()
        ));
    }
    let mut total: u64 = 0;
    for (index, file) in files.iter().enumerate() {
        let what = format!("file {index}");
        let length = file
            .get("length")
            .ok_or_else(|| format!("invalid torrent: {what} has no length"))?;
        let length = file_length(length, &what)?;
        total = total
            .checked_add(length)
            .ok_or("invalid torrent: the file lengths add up to more than 2^64 bytes")?;
        check_path(file.get("path")).map_err(|why| format!("invalid torrent: {what}: {why}"))?;
    }
    Ok(total)
}

fn check_path(path: Option<&Value<'_>>) -> Result<(), String> {
    let Some(Value::List(components)) = path else {
        return Err("its \"path\" is not a list".into());
    };
    if components.is_empty() {
        return Err("its path is empty".into());
    }
    if components.len() > MAX_PATH_DEPTH {
        return Err(format!(
            "its path is more than {MAX_PATH_DEPTH} folders deep"
        ));
    }
    for component in components {
        let Value::Bytes(component) = component else {
            return Err("a path component is not a string".into());
        };
        check_component(component)?;
    }
    Ok(())
}

/// One file or folder name: something every file system can hold, that stays where it is put.
fn check_component(component: &[u8]) -> Result<(), String> {
    let shown = String::from_utf8_lossy(component);
    if component.is_empty() {
        return Err("an empty name".into());
    }
    if component == b"." || component == b".." {
        return Err(format!("{shown:?} would leave its folder"));
    }
    if component.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
        return Err(format!("{shown:?} contains a path separator or a NUL byte"));
    }
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(format!("a name is longer than {MAX_COMPONENT_BYTES} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An info dictionary in bencode, keys sorted, from parts.
    fn info(piece_length: &str, pieces: usize, body: &str) -> Vec<u8> {
        let hashes = "x".repeat(pieces * 20);
        format!(
            "d4:infod{body}4:name4:data12:piece lengthi{piece_length}e6:pieces{}:{hashes}ee",
            hashes.len()
        )
        .into_bytes()
    }

    fn single(length: &str) -> String {
        format!("6:lengthi{length}e")
    }

    fn check(bytes: Vec<u8>) -> Result<(), String> {
        check_torrent(&bytes)
    }

    #[test]
    fn a_sound_torrent_passes() {
        assert_eq!(check(info("16384", 2, &single("20000"))), Ok(()));
        let files = "5:filesld6:lengthi3e4:pathl1:a1:beed6:lengthi0e4:pathl1:ceee";
        assert_eq!(check(info("16384", 1, files)), Ok(()));
    }

    #[test]
    fn each_rule_names_itself() {
        let cases = [
            (
                info("0", 1, &single("10")),
                "piece length must be greater than 0",
            ),
            (
                info("-16384", 1, &single("10")),
                "piece length must be greater than 0",
            ),
            (info("4611686018427387904", 1, &single("10")), "512 MiB"),
            (info("16384", 1, &single("40000")), "1 piece hashes"),
            (info("16384", 1, &single("9223372036854775807")), "1 PiB"),
            (info("16384", 1, &single("-1")), "negative length"),
            (info("16384", 0, &single("0")), "holds no data"),
            (
                info(
                    "16384",
                    1,
                    "5:filesld6:lengthi18446744073709551615e4:pathl1:aeed6:lengthi1e4:pathl1:beee",
                ),
                "add up to more than 2^64",
            ),
            (
                info("16384", 1, "5:filesld6:lengthi1e4:pathl2:..eee"),
                "leave its folder",
            ),
            (
                info("16384", 1, "5:filesld6:lengthi1e4:pathleee"),
                "path is empty",
            ),
            (
                info("16384", 1, "5:filesld6:lengthi1e4:pathl3:a/beee"),
                "separator",
            ),
            (info("16384", 1, "5:filesle"), "file list is empty"),
        ];
        for (bytes, expected) in cases {
            let err = check(bytes.clone()).unwrap_err();
            assert!(
                err.contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn too_many_files_are_refused() {
        let file = "d6:lengthi1e4:pathl1:aee";
        let files = format!("5:filesl{}e", file.repeat(MAX_FILES + 1));
        let err = check(info("1048576", 1, &files)).unwrap_err();
        assert!(err.contains("more than the limit"), "{err}");
    }

    #[test]
    fn a_torrent_without_info_or_name_is_refused() {
        assert!(check(b"d4:spami1ee".to_vec()).is_err());
        let nameless = b"d4:infod6:lengthi1e12:piece lengthi1e6:pieces20:xxxxxxxxxxxxxxxxxxxxee";
        assert!(check(nameless.to_vec())
            .unwrap_err()
            .contains("no \"name\""));
    }
}
