//! Files already on disk where a new torrent's files go, and whether Magnetar may take them.
//!
//! The rule: Magnetar writes only into files it created, or whose content verifies as this
//! torrent's data. librqbit is told to reuse what it finds (`overwrite`), hash-checks it and
//! writes every piece that does not match over it, so a user's `~/Downloads/notes.txt` that a
//! torrent happens to name would be overwritten, and later deleted by a remove with
//! `delete_files`. So before librqbit sees a torrent, each of its files that exists is read:
//!
//! - missing: Magnetar will create it (and may delete it later);
//! - empty: nothing to lose, it is used, but it is *kept* (never deleted by Magnetar);
//! - not empty, no piece verifies, but every byte is zero: nothing to lose either, used and
//!   kept like an empty one. librqbit creates each file at its full length (zeros) the moment a
//!   task is added, paused or not, so this is what a task removed with `delete_files: false`
//!   before any of its pieces was complete leaves behind: adding that torrent again must work;
//! - not empty, and at least one piece that touches it verifies: it is this torrent's data
//!   (a finished or partial download of it), used and deletable like a created file;
//! - not empty, and no piece verifies: someone else's file. The add is refused, naming it, and
//!   nothing is written.
//!
//! Only pieces that lie within the file's current length can verify; the check stops at the
//! first that does, so a real partial download is accepted after reading little of it, while
//! an unrelated file is read once, to the end.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use librqbit::torrent_from_bytes;
use sha1::{Digest, Sha1};

use super::placement::Layout;

/// What the survey found that must be remembered: files in the way that were empty (used, but
/// never to be deleted), relative to the download folder.
pub type Kept = Vec<PathBuf>;

/// One file of the torrent as a span of its bytes, and where it is on disk (`None`: padding).
struct Span {
    offset: u64,
    len: u64,
    path: Option<PathBuf>,
}

/// Surveys the files of the torrent `bytes` (laid out as `layout`) under `download_dir`.
/// Blocking: it reads files. `Err` is the message for the client.
pub fn survey(download_dir: &Path, bytes: &[u8], layout: &Layout) -> Result<Kept, String> {
    let meta = torrent_from_bytes(bytes).map_err(|e| format!("not a valid torrent file: {e:#}"))?;
    let info = meta
        .info
        .data
        .clone()
        .validate()
        .map_err(|e| format!("invalid torrent info: {e:#}"))?;
    let piece_length = u64::from(info.info().piece_length);
    let hashes: &[u8] = info.info().pieces.as_ref();
    let mut spans = Vec::new();
    let mut offset = 0u64;
    let mut on_disk = layout.files.iter();
    for file in info.iter_file_details() {
        let path = if file.attrs().padding {
            None
        } else {
            Some(download_dir.join(on_disk.next().ok_or("the torrent's files do not match")?))
        };
        spans.push(Span {
            offset,
            len: file.len,
            path,
        });
        offset = offset.saturating_add(file.len);
    }
    let torrent = Torrent {
        spans: &spans,
        piece_length,
        total: offset,
        hashes,
    };
    let mut kept = Vec::new();
    for span in &spans {
        let Some(path) = &span.path else { continue };
        let on_disk_len = match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot look at {}: {e}", path.display())),
            Ok(meta) if !meta.is_file() => {
                return Err(format!(
                    "refused: {} is in the way (it is not a plain file); move it, or add this \
                     torrent to another download folder",
                    path.display()
                ));
            }
            Ok(meta) => meta.len(),
        };
        if on_disk_len == 0 {
            kept.push(path.strip_prefix(download_dir).unwrap_or(path).to_owned());
            continue;
        }
        if !torrent.any_piece_verifies(span, on_disk_len) {
            if all_zeros(path) {
                kept.push(path.strip_prefix(download_dir).unwrap_or(path).to_owned());
                continue;
            }
            return Err(format!(
                "refused: {} is in the way: it is not this torrent's data (no piece of it \
                 verifies), and Magnetar never writes over a file it did not create; move or \
                 rename it, or add this torrent to another download folder",
                path.display()
            ));
        }
    }
    Ok(kept)
}

/// What a piece check needs of a torrent.
struct Torrent<'a> {
    spans: &'a [Span],
    piece_length: u64,
    total: u64,
    hashes: &'a [u8],
}

