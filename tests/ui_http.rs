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
