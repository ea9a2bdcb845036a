//! Transmission's three spellings of one name: the old camelCase (`hashString`) and dashed
//! (`download-dir`) keys of rpc-version 17 and before, and the snake_case keys of rpc-version 18
//! (`hash_string`, `download_dir`). Requests are read in any of them (every key is brought to
//! snake_case first); answers are written in the style the request used.

use serde_json::{Map, Value};

/// How a request spelled its names, and so how its answer spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// rpc-version 17 and before: camelCase torrent fields, dashed session keys.
    Legacy,
    /// rpc-version 18: snake_case everywhere.
    Snake,
}

/// Any spelling of a name in snake_case: `hashString`, `hash-string` and `hash_string` all
/// become `hash_string`.
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c == '-' {
            out.push('_');
        } else if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// snake_case to camelCase: `hash_string` to `hashString`.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// snake_case to dashed: `download_dir` to `download-dir`.
pub fn dashed(name: &str) -> String {
    name.replace('_', "-")
}

/// Which old spelling a key of an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Old {
    /// Torrent fields and most nested keys: camelCase.
    Camel,
    /// Session keys: dashed, except the few that Transmission spells in camelCase.
    Session,
}

/// Session keys that Transmission spells in camelCase even among the dashed ones.
const CAMEL_SESSION_KEYS: [&str; 2] = ["seed_ratio_limit", "seed_ratio_limited"];

/// Session-stats and other keys whose old spelling is dashed while their neighbours are
/// camelCase.
const DASHED_KEYS: [&str; 10] = [
    "speed_units",
    "speed_bytes",
    "size_units",
    "memory_units",
    "memory_bytes",
    "cumulative_stats",
    "current_stats",
    "torrent_added",
    "torrent_duplicate",
    "port_is_open",
];

/// One key of an answer, in `style`.
pub fn answer_key(key: &str, style: Style, old: Old) -> String {
    match style {
        Style::Snake => key.to_owned(),
        Style::Legacy => {
            if DASHED_KEYS.contains(&key) || key == "size_bytes" {
                dashed(key)
            } else if key == "total_size" && old == Old::Session {
                // free-space's "total_size" is snake_case even in rpc-version 17.
                key.to_owned()
            } else if old == Old::Session && !CAMEL_SESSION_KEYS.contains(&key) {
                dashed(key)
            } else {
                camel(key)
            }
        }
    }
}

/// Rewrites the keys of an answer's `arguments` (written in snake_case) in `style`: the top
/// level as `top` says, every nested object in camelCase (Transmission's nested keys are all
/// camelCase, apart from [`DASHED_KEYS`]).
pub fn restyle(value: Value, style: Style, top: Old) -> Value {
    if style == Style::Snake {
        return value;
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (answer_key(&k, style, top), restyle(v, style, Old::Camel)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| restyle(v, style, Old::Camel))
                .collect(),
        ),
        other => other,
    }
}

/// The style of a request: snake_case if it says `jsonrpc`, names its method in snake_case, or
/// spells a key (or a requested field) with an underscore; else the old style.
pub fn style_of(method: &str, jsonrpc: bool, args: &Map<String, Value>) -> Style {
    if jsonrpc || method.contains('_') {
        return Style::Snake;
    }
    let fields = args
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for name in args.keys().map(String::as_str).chain(fields) {
        if name.contains('_') && name != "total_size" {
            return Style::Snake;
        }
        if name.contains('-') || name.chars().any(|c| c.is_ascii_uppercase()) {
            return Style::Legacy;
        }
    }
    Style::Legacy
}

/// A request's arguments with every key in snake_case.
pub fn snake_keys(args: Map<String, Value>) -> Map<String, Value> {
    args.into_iter().map(|(k, v)| (snake(&k), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spellings_meet_in_snake_case() {
        for (name, expected) in [
            ("hashString", "hash_string"),
            ("hash_string", "hash_string"),
            ("download-dir", "download_dir"),
            ("seedRatioLimit", "seed_ratio_limit"),
            ("delete-local-data", "delete_local_data"),
            ("speed-limit-down-enabled", "speed_limit_down_enabled"),
            ("eta", "eta"),
            ("peer-limit", "peer_limit"),
        ] {
            assert_eq!(snake(name), expected, "{name}");
        }
    }

    #[test]
    fn answers_take_the_request_style() {
        let args = json!({"download_dir": "/d", "seed_ratio_limit": 2.0, "rpc_version": 17,
                          "torrents": [{"hash_string": "ab", "file_stats": []}]});
        let old = restyle(args.clone(), Style::Legacy, Old::Session);
        assert_eq!(
            old,
            json!({"download-dir": "/d", "seedRatioLimit": 2.0, "rpc-version": 17,
                   "torrents": [{"hashString": "ab", "fileStats": []}]})
        );
        assert_eq!(restyle(args.clone(), Style::Snake, Old::Session), args);
        let stats = json!({"current_stats": {"uploaded_bytes": 1}, "torrent_count": 1});
        assert_eq!(
            restyle(stats, Style::Legacy, Old::Camel),
            json!({"current-stats": {"uploadedBytes": 1}, "torrentCount": 1})
        );
    }

    #[test]
    fn the_style_is_read_from_the_request() {
        let map = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(style_of("torrent_get", false, &Map::new()), Style::Snake);
        assert_eq!(style_of("torrent-get", true, &Map::new()), Style::Snake);
        let old = map(json!({"fields": ["id", "hashString"]}));
        assert_eq!(style_of("torrent-get", false, &old), Style::Legacy);
        let new = map(json!({"fields": ["id", "hash_string"]}));
        assert_eq!(style_of("torrent-get", false, &new), Style::Snake);
        let old = map(json!({"delete-local-data": true}));
        assert_eq!(style_of("torrent-remove", false, &old), Style::Legacy);
    }
}
