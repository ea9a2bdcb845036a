//! TLS: `--tls self-signed` makes a certificate on first use, prints its fingerprint once, and
//! serves the API (`wss://`) and the web UI (`https://`) with it. A client pinning that
//! fingerprint connects; a client pinning another one is refused during the handshake and
//! reaches nothing. From another host (a network namespace) with the token, as a user would.

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::netns::RemoteServer;
use support::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::Connector;

const TOKEN: &str = "tls-test-token-0123456789abcdef012345";

async fn connect_pinned(url: &str, fingerprint: &str) -> Result<Client, String> {
    let pin = magnetar::tls::parse_fingerprint(fingerprint).unwrap();
    let config = magnetar::tls::pinned_client_config(pin).unwrap();
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
    );
    let connector = Connector::Rustls(Arc::new(config));
    match tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector))
        .await
    {
        Ok((socket, _)) => Ok(Client {
            socket,
            events: Default::default(),
            next_id: 0,
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// `GET /` over TLS with the pinned certificate: the status line and the body.
async fn https_get(url: &str, fingerprint: &str) -> String {
    let pin = magnetar::tls::parse_fingerprint(fingerprint).unwrap();
    let config = magnetar::tls::pinned_client_config(pin).unwrap();
    let authority = url
        .trim_start_matches("wss://")
        .trim_end_matches("/ws")
        .to_owned();
    let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let request = format!("GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// `openssl x509 -fingerprint -sha256` of a PEM certificate: `AB:CD:...`, upper-case hex.
fn openssl_fingerprint(cert: &std::path::Path) -> String {
    support::peers::require("openssl");
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "sha256 Fingerprint=AB:CD:..." (the prefix's case varies between versions).
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim()
        .split_once('=')
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .1
        .to_ascii_uppercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_tls_with_a_pinned_fingerprint_from_another_host() {
    let settings = json!({"token": TOKEN}).to_string();
    let Some(server) = RemoteServer::start(&settings, &["--tls", "self-signed"]) else {
        return;
    };
    assert!(server.url.starts_with("wss://"), "{}", server.url);
    let cert = server.data_dir.join("tls/cert.pem");
    assert!(cert.exists() && server.data_dir.join("tls/key.pem").exists());

    // The right pin, computed by openssl from the certificate file (not by the code under
    // test): the API works over wss.
    let fingerprint = openssl_fingerprint(&cert);
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    let mut client = connect_pinned(&server.url, &fingerprint)
        .await
        .expect("pinned connect");
    client
        .add_magnet("magnet:?xt=urn:btih:5555555555555555555555555555555555555555&dn=over-tls")
        .await;
    // Settled first (no tracker, no peer, no DHT: it fails at once), so the baseline holds.
    client
        .poll_state("5555555555555555555555555555555555555555", 5)
        .await;
    let baseline = client.ok("task.list", Value::Null).await;
    assert_eq!(baseline[0]["name"], "over-tls");

    // The web UI over https.
    let page = https_get(&server.url, &fingerprint).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.to_ascii_lowercase().contains("<html"), "{page}");

    // A wrong pin: refused in the handshake, nothing reaches the server.
    let wrong = "00".repeat(32);
    let refused = connect_pinned(&server.url, &wrong).await;
    let error = refused.err().expect("a wrong fingerprint must not connect");
    assert!(error.contains("fingerprint"), "{error}");
    assert_eq!(client.ok("task.list", Value::Null).await, baseline);

    // `magnetar remote` pins it too: the right fingerprint works, a wrong one is exit 3.
    let remote = |fingerprint: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_magnetar"))
            .args(["remote", "--url", &server.url, "--token", TOKEN])
            .args(["--fingerprint", fingerprint, "--json", "list"])
            .output()
            .unwrap()
    };
    let pinned = remote(&fingerprint);
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    let listed: Value = serde_json::from_slice(&pinned.stdout).unwrap();
    assert_eq!(listed, baseline);
    assert_eq!(remote(&wrong).status.code(), Some(3));

    // Plain ws:// to a TLS port gets nowhere either.
    let plain = server.url.replacen("wss://", "ws://", 1);
    let plain = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        tokio_tungstenite::connect_async(plain),
    )
    .await;
    assert!(!matches!(plain, Ok(Ok(_))), "plain ws must not work");

    // The fingerprint was printed once, on stderr, and matches the certificate.
    drop(client);
    let printed = server.stop();
    assert_eq!(printed.matches(&fingerprint).count(), 1, "{printed}");
    assert!(!printed.contains(TOKEN), "the token leaked into the output");
}
