//! The web UI: every file under `ui/`, compiled into the binary (rust-embed) so that a headless
//! server needs nothing beside it, served at its path with its content type, an `ETag` (the
//! file's SHA-256) and `Cache-Control: no-cache`, so that browsers revalidate and get a `304`
//! when nothing changed. The desktop window loads the same files as Tauri's `frontendDist`.
//!
//! Every answer, files, `304` and `404` alike, carries the desktop window's Content Security
//! Policy (`tauri.conf.json`, `app.security.csp`: only this server's own scripts and styles, and
//! WebSockets to any server, as "Connect to…" may choose one) plus `frame-ancestors 'none'`, so
//! that no other site can show the UI in a frame and trick clicks into it; `nosniff`; and
//! `Referrer-Policy: no-referrer`, so that no address of this server leaves with a request.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The desktop's CSP (kept equal to `tauri.conf.json`'s: a unit test compares them) and
/// `frame-ancestors 'none'`, which only an HTTP header can carry.
const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; ",
    // The player plays the /stream links of this server, or of the one "Connect to…" chose.
    "media-src 'self' http: https:; connect-src 'self' ws: wss:; frame-ancestors 'none'"
);

/// The headers every answer of the UI carries.
pub fn security_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

#[derive(rust_embed::Embed)]
#[folder = "ui/"]
struct Files;

/// The file at `path` (`""` is `index.html`), or `404`.
pub fn serve(path: &str, headers: &HeaderMap) -> Response {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    // rust-embed only knows the embedded names, so `..` cannot reach anything else; refuse it
    // anyway, plainly.
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return not_found();
    }
    let Some(file) = Files::get(path) else {
        return not_found();
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let common = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if unchanged {
        return (StatusCode::NOT_MODIFIED, security_headers(), common).into_response();
    }
    let content_type = file.metadata.mimetype().to_owned();
    let content_type = if content_type.starts_with("text/") || content_type.ends_with("javascript")
    {
        format!("{content_type}; charset=utf-8")
    } else {
        content_type
    };
    (
        security_headers(),
        common,
        [(header::CONTENT_TYPE, content_type)],
        file.data.into_owned(),
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, security_headers(), "not found\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served page's policy is the desktop window's, plus `frame-ancestors 'none'`.
    #[test]
    fn the_policy_is_the_desktop_one_plus_frame_ancestors() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        let desktop = conf["app"]["security"]["csp"].as_str().unwrap();
        assert_eq!(
            CONTENT_SECURITY_POLICY,
            format!("{desktop}; frame-ancestors 'none'")
        );
    }
}
