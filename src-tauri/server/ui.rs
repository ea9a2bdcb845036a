//! The web UI: every file under `ui/`, compiled into the binary (rust-embed) so that a headless
//! server needs nothing beside it, served at its path with its content type, an `ETag` (the
//! file's SHA-256) and `Cache-Control: no-cache`, so that browsers revalidate and get a `304`
//! when nothing changed. The desktop window loads the same files as Tauri's `frontendDist`.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

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
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if unchanged {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = file.metadata.mimetype().to_owned();
    let content_type = if content_type.starts_with("text/") || content_type.ends_with("javascript")
    {
        format!("{content_type}; charset=utf-8")
    } else {
        content_type
    };
    (
        common,
        [(header::CONTENT_TYPE, content_type)],
        file.data.into_owned(),
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}
