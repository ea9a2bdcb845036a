//! The one magnet link parser. Everything that takes a magnet from a user goes through here: the
//! engine's `task.add` (engine/source.rs), the tray's clipboard add and the launch links
//! (actions.rs), and `magnetar remote add`, so that a link accepted in one place is accepted in
//! all of them. (Three checks of their own disagreed: `MAGNET:?…` was taken at launch and then
//! refused by the engine.)
//!
//! What is a magnet link: a URI that starts `magnet:?`, its scheme in any case (schemes are
//! case-insensitive, RFC 3986 §3.1), and that names a BitTorrent v1 info hash (`xt=urn:btih:`
//! with 40 hex digits or 32 base32 characters, BEP 9); or a bare 40-hex info hash. The link is
//! kept as given, apart from its scheme, which is written `magnet:`.

use std::fmt;

/// A magnet link that names a BitTorrent v1 info hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MagnetLink {
    /// The link, with its scheme written `magnet:` (a bare hash becomes `magnet:?xt=urn:btih:…`).
    uri: String,
    /// The info hash in lower-case hex: the task id.
    info_hash: String,
}

/// Why a text is not a usable magnet link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    #[error("not a magnet link: it must start with \"magnet:?\" or be a 40-hex info hash")]
    NotAMagnet,
    #[error("invalid magnet link: {0}")]
    Invalid(String),
    #[error("magnet link has no BitTorrent v1 info hash (xt=urn:btih:...)")]
    NoInfoHash,
    #[error("invalid magnet link: the info hash {0:?} is neither 40 hex digits nor 32 base32 characters")]
    BadInfoHash(String),
}

impl MagnetLink {
    /// Parses a magnet link or a bare 40-hex info hash; white space around it is ignored.
    pub fn parse(text: &str) -> Result<MagnetLink, MagnetError> {
        let text = text.trim();
        if is_info_hash(text) {
            let info_hash = text.to_ascii_lowercase();
            return Ok(MagnetLink {
                uri: format!("magnet:?xt=urn:btih:{info_hash}"),
                info_hash,
            });
        }
        if !has_scheme(text) {
            return Err(MagnetError::NotAMagnet);
        }
        let uri = format!("{PREFIX}{}", &text[PREFIX.len()..]);
        let url = url::Url::parse(&uri).map_err(|e| MagnetError::Invalid(e.to_string()))?;
        let mut info_hash = None;
        for (key, value) in url.query_pairs() {
            if key != "xt" {
                continue;
            }
            if let Some(hash) = value.strip_prefix("urn:btih:") {
                info_hash = Some(
                    hash_to_hex(hash).ok_or_else(|| MagnetError::BadInfoHash(hash.to_owned()))?,
                );
            }
        }
        let info_hash = info_hash.ok_or(MagnetError::NoInfoHash)?;
        Ok(MagnetLink { uri, info_hash })
    }

    /// Whether `text` is meant as a magnet (it starts `magnet:?` in any case, or it is a bare
    /// info hash), valid or not: what to hand to [`MagnetLink::parse`] (or to `task.add` as a
    /// magnet) rather than read as a file name. Every text that parses is one of these.
    pub fn looks_like(text: &str) -> bool {
        let text = text.trim();
        has_scheme(text) || is_info_hash(text)
    }

    /// Whether `text` starts `magnet:?`, in any case (a link, not a bare hash).
    pub fn has_scheme(text: &str) -> bool {
        has_scheme(text.trim())
    }

    /// The link, its scheme written `magnet:`.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The info hash in lower-case hex.
    pub fn info_hash(&self) -> &str {
        &self.info_hash
    }
}

impl std::str::FromStr for MagnetLink {
    type Err = MagnetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MagnetLink::parse(text)
    }
}

impl fmt::Display for MagnetLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

/// How every magnet link starts (BEP 9); compared without regard to case.
const PREFIX: &str = "magnet:?";

fn has_scheme(text: &str) -> bool {
    text.get(..PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(PREFIX))
}

