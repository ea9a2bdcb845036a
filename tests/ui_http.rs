//! The web UI's files over plain HTTP, as any browser gets them: each at its path with its
//! content type, an ETag that a revalidation answers with 304, `no-cache`, 404 for anything
//! else, and no way out of the embedded folder.

mod support;

use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One raw HTTP/1.1 GET; the status code and the head.
async fn get(server: &TestServer, path: &str, extra: &str) -> (u16, String) {
    let authority = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws");
    let mut tcp = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n{extra}Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    (status, head)
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
}

#[tokio::test]
async fn ui_files_have_types_etags_and_nothing_else_is_served() {
    let server = TestServer::start().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/js/app.js", "javascript"),
        ("/js/table.js", "javascript"),
        ("/css/app.css", "text/css"),
    ] {
        let (status, head) = get(&server, path, "").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            header(&head, "content-type").contains(kind),
            "{path}: {head}"
        );
        assert_eq!(header(&head, "cache-control"), "no-cache", "{path}");
        let etag = header(&head, "etag").to_owned();
        assert!(etag.len() > 10, "{path}: {head}");
        let (again, _) = get(&server, path, &format!("If-None-Match: {etag}\r\n")).await;
        assert_eq!(again, 304, "{path} revalidated");
        let (changed, _) = get(&server, path, "If-None-Match: \"other\"\r\n").await;
        assert_eq!(changed, 200, "{path} with a stale tag");
    }
    for path in [
        "/nope.js",
        "/js/../index.html",
        "/%2e%2e/Cargo.toml",
        "/../Cargo.toml",
        "//etc/passwd",
        "/js/",
    ] {
        let (status, _) = get(&server, path, "").await;
        assert_eq!(status, 404, "{path}");
    }
}

/// Every answer of the UI, the page and its scripts alike (and a 304 and a 404), forbids
/// framing (`frame-ancestors 'none'`, which only a header can say), carries the desktop
/// window's policy, and sends no referrer.
#[tokio::test]
async fn ui_answers_carry_a_policy_that_forbids_framing() {
    let server = TestServer::start().await;
    let conf: serde_json::Value = serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
    let desktop = conf["app"]["security"]["csp"].as_str().unwrap();
    let (_, index) = get(&server, "/index.html", "").await;
    let etag = header(&index, "etag").to_owned();
    for (path, extra) in [
        ("/", String::new()),
        ("/index.html", String::new()),
        ("/js/app.js", String::new()),
        ("/css/app.css", String::new()),
        ("/index.html", format!("If-None-Match: {etag}\r\n")),
        ("/nope.js", String::new()),
    ] {
        let (status, head) = get(&server, path, &extra).await;
        let policy = header(&head, "content-security-policy");
        let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
        assert!(
            directives.contains(&"frame-ancestors 'none'"),
            "{path} ({status}): {head}"
        );
        for directive in desktop.split(';').map(str::trim) {
            assert!(
                directives.contains(&directive.to_ascii_lowercase().as_str()),
                "{path} ({status}) lacks the desktop's {directive}: {head}"
            );
        }
        assert_eq!(
            header(&head, "x-content-type-options"),
            "nosniff",
            "{path} ({status})"
        );
        assert_eq!(
            header(&head, "referrer-policy"),
            "no-referrer",
            "{path} ({status})"
        );
    }
}