impl Torrent<'_> {
    /// Does any piece that lies within the first `on_disk_len` bytes of `span` verify?
    fn any_piece_verifies(&self, span: &Span, on_disk_len: u64) -> bool {
        if self.piece_length == 0 || span.len == 0 {
            return false;
        }
        let readable_end = span.offset + span.len.min(on_disk_len);
        let first = span.offset / self.piece_length;
        let last = (span.offset + span.len - 1) / self.piece_length;
        (first..=last)
            .take_while(|piece| piece * self.piece_length < readable_end)
            .any(|piece| self.piece_verifies(piece))
    }

    fn piece_verifies(&self, piece: u64) -> bool {
        let start = piece * self.piece_length;
        let end = (start + self.piece_length).min(self.total);
        let Ok(index) = usize::try_from(piece) else {
            return false;
        };
        let Some(expected) = self.hashes.get(index * 20..index * 20 + 20) else {
            return false;
        };
        let mut hasher = Sha1::new();
        for span in self.spans {
            let (from, to) = (start.max(span.offset), end.min(span.offset + span.len));
            if from >= to {
                continue;
            }
            let ok = match &span.path {
                // BEP 47 padding: zeros, never on disk.
                None => {
                    feed_zeros(&mut hasher, to - from);
                    true
                }
                Some(path) => feed_file(&mut hasher, path, from - span.offset, to - from),
            };
            if !ok {
                return false;
            }
        }
        hasher.finalize().as_slice() == expected
    }
}

/// Is every byte of `path` zero? (False if it cannot be read to the end.)
fn all_zeros(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return true,
            Ok(n) if buffer[..n].iter().all(|b| *b == 0) => {}
            Ok(_) | Err(_) => return false,
        }
    }
}

fn feed_zeros(hasher: &mut Sha1, mut len: u64) {
    let zeros = [0u8; 8192];
    while len > 0 {
        let n = len.min(zeros.len() as u64) as usize;
        hasher.update(&zeros[..n]);
        len -= n as u64;
    }
}

/// Hashes `len` bytes of `path` from `at`; false if the file is missing or shorter.
fn feed_file(hasher: &mut Sha1, path: &Path, at: u64, len: u64) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    if file.seek(SeekFrom::Start(at)).is_err() {
        return false;
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let want = left.min(buffer.len() as u64) as usize;
        match file.read(&mut buffer[..want]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                left -= n as u64;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::parse_torrent;
    use super::super::SourceKind;
    use super::*;

    /// A single-file torrent of `content` named `name`, piece length 16 KiB.
    fn torrent(name: &str, content: &[u8]) -> (Vec<u8>, Layout) {
        let piece = 16 * 1024;
        let hashes: Vec<u8> = content
            .chunks(piece)
            .flat_map(|chunk| Sha1::digest(chunk).to_vec())
            .collect();
        let mut info = Vec::new();
        info.extend_from_slice(
            format!("d6:lengthi{}e4:name{}:{}", content.len(), name.len(), name).as_bytes(),
        );
        info.extend_from_slice(
            format!("12:piece lengthi{piece}e6:pieces{}:", hashes.len()).as_bytes(),
        );
        info.extend_from_slice(&hashes);
        info.push(b'e');
        let bytes = [b"d4:info".to_vec(), info, b"e".to_vec()].concat();
        let source = parse_torrent(bytes.clone()).unwrap();
        let SourceKind::Torrent { layout, .. } = source.kind else {
            unreachable!()
        };
        (bytes, layout)
    }

    #[test]
    fn a_file_in_the_way_is_refused_unless_it_is_the_torrents_data() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (bytes, layout) = torrent("notes.txt", &content);
        // Nothing there: fine, nothing kept.
        assert_eq!(survey(dir.path(), &bytes, &layout), Ok(vec![]));
        // Someone else's file: refused, naming it.
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"my own notes, not a torrent").unwrap();
        let refused = survey(dir.path(), &bytes, &layout).unwrap_err();
        assert!(
            refused.contains("notes.txt") && refused.contains("in the way"),
            "{refused}"
        );
        // An empty file: used, but kept.
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            survey(dir.path(), &bytes, &layout),
            Ok(vec![PathBuf::from("notes.txt")])
        );
        // A partial download (the second piece only, the rest zeros): accepted.
        let mut partial = vec![0u8; content.len()];
        partial[16_384..32_768].copy_from_slice(&content[16_384..32_768]);
        std::fs::write(&path, &partial).unwrap();
        assert_eq!(survey(dir.path(), &bytes, &layout), Ok(vec![]));
        // The first piece only, and the file cut short: accepted too.
        std::fs::write(&path, &content[..16_384]).unwrap();
        assert_eq!(survey(dir.path(), &bytes, &layout), Ok(vec![]));
        // Zeros at the full length (what librqbit leaves of a task removed before any of its
        // pieces was complete): used, but kept, like an empty file.
        std::fs::write(&path, vec![0u8; content.len()]).unwrap();
        assert_eq!(
            survey(dir.path(), &bytes, &layout),
            Ok(vec![PathBuf::from("notes.txt")])
        );
        // A single non-zero byte among the zeros is someone's data: refused.
        let mut almost = vec![0u8; content.len()];
        almost[30_000] = 1;
        std::fs::write(&path, &almost).unwrap();
        assert!(survey(dir.path(), &bytes, &layout).is_err());
        // A folder where the file goes: refused.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(survey(dir.path(), &bytes, &layout).is_err());
    }
}
