//! Test content and .torrent files built from it, byte by byte, so that a test controls every
//! field (name, files, "created by", comment, trackers) and knows the exact info hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

/// A bencode value.
pub enum Bencode {
    Int(i64),
    /// An integer written as given, for values no i64 holds (hostile torrents).
    IntText(String),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    Dict(BTreeMap<Vec<u8>, Bencode>),
}

impl Bencode {
    pub fn str(s: &str) -> Bencode {
        Bencode::Bytes(s.as_bytes().to_vec())
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(i) => out.extend(format!("i{i}e").into_bytes()),
            Bencode::IntText(i) => out.extend(format!("i{i}e").into_bytes()),
            Bencode::Bytes(b) => {
                out.extend(format!("{}:", b.len()).into_bytes());
                out.extend(b);
            }
            Bencode::List(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.encode(out));
                out.push(b'e');
            }
            Bencode::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    Bencode::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// A .torrent whose info dictionary is exactly `info`: for hostile torrents that
/// [`TestTorrent::build`] would never make.
pub fn torrent_with_info(info: Vec<(&str, Bencode)>) -> Vec<u8> {
    let mut bytes = Vec::new();
    dict(vec![("info", dict(info))]).encode(&mut bytes);
    bytes
}

/// A bencoded dictionary from string keys (sorted, as bencode requires).
pub fn dict(entries: Vec<(&str, Bencode)>) -> Bencode {
    Bencode::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

/// Deterministic pseudo-random bytes (xorshift), different for each seed.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A torrent made in a test: its files on disk, its .torrent bytes and its info hash.
pub struct TestTorrent {
    pub name: String,
    /// (path inside the torrent, contents)
    pub files: Vec<(String, Vec<u8>)>,
    pub bytes: Vec<u8>,
    pub info_hash: String,
    pub piece_length: usize,
    /// Single-file mode (an info `length`), as opposed to a `files` list.
    pub single: bool,
}

pub struct TorrentSpec<'a> {
    pub name: &'a str,
    /// (path inside the torrent, size); one entry without "/" and `single: true` makes a
    /// single-file torrent.
    pub files: Vec<(&'a str, usize)>,
    pub single: bool,
    pub piece_length: usize,
    pub trackers: Vec<String>,
    pub created_by: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub seed: u64,
}

impl Default for TorrentSpec<'_> {
    fn default() -> Self {
        TorrentSpec {
            name: "payload.bin",
            files: vec![("payload.bin", 1024 * 1024)],
            single: true,
            piece_length: 32 * 1024,
            trackers: Vec::new(),
            created_by: None,
            comment: None,
            seed: 1,
        }
    }
}

impl TestTorrent {
    pub fn build(spec: TorrentSpec<'_>) -> TestTorrent {
        let files: Vec<(String, Vec<u8>)> = spec
            .files
            .iter()
            .enumerate()
            .map(|(i, (path, size))| {
                (
                    path.to_string(),
                    content(spec.seed * 1000 + i as u64, *size),
                )
            })
            .collect();
        TestTorrent::build_full(spec, files)
    }

    /// A torrent of files whose contents the test made (media from ffmpeg, say); no trackers.
    pub fn from_contents(
        name: &str,
        files: Vec<(String, Vec<u8>)>,
        single: bool,
        piece_length: usize,
    ) -> TestTorrent {
        TestTorrent::build_full(
            TorrentSpec {
                name,
                files: Vec::new(),
                single,
                piece_length,
                ..Default::default()
            },
            files,
        )
    }

    fn build_full(spec: TorrentSpec<'_>, files: Vec<(String, Vec<u8>)>) -> TestTorrent {
        let all: Vec<u8> = files
            .iter()
            .flat_map(|(_, data)| data.iter().copied())
            .collect();
        let pieces: Vec<u8> = all
            .chunks(spec.piece_length)
            .flat_map(|chunk| Sha1::digest(chunk).to_vec())
            .collect();
        let mut info = vec![
            ("name", Bencode::str(spec.name)),
            ("piece length", Bencode::Int(spec.piece_length as i64)),
            ("pieces", Bencode::Bytes(pieces)),
        ];
        if spec.single {
            info.push(("length", Bencode::Int(files[0].1.len() as i64)));
        } else {
            let list = files
                .iter()
                .map(|(path, data)| {
                    dict(vec![
                        ("length", Bencode::Int(data.len() as i64)),
                        (
                            "path",
                            Bencode::List(path.split('/').map(Bencode::str).collect()),
                        ),
                    ])
                })
                .collect();
            info.push(("files", Bencode::List(list)));
        }
        let info = dict(info);
        let mut info_bytes = Vec::new();
        info.encode(&mut info_bytes);
        let info_hash = hex(&Sha1::digest(&info_bytes));
        let mut top = vec![("info", info)];
        if let Some(first) = spec.trackers.first() {
            top.push(("announce", Bencode::str(first)));
            top.push((
                "announce-list",
                Bencode::List(
                    spec.trackers
                        .iter()
                        .map(|t| Bencode::List(vec![Bencode::str(t)]))
                        .collect(),
                ),
            ));
        }
        if let Some(created_by) = spec.created_by {
            top.push(("created by", Bencode::str(created_by)));
        }
        if let Some(comment) = spec.comment {
            top.push(("comment", Bencode::str(comment)));
        }
        let mut bytes = Vec::new();
        dict(top).encode(&mut bytes);
        TestTorrent {
            name: spec.name.to_owned(),
            files,
            bytes,
            info_hash,
            piece_length: spec.piece_length,
            single: spec.single,
        }
    }

    /// Where each file lives under a download folder (BEP 3, as every client lays it out): a
    /// single-file torrent is the file `root/name`; a torrent with a `files` list is the folder
    /// `root/name/`, even when the list holds one file.
    pub fn file_paths(&self, root: &Path) -> Vec<PathBuf> {
        if self.single {
            return vec![root.join(&self.name)];
        }
        self.files
            .iter()
            .map(|(path, _)| root.join(&self.name).join(path))
            .collect()
    }

    /// Writes the content under `root`, as a finished download would be.
    pub fn write_content(&self, root: &Path) {
        for (path, (_, data)) in self.file_paths(root).iter().zip(&self.files) {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }

    /// Panics unless every file under `root` is byte-identical to the content.
    pub fn assert_downloaded(&self, root: &Path) {
        for (path, (_, data)) in self.file_paths(root).iter().zip(&self.files) {
            let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                got == *data,
                "{} differs from the seeded content",
                path.display()
            );
        }
    }

    pub fn total_len(&self) -> u64 {
        self.files.iter().map(|(_, d)| d.len() as u64).sum()
    }

    pub fn piece_count(&self) -> usize {
        (self.total_len() as usize).div_ceil(self.piece_length)
    }

    pub fn base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    pub fn magnet(&self, peers: &[std::net::SocketAddr]) -> String {
        let mut uri = format!("magnet:?xt=urn:btih:{}&dn={}", self.info_hash, self.name);
        for peer in peers {
            uri.push_str(&format!("&x.pe={peer}"));
        }
        uri
    }

    /// Writes the .torrent next to the content, for third-party clients.
    pub fn save(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }
}

/// Standard base64, as a client sends a .torrent.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
