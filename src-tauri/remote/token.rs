//! Which token `magnetar remote` sends, if any. The token file in this machine's data folder
//! belongs to this machine's server: it goes only to a loopback URL, never to another host (a
//! NAS that saw it could use it here, and so could anyone between the two). A token the user
//! names (`--token`, `MAGNETAR_TOKEN`, `?token=` in the URL) goes to another host only over
//! `wss://`, or over plain `ws://` when the user says `--insecure`: on plain WebSocket anyone on
//! the path can read it.

use std::net::IpAddr;

use tokio_tungstenite::tungstenite::http::Uri;

/// The token to send to `uri` (None: send none), or why no connection should be made.
///
/// `given` is the user's `--token` / `MAGNETAR_TOKEN`; `saved` reads the local token file, and is
/// called only for a loopback host.
pub fn choose(
    uri: &Uri,
    given: Option<String>,
    insecure: bool,
    saved: impl FnOnce() -> Option<String>,
) -> Result<Option<String>, String> {
    if is_loopback(uri) {
        return Ok(given.or_else(saved));
    }
    let sends_one = given.is_some() || has_query_token(uri);
    if sends_one && uri.scheme_str() != Some("wss") && !insecure {
        return Err(format!(
            "not sending the token over plain ws:// to {} (anyone on the way could read it): \
             use wss:// with --fingerprint, or add --insecure to send it anyway",
            uri.host().unwrap_or("")
        ));
    }
    Ok(given)
}

/// The host the connection goes to (the same `Uri` the WebSocket client connects with) is
/// 127.0.0.0/8, ::1 (or an IPv4-mapped 127.x), or `localhost`.
fn is_loopback(uri: &Uri) -> bool {
    let Some(host) = uri.host() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The URL carries a `token` query parameter of its own.
fn has_query_token(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(url: &str, given: Option<&str>, insecure: bool) -> Result<Option<String>, String> {
        let uri: Uri = url.parse().unwrap();
        choose(&uri, given.map(str::to_owned), insecure, || {
            Some("saved".to_owned())
        })
    }

    #[test]
    fn the_saved_token_goes_only_to_loopback() {
        for url in [
            "ws://127.0.0.1:7345/ws",
            "ws://127.8.9.1:7345/ws",
            "ws://[::1]:7345/ws",
            "ws://[::ffff:127.0.0.1]:7345/ws",
            "ws://localhost:7345/ws",
            "ws://LocalHost/ws",
            "wss://localhost/ws",
        ] {
            assert_eq!(pick(url, None, false), Ok(Some("saved".into())), "{url}");
        }
        for url in [
            "ws://nas:7345/ws",
            "wss://nas:7345/ws",
            "ws://10.0.0.2:7345/ws",
            "ws://[fe80::1]:7345/ws",
            "ws://127.0.0.1.example:7345/ws",
            "ws://localhost.example/ws",
            "ws://0.0.0.0:7345/ws",
        ] {
            assert_eq!(pick(url, None, false), Ok(None), "{url}");
            assert_eq!(pick(url, None, true), Ok(None), "{url}");
        }
    }

    #[test]
    fn a_given_token_crosses_plain_ws_only_with_insecure() {
        let refused = pick("ws://nas:7345/ws", Some("T"), false).unwrap_err();
        assert!(refused.contains("wss://") && refused.contains("--insecure"));
        assert!(!refused.contains('\n'));
        assert_eq!(
            pick("ws://nas:7345/ws", Some("T"), true),
            Ok(Some("T".into()))
        );
        assert_eq!(
            pick("wss://nas:7345/ws", Some("T"), false),
            Ok(Some("T".into()))
        );
        assert_eq!(
            pick("ws://127.0.0.1:7345/ws", Some("T"), false),
            Ok(Some("T".into()))
        );
    }

    #[test]
    fn a_token_in_the_url_counts_as_given() {
        assert!(pick("ws://nas:7345/ws?token=T", None, false).is_err());
        assert!(pick("ws://nas:7345/ws?a=1&token=", None, false).is_err());
        assert_eq!(pick("ws://nas:7345/ws?token=T", None, true), Ok(None));
        assert_eq!(pick("wss://nas:7345/ws?token=T", None, false), Ok(None));
        assert_eq!(pick("ws://nas:7345/ws?tokens=T", None, false), Ok(None));
    }
}
