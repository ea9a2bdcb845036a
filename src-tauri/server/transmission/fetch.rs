//! `torrent-add`'s `filename` as an `http(s)://` URL: the server fetches the .torrent, as
//! Transmission does. Sonarr, Radarr and Prowlarr send indexer links this way, and an indexer
//! (Jackett, Prowlarr) often answers a link with a redirect to a magnet link, which is taken
//! as the magnet.
//!
//! Only a caller that may add tasks gets here (`torrent-add` refuses the read-only token before
//! anything is fetched: the server must not probe its network for a reader), and what it can
//! cost is bounded before anything is parsed: at most [`MAX_FETCHES`] fetches at once (one
//! more is refused, not queued); at most [`MAX_REDIRECTS`] hops, each to an http(s) URL or a
//! magnet link; [`TIMEOUT`] for the whole fetch; a body of at most [`MAX_BYTES`], refused from
//! its `Content-Length` or cut off while it streams. The `cookies` go only to the first URL's
//! origin, never to another host a redirect names. The answer to the client names the status
//! or the failure, never the fetched body.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use reqwest::header::{HeaderValue, COOKIE, LOCATION};

/// The largest .torrent taken (the same bound as a .torrent named by path).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// The whole fetch, redirects and body included.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Fetches running at once, server-wide: each may hold a 16 MiB body and its copies.
pub const MAX_FETCHES: usize = 4;

/// What a URL gave.
#[derive(Debug, PartialEq)]
pub enum Fetched {
    /// A .torrent's bytes (not yet parsed).
    Torrent(Vec<u8>),
    /// A redirect to this magnet link.
    Magnet(String),
}

/// Whether `name` is an http(s) URL (what `filename` is fetched for).
pub fn is_url(name: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        name.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    })
}

/// What the fetches of one server share: its HTTP client (made on first use, on the server's
/// runtime) and the bound on fetches at once.
pub struct Fetcher {
    client: OnceLock<Result<reqwest::Client, String>>,
    slots: Semaphore,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher {
            client: OnceLock::new(),
            slots: Semaphore::new(MAX_FETCHES),
        }
    }
}

impl Fetcher {
    /// The client: redirects are followed by [`fetch_hops`], hop by hop, so that a redirect
    /// to a magnet link can be taken and every hop checked.
    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(Duration::from_secs(10))
                    .user_agent(concat!("Magnetar/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("filename: no HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Fetches `url`, sending `cookies` (Transmission's `cookies` argument, `name=value; ...`)
    /// to its origin.
    pub async fn fetch(&self, url: &str, cookies: Option<&str>) -> Result<Fetched, String> {
        let cookie = match cookies.map(str::trim).filter(|c| !c.is_empty()) {
            Some(text) => Some(
                HeaderValue::from_str(text)
                    .map_err(|_| "cookies: not a valid Cookie header value".to_owned())?,
            ),
            None => None,
        };
        let _slot = self.slots.try_acquire().map_err(|_| {
            format!(
                "filename: {MAX_FETCHES} .torrent fetches are running already: try again in a \
                 moment"
            )
        })?;
        let client = self.client()?;
        tokio::time::timeout(TIMEOUT, fetch_hops(client, url, cookie))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "filename: fetching {url} took longer than {} s",
                    TIMEOUT.as_secs()
                ))
            })
    }
}

async fn fetch_hops(
    client: &reqwest::Client,
    url: &str,
    cookie: Option<HeaderValue>,
) -> Result<Fetched, String> {
    let mut at = reqwest::Url::parse(url).map_err(|e| format!("filename: {url}: {e}"))?;
    let origin = at.origin();
    for _ in 0..=MAX_REDIRECTS {
        if !matches!(at.scheme(), "http" | "https") {
            return Err(format!("filename: {at} is not an http(s) URL"));
        }
        let mut request = client.get(at.clone());
        if let Some(cookie) = cookie.as_ref().filter(|_| at.origin() == origin) {
            request = request.header(COOKIE, cookie.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("filename: cannot fetch {at}: {}", without_url(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| {
                    format!("filename: {at} answered {status} without a readable Location")
                })?;
            if location
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
            {
                return Ok(Fetched::Magnet(location.to_owned()));
            }
            at = at
                .join(location)
                .map_err(|e| format!("filename: {at} redirects to {location:?}: {e}"))?;
            continue;
        }
        if !status.is_success() {
            return Err(format!("filename: {at} answered HTTP {status}"));
        }
        return read_bounded(response, &at).await.map(Fetched::Torrent);
    }
    Err(format!(
        "filename: {url} redirects more than {MAX_REDIRECTS} times"
    ))
}

/// The body, refused as soon as it is known to be larger than [`MAX_BYTES`].
async fn read_bounded(
    mut response: reqwest::Response,
    at: &reqwest::Url,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("filename: {at} is larger than 16 MiB: not a .torrent file");
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("filename: reading {at}: {}", without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's error text without the URL it appends (the caller's message names it once).
fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut reasons = Vec::new();
    while let Some(e) = source {
        let text = e.to_string();
        let text = text.split(" for url (").next().unwrap_or(&text).to_owned();
        if !reasons.contains(&text) {
            reasons.push(text);
        }
        source = e.source();
    }
    reasons.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_urls() {
        assert!(is_url("http://127.0.0.1/a.torrent"));
        assert!(is_url("HTTPS://indexer/dl?id=1"));
        assert!(!is_url("magnet:?xt=urn:btih:00"));
        assert!(!is_url("/home/me/a.torrent"));
        assert!(!is_url("file:///etc/passwd"));
        assert!(!is_url("ftp://host/a.torrent"));
    }

    #[tokio::test]
    async fn a_bad_cookie_is_refused_before_anything_is_sent() {
        let answer = Fetcher::default()
            .fetch("http://127.0.0.1:9/x", Some("a=b\r\nX-Evil: 1"))
            .await;
        assert_eq!(
            answer,
            Err("cookies: not a valid Cookie header value".to_owned())
        );
    }
}