fn is_info_hash(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A v1 info hash as 40 hex digits (any case) or 32 base32 characters (RFC 4648, upper case,
/// as librqbit reads it), in lower-case hex.
fn hash_to_hex(hash: &str) -> Option<String> {
    if is_info_hash(hash) {
        return Some(hash.to_ascii_lowercase());
    }
    if hash.len() != 32 {
        return None;
    }
    let mut bits: u64 = 0;
    let mut held = 0;
    let mut bytes = Vec::with_capacity(20);
    for c in hash.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        bits = (bits << 5) | u64::from(value);
        held += 5;
        if held >= 8 {
            held -= 8;
            bytes.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "c9e15763f722f23e98a29decdfae341b98d53056";
    /// The same hash in base32 (from `xxd -r -p | base32`).
    const HASH32: &str = "ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW";

    #[test]
    fn the_scheme_is_case_insensitive() {
        for scheme in ["magnet", "MAGNET", "Magnet", "mAgNeT"] {
            let link = MagnetLink::parse(&format!("{scheme}:?xt=urn:btih:{HASH}&dn=x")).unwrap();
            assert_eq!(link.as_str(), format!("magnet:?xt=urn:btih:{HASH}&dn=x"));
            assert_eq!(link.info_hash(), HASH);
        }
    }

    #[test]
    fn a_bare_hash_is_a_magnet_in_any_case() {
        let link = MagnetLink::parse(&format!("  {}\n", HASH.to_uppercase())).unwrap();
        assert_eq!(link.info_hash(), HASH);
        assert_eq!(link.as_str(), format!("magnet:?xt=urn:btih:{HASH}"));
    }

    #[test]
    fn hex_hashes_in_upper_case_and_base32_hashes_give_the_lower_case_id() {
        let upper = format!("magnet:?xt=urn:btih:{}", HASH.to_uppercase());
        assert_eq!(MagnetLink::parse(&upper).unwrap().info_hash(), HASH);
        let base32 = format!("magnet:?dn=a&xt=urn:btih:{HASH32}&tr=udp://t:1");
        assert_eq!(MagnetLink::parse(&base32).unwrap().info_hash(), HASH);
        // The rest of the link is kept as it was given.
        assert_eq!(MagnetLink::parse(&base32).unwrap().as_str(), base32);
    }

    #[test]
    fn what_is_refused_and_why() {
        let with_path = format!("magnet:x?xt=urn:btih:{HASH}");
        let cases: [(&str, MagnetError); 13] = [
            ("", MagnetError::NotAMagnet),
            ("hello", MagnetError::NotAMagnet),
            ("http://example.org/x.torrent", MagnetError::NotAMagnet),
            ("magnet", MagnetError::NotAMagnet),
            ("0123abcd", MagnetError::NotAMagnet),
            // 39 and 41 hex digits are no info hash.
            (&HASH[1..], MagnetError::NotAMagnet),
            ("magnet:", MagnetError::NotAMagnet),
            (&with_path, MagnetError::NotAMagnet),
            ("MAGNET:?", MagnetError::NoInfoHash),
            ("magnet:?dn=nothing", MagnetError::NoInfoHash),
            // A v2-only link: Magnetar downloads v1 torrents.
            (
                "magnet:?xt=urn:btmh:1220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                MagnetError::NoInfoHash,
            ),
            (
                "magnet:?xt=urn:btih:nothex",
                MagnetError::BadInfoHash("nothex".into()),
            ),
            (
                "magnet:?xt=urn:btih:zhqvoy7xelzd5gfctxwn7lrudomnkmcw",
                MagnetError::BadInfoHash("zhqvoy7xelzd5gfctxwn7lrudomnkmcw".into()),
            ),
        ];
        for (text, why) in cases {
            assert_eq!(MagnetLink::parse(text), Err(why), "{text:?}");
        }
        let longer = format!("{HASH}0");
        assert_eq!(MagnetLink::parse(&longer), Err(MagnetError::NotAMagnet));
    }

    #[test]
    fn every_link_that_parses_looks_like_one() {
        let parsed = [
            format!("MAGNET:?xt=urn:btih:{HASH}"),
            format!("magnet:?xt=urn:btih:{HASH32}"),
            HASH.to_owned(),
        ];
        for text in &parsed {
            assert!(MagnetLink::parse(text).is_ok() && MagnetLink::looks_like(text));
        }
        // Meant as magnets, but broken: handed on, to be refused with the parser's reason.
        assert!(MagnetLink::looks_like("Magnet:?xt=urn:btih:nothex"));
        assert!(!MagnetLink::looks_like("some.torrent"));
        // Only a link has the scheme; a bare hash does not.
        assert!(MagnetLink::has_scheme(" MAGNET:?x"));
        assert!(!MagnetLink::has_scheme("magnet:x"));
        assert!(!MagnetLink::has_scheme(HASH));
    }
}
