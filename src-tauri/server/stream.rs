//! `GET` and `HEAD /stream/{task_id}/{file_index}`: a task's file over HTTP while it downloads,
//! for media players and browsers, with byte ranges (one range per request).
//!
//! **Who may stream.** A link from `stream.url` (`?st=...`, see `api/stream.rs`) is enough by
//! itself, for its file only, until it expires; a bad one is `403 invalid or expired stream
//! link`, whatever is wrong with it. Without one, the API's own rules decide ([`Calling`]):
//! this machine without a token (unless `loopback_needs_token`), anyone else with the full or
//! the read-only token (`Authorization: Bearer`, or `?token=`); otherwise `401`. A request that
//! a browser marks as coming from a page of another site (`Sec-Fetch-Site: cross-site` or
//! `same-site`) must bring a link: no foreign page can make this machine's browser resume a
//! paused task or probe its files.
//!
//! **Reads.** The body reads librqbit's stream of the file (`engine/streaming.rs`): only
//! verified pieces are served, a read of a piece not yet had waits for it (the pieces ahead of
//! the read position are fetched first), and a read that gets no byte for [`STALL_TIMEOUT`]
//! ends the response early (the client sees a body shorter than its `Content-Length`). A client
//! that goes away drops the body, which closes the stream and frees its permit. At most
//! `MAX_STREAMS` streams are open at once; one more is `503` with `Retry-After`.
//!
//! **Safety.** A torrent's file is served with a content type from its extension, except that
//! types a browser would run (HTML, XML, SVG, scripts) are sent as `application/octet-stream`,
//! and every answer carries `Content-Security-Policy: sandbox` and `nosniff`: a file from a
//! torrent never runs as a page of this server's origin.

use std::io::SeekFrom;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use super::caller::Calling;
use super::connection::Standing;
use super::{host_refusal, AppState};
use crate::api::{FileStream, StreamError, LINK_PARAM};
use crate::protocol::TaskId;

/// A read that gets no byte for this long ends the response: the data is not coming (the
/// task's peers are gone, it was paused or removed).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting read looks again (a guard against a wake-up librqbit might miss).
const READ_POLL: Duration = Duration::from_secs(1);
/// The most bytes one read hands to the connection.
const CHUNK: usize = 64 * 1024;
/// What a `503` asks the client to wait.
const RETRY_AFTER_SECONDS: &str = "5";

/// The headers every answer of this endpoint carries.
fn common_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ]
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (status, common_headers(), message).into_response()
}

/// The stream endpoint (axum answers `HEAD` with this handler too, without the body; no stream
/// is opened for it).
pub(super) async fn serve(
    State(state): State<AppState>,
    calling: Calling,
    method: Method,
    Path((task_id, file)): Path<(String, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = host_refusal(&state, &headers) {
        return refusal;
    }
    let task_id = TaskId::from_client(&task_id);
    let Ok(file) = file.parse::<usize>() else {
        return plain(
            StatusCode::NOT_FOUND,
            "no such file: the file index is a number",
        );
    };
    let link = uri.query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == LINK_PARAM)
            .map(|(_, value)| value.into_owned())
    });
    let can_write = match link {
        Some(link) => match state.api.check_stream_link(&task_id, file, &link) {
            Some(can_write) => can_write,
            None => {
                tracing::warn!(client = %calling.addr.key(), "refused a stream link");
                return plain(StatusCode::FORBIDDEN, "invalid or expired stream link");
            }
        },
        None => {
            let site = headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
                return plain(
                    StatusCode::FORBIDDEN,
                    "a page of another site may only play a link from stream.url",
                );
            }
            match calling.standing(&state) {
                Standing::Allowed(caller) => caller.can_write,
                Standing::Refused(why) => {
                    return (
                        StatusCode::UNAUTHORIZED,
                        common_headers(),
                        [(header::WWW_AUTHENTICATE, "Bearer")],
                        format!("{why}\n"),
                    )
                        .into_response()
                }
            }
        }
    };
    let stream_file = match state.api.stream_file(&task_id, file) {
        Ok(found) => found,
        Err(e) => return refusal(e),
    };
    let size = stream_file.size;
    let name = stream_file
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&stream_file.path)
        .to_owned();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Ranged::Whole, |v| parse_range(v, size));
    let (status, start, len) = match range {
        Ranged::Whole => (StatusCode::OK, 0, size),
        Ranged::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Ranged::Unsatisfiable => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                common_headers(),
                [
                    (header::CONTENT_RANGE, format!("bytes */{size}")),
                    (header::ACCEPT_RANGES, "bytes".to_owned()),
                ],
                "range not satisfiable\n",
            )
                .into_response();
        }
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, len)
        .header(header::CONTENT_TYPE, content_type(&name))
        .header(header::CONTENT_DISPOSITION, content_disposition(&name));
    for (name, value) in common_headers() {
        response = response.header(name, value);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if method == Method::HEAD || len == 0 {
        return response.body(Body::empty()).unwrap_or_else(|_| internal());
    }
    let mut stream = match state.api.open_stream(&task_id, file, can_write).await {
        Ok(stream) => stream,
        Err(e) => return refusal(e),
    };
    if let Err(e) = stream.seek(SeekFrom::Start(start)).await {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot seek: {e}"),
        );
    }
    let body = body(stream, len, state.cancel.clone());
    response
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| internal())
}

