//! Turning what a client sends (a magnet link, a bare info hash, .torrent bytes) into a validated
//! [`Source`], synchronously, before any task exists. Nothing here touches the network.

use std::net::SocketAddr;
use std::path::{Component, Path};

use librqbit::{torrent_from_bytes, Magnet};

use super::placement::Layout;
use super::{validate, EngineError};
use crate::protocol::{FileEntry, MagnetLink};

/// A validated thing to download.
#[derive(Debug, Clone)]
pub struct Source {
    /// The info hash in lower-case hex: the task id.
    pub id: String,
    /// The best name known now: the torrent's name, a magnet's `dn`, or the hash.
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    /// A magnet link, normalized (a bare hash becomes `magnet:?xt=urn:btih:<hash>`).
    Magnet {
        uri: String,
        /// BEP 9 `x.pe` peer addresses, still unresolved ("host:port").
        peers: Vec<String>,
    },
    /// A whole .torrent file, already parsed once.
    Torrent {
        bytes: Vec<u8>,
        creator: String,
        comment: String,
        files: Vec<FileEntry>,
        /// Where its files go (BEP 3).
        layout: Layout,
        /// Bytes per piece (validated: greater than 0).
        piece_length: u64,
    },
}

/// Parses a magnet link or a bare 40-hex info hash.
pub fn parse_magnet(input: &str) -> Result<Source, EngineError> {
    // The one parser (protocol/magnet.rs): the scheme in any case, a bare hash expanded.
    let uri = MagnetLink::parse(input)
        .map_err(|e| EngineError::InvalidInput(e.to_string()))?
        .as_str()
        .to_owned();
    let magnet = Magnet::parse(&uri)
        .map_err(|e| EngineError::InvalidInput(format!("invalid magnet link: {e:#}")))?;
    let info_hash = magnet.as_id20().ok_or_else(|| {
        EngineError::InvalidInput(
            "magnet link has no BitTorrent v1 info hash (xt=urn:btih:...)".into(),
        )
    })?;
    let id = info_hash.as_string();
    let peers = magnet_peers(&uri);
    Ok(Source {
        name: magnet
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.clone()),
        id,
        kind: SourceKind::Magnet { uri, peers },
    })
}

/// The `x.pe` parameters of a magnet link (BEP 9), which librqbit itself ignores.
fn magnet_peers(uri: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(uri) else {
        return Vec::new();
    };
    url.query_pairs()
        .filter(|(key, _)| key == "x.pe")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

/// Resolves `x.pe` addresses to socket addresses. Literal IPs need no lookup; a host name is looked
/// up once. Unresolvable entries are skipped with a warning: one bad peer must not sink the task.
pub async fn resolve_peers(peers: &[String]) -> Vec<SocketAddr> {
    let mut resolved = Vec::new();
    for peer in peers {
        if let Ok(addr) = peer.parse::<SocketAddr>() {
            resolved.push(addr);
            continue;
        }
        match tokio::net::lookup_host(peer.as_str()).await {
            Ok(addrs) => resolved.extend(addrs),
            Err(e) => tracing::warn!(peer, "ignoring unresolvable x.pe peer: {e}"),
        }
    }
    resolved
}

/// Parses and validates .torrent bytes: every rule of [`validate`] first, so that nothing
/// librqbit computes from the torrent can fail or divide by zero, then librqbit's own checks.
pub fn parse_torrent(bytes: Vec<u8>) -> Result<Source, EngineError> {
    validate::check_torrent(&bytes).map_err(EngineError::InvalidInput)?;
    let meta = torrent_from_bytes(&bytes)
        .map_err(|e| EngineError::InvalidInput(format!("not a valid torrent file: {e:#}")))?;
    let info = meta
        .info
        .data
        .clone()
        .validate()
        .map_err(|e| EngineError::InvalidInput(format!("invalid torrent info: {e:#}")))?;
    let id = meta.info_hash.as_string();
    let name = info
        .name()
        .map(|n| n.into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.clone());
    // Decoded names must still be single, plain components (the raw bytes were checked, but
    // librqbit decodes them with the encoding it detects).
    if !is_plain_component(&name) {
        return Err(EngineError::InvalidInput(format!(
            "invalid torrent: unsafe name {name:?}"
        )));
    }
    let multi_file = info.info().files.is_some();
    let mut files = Vec::new();
    let mut on_disk = Vec::new();
    let sub_folder = if multi_file {
        name.clone()
    } else {
        String::new()
    };
    for file in info.iter_file_details() {
        let relative = file.filename.to_pathbuf();
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(EngineError::InvalidInput(format!(
                "invalid torrent: unsafe file path {}",
                relative.display()
            )));
        }
        files.push(FileEntry {
            path: file.filename.to_vec().join("/"),
            size: file.len,
            selected: true,
        });
        if !file.attrs().padding {
            on_disk.push(Path::new(&sub_folder).join(relative));
        }
    }
    let text = |value: &Option<librqbit::ByteBuf<'_>>| {
        value
            .as_ref()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default()
    };
    Ok(Source {
        id,
        name,
        kind: SourceKind::Torrent {
            creator: text(&meta.created_by),
            comment: text(&meta.comment),
            files,
            layout: Layout {
                sub_folder,
                files: on_disk,
            },
            piece_length: u64::from(info.info().piece_length),
            bytes,
        },
    })
}

fn is_plain_component(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none()
        && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "c9e15763f722f23e98a29decdfae341b98d53056";

    #[test]
    fn bare_hash_is_a_magnet() {
        let source = parse_magnet(&HASH.to_uppercase()).unwrap();
        assert_eq!(source.id, HASH);
        assert_eq!(source.name, HASH);
    }

    #[test]
    fn magnet_keeps_name_and_peers() {
        let uri =
            format!("magnet:?xt=urn:btih:{HASH}&dn=My%20File&x.pe=127.0.0.1:6881&x.pe=[::1]:7000");
        let source = parse_magnet(&uri).unwrap();
        assert_eq!(source.name, "My File");
        match source.kind {
            SourceKind::Magnet { peers, .. } => {
                assert_eq!(peers, vec!["127.0.0.1:6881", "[::1]:7000"])
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn magnet_without_hash_is_rejected() {
        assert!(parse_magnet("magnet:?dn=nothing").is_err());
        assert!(parse_magnet("http://example.invalid/x.torrent").is_err());
        assert!(parse_magnet("").is_err());
    }

    #[test]
    fn garbage_torrent_is_rejected() {
        assert!(parse_torrent(b"not bencode".to_vec()).is_err());
        assert!(parse_torrent(b"d4:infoi1ee".to_vec()).is_err());
        assert!(parse_torrent(Vec::new()).is_err());
    }

    #[tokio::test]
    async fn literal_peers_resolve_without_lookup() {
        let peers = resolve_peers(&["127.0.0.1:1".into(), "[::1]:2".into()]).await;
        assert_eq!(peers.len(), 2);
    }
}