fn internal() -> Response {
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn refusal(e: StreamError) -> Response {
    match e {
        StreamError::NotFound(_) | StreamError::NoFile(_) => {
            plain(StatusCode::NOT_FOUND, e.to_string())
        }
        StreamError::Conflict(_) => plain(StatusCode::CONFLICT, e.to_string()),
        StreamError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            common_headers(),
            [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
            format!("{e}\n"),
        )
            .into_response(),
        StreamError::Internal(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The body: `len` bytes read from `stream`, each read waiting at most [`STALL_TIMEOUT`] for
/// its first byte; ends (as an error, so the connection closes short) on a stall, a read error
/// or the server's shutdown.
fn body(
    stream: FileStream,
    len: u64,
    cancel: CancellationToken,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    struct Reading {
        stream: FileStream,
        left: u64,
        cancel: CancellationToken,
    }
    let reading = Reading {
        stream,
        left: len,
        cancel,
    };
    futures_util::stream::unfold(Some(reading), |state| async move {
        let mut r = state?;
        if r.left == 0 {
            return None;
        }
        let mut buf = vec![0u8; (r.left.min(CHUNK as u64)) as usize];
        let mut waited = Duration::ZERO;
        let outcome = loop {
            tokio::select! {
                _ = r.cancel.cancelled() => {
                    break Err(std::io::Error::other("the server is shutting down"));
                }
                read = tokio::time::timeout(READ_POLL, r.stream.read(&mut buf)) => match read {
                    Ok(Ok(0)) => break Err(std::io::ErrorKind::UnexpectedEof.into()),
                    Ok(Ok(n)) => break Ok(n),
                    Ok(Err(e)) => break Err(e),
                    Err(_) => {
                        waited += READ_POLL;
                        if waited >= STALL_TIMEOUT {
                            break Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "no data came for the stream in time",
                            ));
                        }
                    }
                },
            }
        };
        match outcome {
            Ok(n) => {
                buf.truncate(n);
                r.left -= n as u64;
                Some((Ok(Bytes::from(buf)), Some(r)))
            }
            Err(e) => {
                tracing::debug!("a stream ended early: {e}");
                Some((Err(e), None))
            }
        }
    })
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    /// No range, or one this endpoint ignores (another unit, several ranges, bad syntax): the
    /// whole file, `200` (RFC 9110 lets a server ignore `Range`).
    Whole,
    /// Bytes `start..=end`, `206`.
    Part(u64, u64),
    /// `416`.
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if size == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(size - n.min(size), size - 1),
        },
        (first, "") => match number(first) {
            None => Ranged::Whole,
            Some(start) if start >= size => Ranged::Unsatisfiable,
            Some(start) => Ranged::Part(start, size - 1),
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    Ranged::Unsatisfiable
                } else {
                    Ranged::Part(start, end.min(size - 1))
                }
            }
            _ => Ranged::Whole,
        },
    }
}

/// The content type for a file name; types a browser would run are plain bytes.
fn content_type(name: &str) -> HeaderValue {
    let guess = mime_guess::from_path(name).first_or_octet_stream();
    let essence = guess.essence_str().to_ascii_lowercase();
    let active = essence.contains("html")
        || essence.contains("xml")
        || essence.contains("javascript")
        || essence.contains("ecmascript")
        || essence == "image/svg+xml"
        || essence == "application/pdf";
    let chosen = if active {
        "application/octet-stream"
    } else {
        guess.essence_str()
    };
    HeaderValue::from_str(chosen)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `inline` with the file's name: an ASCII stand-in in `filename`, the exact name in
/// `filename*` (RFC 6266, RFC 8187).
fn content_disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' && c != '%' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("inline"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Ranged::*;
        assert_eq!(parse_range("bytes=0-0", 10), Part(0, 0));
        assert_eq!(parse_range("bytes=9-9", 10), Part(9, 9));
        assert_eq!(parse_range("bytes=9-", 10), Part(9, 9));
        assert_eq!(parse_range("bytes=5-100", 10), Part(5, 9));
        assert_eq!(parse_range("bytes=-3", 10), Part(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), Part(0, 9));
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-1", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-4", 10), Whole);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Whole);
        assert_eq!(parse_range("items=0-1", 10), Whole);
        assert_eq!(parse_range("bytes=a-b", 10), Whole);
        assert_eq!(parse_range("bytes=+1-2", 10), Whole);
        assert_eq!(parse_range("bytes=99999999999999999999999-", 10), Whole);
    }

    #[test]
    fn names_and_types() {
        assert_eq!(content_type("a.webm"), "video/webm");
        assert_eq!(content_type("a.MP4"), "video/mp4");
        assert_eq!(content_type("a.html"), "application/octet-stream");
        assert_eq!(content_type("a.svg"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
        assert_eq!(
            content_disposition("Ça \"va\".mkv"),
            "inline; filename=\"_a _va_.mkv\"; filename*=UTF-8''%C3%87a%20%22va%22.mkv"
        );
        assert_eq!(
            content_disposition("a\r\nb.mp3"),
            "inline; filename=\"a__b.mp3\"; filename*=UTF-8''a%0D%0Ab.mp3"
        );
    }
}
