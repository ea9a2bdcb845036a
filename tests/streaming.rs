//! Streaming a task's file over HTTP while it downloads (`GET /stream/{task_id}/{file}`,
//! `stream.url`, docs/API.md section 12), against the real server and real peers: media made
//! here by ffmpeg, played by ffprobe and ffmpeg through the stream while a rate-limited librqbit
//! seeder sends it; byte ranges; signed links; a hundred clients that walk away; the stream
//! limit; four streams and a download at once. Expectations come from the media files ffmpeg
//! made and from HTTP's rules, never from the code under test.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::media::make_media;
use support::peers::{require, LibrqbitSeeder};
use support::torrent::{TestTorrent, TorrentSpec};
use support::{poll_until, Client, ServeProcess, TestServer};

const PATIENCE: Duration = Duration::from_secs(120);
const READ_ONLY: &str = "read-only-token-for-streams-0123456789";

/// ffprobe's duration (seconds) and codec names of `input` (a file or a URL).
async fn probe(input: String) -> (f64, Vec<String>) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-rw_timeout",
                "100000000",
                "-show_entries",
                "format=duration:stream=codec_name",
                "-of",
                "json",
            ])
            .arg(&input)
            .output()
            .expect("ffprobe runs");
        assert!(
            out.status.success(),
            "ffprobe {input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let duration: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        let mut codecs: Vec<String> = v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_name"].as_str().unwrap().to_owned())
            .collect();
        codecs.sort();
        (duration, codecs)
    })
    .await
    .unwrap()
}

/// The first video frame at or after 50 s of `input`, decoded to raw RGB.
async fn frame_at_50s(input: String) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-rw_timeout", "100000000", "-ss", "50", "-i"])
            .arg(&input)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "ffmpeg -ss 50 -i {input}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), 320 * 240 * 3, "one 320x240 RGB frame");
        out.stdout
    })
    .await
    .unwrap()
}

async fn link(client: &mut Client, id: &str, file: u64) -> String {
    let result = client
        .ok("stream.url", json!({"task_id": id, "file_index": file}))
        .await;
    result["url"].as_str().unwrap().to_owned()
}

/// The pieces held, from `task.getStatus`.
async fn pieces(client: &mut Client, id: &str) -> Vec<bool> {
    let status = client.status(id).await;
    status["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_bool().unwrap())
        .collect()
}

/// Waits until the task is complete and seeding (state 2: seeding is on in tests).
async fn wait_complete(client: &mut Client, id: &str) {
    client.poll_state(id, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_plays_and_seeks_while_it_downloads() {
    require("ffmpeg");
    require("ffprobe");
    let media = tempfile::tempdir().unwrap();
    let (webm, mp4) = make_media(media.path());
    let webm_bytes = std::fs::read(&webm).unwrap();
    let mp4_bytes = std::fs::read(&mp4).unwrap();
    let piece_length = 32 * 1024;
    let torrent = TestTorrent::from_contents(
        "film",
        vec![
            ("film.mp4".into(), mp4_bytes.clone()),
            ("film.webm".into(), webm_bytes.clone()),
        ],
        false,
        piece_length,
    );
    let total = torrent.total_len();
    // About 14 MB at 512 KiB/s: some 27 s for the whole download.
    let seeder = LibrqbitSeeder::start_limited(&torrent, Some(512 * 1024)).await;
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    let mp4_url = link(&mut client, &id, 0).await;
    let webm_url = link(&mut client, &id, 1).await;

    // The hard case first: the MP4's index is at its end.
    let started = std::time::Instant::now();
    let (duration, codecs) = probe(mp4_url.clone()).await;
    println!("the MP4 probed in {:?}", started.elapsed());
    let (want_duration, want_codecs) = probe(mp4.display().to_string()).await;
    assert_eq!(codecs, want_codecs);
    assert_eq!(codecs, ["aac", "h264"]);
    assert!((duration - want_duration).abs() < 0.01 && (duration - 60.0).abs() < 1.0);
    let (duration, codecs) = probe(webm_url.clone()).await;
    println!("the WebM probed at {:?}", started.elapsed());
    let (want_duration, want_codecs) = probe(webm.display().to_string()).await;
    assert_eq!(codecs, want_codecs);
    assert_eq!(codecs, ["opus", "vp8"]);
    assert!((duration - want_duration).abs() < 0.01 && (duration - 60.0).abs() < 1.0);
    let summary = client.summary(&id).await;
    let done = summary["dl_bytes"].as_u64().unwrap();
    println!("both probed with {done} of {total} bytes downloaded");
    assert!(
        done < total / 2,
        "the probes ended before the download was half done: {summary}"
    );

    // A frame from near the end of each, while pieces before it are still missing.
    let webm_frame = frame_at_50s(webm_url.clone()).await;
    let held = pieces(&mut client, &id).await;
    // The WebM's pieces before its 50th second (it comes after the MP4 in the torrent).
    let webm_first = mp4_bytes.len() / piece_length + 1;
    let before_50s = (mp4_bytes.len() + webm_bytes.len() * 5 / 6) / piece_length;
    let missing = held[webm_first..before_50s].iter().filter(|h| !**h).count();
    println!(
        "after the WebM frame ({:?}): {missing} of its {} pieces before 50 s still missing",
        started.elapsed(),
        before_50s - webm_first
    );
    assert!(
        missing > 0,
        "the frame at 50 s was decoded only once everything before it had arrived"
    );
    let mp4_frame = frame_at_50s(mp4_url.clone()).await;

    wait_complete(&mut client, &id).await;
    assert_eq!(
        webm_frame,
        frame_at_50s(webm.display().to_string()).await,
        "the WebM's frame at 50 s, streamed, is the one decoded from the file itself"
    );
    assert_eq!(
        mp4_frame,
        frame_at_50s(mp4.display().to_string()).await,
        "the MP4's frame at 50 s, streamed, is the one decoded from the file itself"
    );
    // The whole stream is the file, byte for byte.
    let response = reqwest::get(&mp4_url).await.expect("the MP4 streams again");
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("the whole MP4");
    assert!(body[..] == mp4_bytes[..], "the streamed MP4 is the file");
}

/// The server with `loopback_needs_token` on, so that links and tokens are what let a request
/// in; its token.
async fn server_needing_tokens(root: &Path) -> (TestServer, String) {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("settings.json"),
        json!({"loopback_needs_token": true, "read_only_token": READ_ONLY}).to_string(),
    )
    .unwrap();
    let server = TestServer::start_in(root).await;
    let token = std::fs::read_to_string(data.join("token")).unwrap();
    (server, token.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_heads_and_signed_links() {
    let root = tempfile::tempdir().unwrap();
    let (server, token) = server_needing_tokens(root.path()).await;
    let mut client = Client::connect(&format!("{}?token={token}", server.url)).await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "clips",
        files: vec![("clip één.webm", 300_001), ("song.mp3", 10_000)],
        single: false,
        piece_length: 16 * 1024,
        seed: 41,
        ..Default::default()
    });
    torrent.write_content(&server.download_dir);
    client.add_torrent(&torrent).await;
    let id = torrent.info_hash.clone();
    wait_complete(&mut client, &id).await;
    let data = &torrent.files[0].1;
    let size = data.len() as u64;

    let result = client
        .ok("stream.url", json!({"task_id": id, "file_index": 0}))
        .await;
    let url = result["url"].as_str().unwrap().to_owned();
    assert!(!url.contains(&token), "the link holds no API token: {url}");
    assert!(url.contains("?st="), "{url}");
    assert_eq!(result["size"], size);
    assert_eq!(result["name"], "clip één.webm");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires = result["expires"].as_u64().unwrap();
    assert!(expires > now + 11 * 3600 && expires <= now + 12 * 3600 + 5);

    let http = reqwest::Client::new();
    let plain_url = format!("{}/stream/{id}/0", server.http_base());
    // No token, no link: refused; the token (header or query) or the link let it in.
    let refused = http.get(&plain_url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let with_header = http
        .get(&plain_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 200);
    assert!(with_header.bytes().await.unwrap()[..] == data[..]);
    let with_query = http
        .get(format!("{plain_url}?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_query.status(), 200);
    // A page of another site needs a link, token or not.
    let cross = http
        .get(&plain_url)
        .bearer_auth(&token)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    // HEAD: the headers, no body.
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&head, "content-length"), size.to_string());
    assert_eq!(header(&head, "accept-ranges"), "bytes");
    assert_eq!(header(&head, "content-type"), "video/webm");
    assert_eq!(
        header(&head, "content-disposition"),
        "inline; filename=\"clip __n.webm\"; filename*=UTF-8''clip%20%C3%A9%C3%A9n.webm"
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let ranged = |range: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http.get(&url).header("Range", range).send().await.unwrap();
            let status = r.status().as_u16();
            let content_range = header(&r, "content-range");
            (status, content_range, r.bytes().await.unwrap().to_vec())
        }
    };
    let last = size - 1;
    assert_eq!(
        ranged(format!("bytes={last}-{last}")).await,
        (
            206,
            format!("bytes {last}-{last}/{size}"),
            vec![data[last as usize]]
        )
    );
    assert_eq!(
        ranged("bytes=-1000".into()).await,
        (
            206,
            format!("bytes {}-{last}/{size}", size - 1000),
            data[data.len() - 1000..].to_vec()
        )
    );
    assert_eq!(
        ranged("bytes=100-199".into()).await,
        (
            206,
            format!("bytes 100-199/{size}"),
            data[100..200].to_vec()
        )
    );
    assert_eq!(
        ranged(format!("bytes={last}-")).await,
        (
            206,
            format!("bytes {last}-{last}/{size}"),
            vec![data[last as usize]]
        )
    );
    let (status, content_range, _) = ranged(format!("bytes={size}-")).await;
    assert_eq!((status, content_range), (416, format!("bytes */{size}")));
    let (status, content_range, _) = ranged(format!("bytes={}-{}", size + 10, size + 20)).await;
    assert_eq!((status, content_range), (416, format!("bytes */{size}")));

    // The link is for its file only; a changed one is refused without saying why.
    let other_file = url.replace(&format!("/{id}/0?"), &format!("/{id}/1?"));
    let refused = http.get(&other_file).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.text().await.unwrap(),
        "invalid or expired stream link\n"
    );
    let mut tampered = url.clone().into_bytes();
    let end = tampered.len() - 1;
    tampered[end] = if tampered[end] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(http.get(&tampered).send().await.unwrap().status(), 403);
    let later = {
        let (head, st) = url.split_once("?st=").unwrap();
        let (expires, rest) = st.split_once('.').unwrap();
        let later: u64 = expires.parse::<u64>().unwrap() + 3600;
        format!("{head}?st={later}.{rest}")
    };
    assert_eq!(http.get(&later).send().await.unwrap().status(), 403);
    // A link for a short time expires.
    let short = client
        .ok(
            "stream.url",
            json!({"task_id": id, "file_index": 1, "lifetime_seconds": 1}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = http
        .get(short["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 403);
    // A fresh link to the second file works.
    let song = link(&mut client, &id, 1).await;
    let got = http.get(&song).send().await.unwrap();
    assert_eq!(header(&got, "content-type"), "audio/mpeg");
    assert!(got.bytes().await.unwrap()[..] == torrent.files[1].1[..]);

    // Bad input to stream.url: -2 naming the field, on a connection that keeps working.
    for (params, field) in [
        (json!({"task_id": id, "file_index": 2}), "file_index"),
        (json!({"task_id": id, "file_index": -1}), "file_index"),
        (json!({"task_id": id}), "file_index"),
        (
            json!({"task_id": id, "file_index": 0, "lifetime_seconds": 0}),
            "lifetime_seconds",
        ),
        (
            json!({"task_id": id, "file_index": 0, "lifetime_seconds": 43201}),
            "lifetime_seconds",
        ),
        (json!({"task_id": 5, "file_index": 0}), "task_id"),
        (json!({"task_id": id, "file_index": 0, "x": 1}), "x"),
    ] {
        let response = client.call("stream.url", params.clone()).await;
        assert_eq!(response["error"], -2, "{params}: {response}");
        assert!(
            response["message"].as_str().unwrap().contains(field),
            "{params}: {response}"
        );
        client.ok("task.list", Value::Null).await;
    }
    let unknown = client
        .call(
            "stream.url",
            json!({"task_id": "0".repeat(40), "file_index": 0}),
        )
        .await;
    assert_eq!(unknown["error"], -4);
    // The endpoint's own 404s.
    let none = http
        .get(format!(
            "{}/stream/{}/0",
            server.http_base(),
            "0".repeat(40)
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
    for bad in ["2", "x", "-1"] {
        let no_file = http
            .get(format!("{}/stream/{id}/{bad}", server.http_base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(no_file.status(), 404, "file {bad}");
    }
    let no_file = http
        .get(format!("{}/stream/{id}/1", server.http_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), 200);
}

/// The descriptors the server process holds open.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The server process's resident memory, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Sends a GET for `path` and reads the answer's head and `body_bytes` of its body (fewer if
/// it ends); returns the status line.
fn raw_get(
    addr: std::net::SocketAddr,
    path: &str,
    body_bytes: usize,
) -> (std::net::TcpStream, String) {
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(socket, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        let n = socket.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed before its answer");
        seen.extend_from_slice(&buf[..n]);
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let status = String::from_utf8_lossy(&seen[..seen.iter().position(|b| *b == b'\r').unwrap()])
        .into_owned();
    let mut body = seen.len() - head_end;
    while body < body_bytes {
        match socket.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body += n,
        }
    }
    (socket, status)
}

/// Against the real binary, measured from outside: its descriptors and memory in /proc, and
/// librqbit's permits by what it can still open (16 streams at once, then 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_clients_walk_away_and_the_stream_limit_holds() {
    let server = ServeProcess::start();
    let pid = server.pid();
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let http_base = format!("http://{addr}");
    let mut client = Client::connect(&server.url).await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "big.mkv",
        files: vec![("big.mkv", 8 * 1024 * 1024)],
        single: true,
        piece_length: 256 * 1024,
        seed: 43,
        ..Default::default()
    });
    torrent.write_content(&server.download_dir);
    client.add_torrent(&torrent).await;
    let id = torrent.info_hash.clone();
    wait_complete(&mut client, &id).await;
    let path = format!("/stream/{id}/0");

    // Warm up (the first streams allocate what later ones reuse), then measure.
    let get = |path: String, body_bytes: usize| {
        tokio::task::spawn_blocking(move || raw_get(addr, &path, body_bytes))
    };
    for _ in 0..3 {
        let (socket, status) = get(path.clone(), 1 << 20).await.unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK");
        drop(socket);
    }
    // Before: 16 streams open at once (once the warm-up's have closed).
    let held = poll_until(
        "16 streams open at once",
        PATIENCE,
        Duration::from_millis(200),
        async || {
            // Streams of clients gone a moment ago may still be closing: try again.
            let mut held = Vec::new();
            for _ in 0..16 {
                let (socket, status) = get(path.clone(), 0).await.unwrap();
                if !status.starts_with("HTTP/1.1 200") {
                    return Err(status);
                }
                held.push(socket);
            }
            Ok(held)
        },
    )
    .await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds_before = open_descriptors(pid);
    let rss_before = resident_kib(pid);
    let rounds = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            for round in 0..100 {
                // Half ask from the start, half from the middle; each reads 64 KiB and goes.
                let (socket, status) = if round % 2 == 0 {
                    raw_get(addr, &path, 64 * 1024)
                } else {
                    let mut socket = std::net::TcpStream::connect(addr).unwrap();
                    write!(
                        socket,
                        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=4000000-\r\n\r\n"
                    )
                    .unwrap();
                    let mut buf = [0u8; 64 * 1024];
                    let n = socket.read(&mut buf).unwrap();
                    let status = String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    (socket, status)
                };
                assert!(status.starts_with("HTTP/1.1 20"), "round {round}: {status}");
                drop(socket);
            }
        }
    });
    rounds.await.unwrap();
    let fds_after = poll_until(
        "the server's descriptors come back",
        PATIENCE,
        Duration::from_millis(100),
        async || match open_descriptors(pid) {
            n if n <= fds_before => Ok(n),
            n => Err(format!("{n} open, {fds_before} before")),
        },
    )
    .await;
    let rss_after = resident_kib(pid);
    println!(
        "100 clients walked away: the server's descriptors {fds_before} -> {fds_after}, \
         its resident memory {rss_before} KiB -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory grew by {} KiB over 100 abandoned streams",
        rss_after - rss_before
    );

    // No permit leaked: 16 streams open at once again, and one more is 503; meanwhile the API
    // answers and a download runs to its end (the disk keeps its own permits).
    let held = poll_until(
        "16 streams open at once after the 100",
        PATIENCE,
        Duration::from_millis(200),
        async || {
            let mut held = Vec::new();
            for _ in 0..16 {
                let (socket, status) = get(path.clone(), 0).await.unwrap();
                if !status.starts_with("HTTP/1.1 200") {
                    return Err(status);
                }
                held.push(socket);
            }
            Ok(held)
        },
    )
    .await;
    let busy = reqwest::get(format!("{http_base}{path}")).await.unwrap();
    assert_eq!(busy.status(), 503, "a 17th stream is refused at once");
    assert_eq!(busy.headers()["retry-after"], "5");
    let other = TestTorrent::build(TorrentSpec {
        name: "other.bin",
        files: vec![("other.bin", 3 * 1024 * 1024)],
        seed: 44,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start(&other).await;
    client.add_magnet(&other.magnet(&[seeder.addr])).await;
    wait_complete(&mut client, &other.info_hash).await;
    other.assert_downloaded(&server.download_dir);
    client.ok("task.list", Value::Null).await;
    drop(held);
    let again = poll_until(
        "a stream opens once the held ones are gone",
        PATIENCE,
        Duration::from_millis(100),
        async || {
            let response = reqwest::get(format!("{http_base}{path}")).await.unwrap();
            match response.status().as_u16() {
                200 => Ok(response),
                other => Err(other),
            }
        },
    )
    .await;
    assert!(again.bytes().await.unwrap()[..] == torrent.files[0].1[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_streams_from_two_clients_and_a_download_all_progress() {
    let streamed = TestTorrent::build(TorrentSpec {
        name: "pair",
        files: vec![("one.mkv", 1_500_000), ("two.mkv", 1_200_000)],
        single: false,
        piece_length: 32 * 1024,
        seed: 45,
        ..Default::default()
    });
    let downloaded = TestTorrent::build(TorrentSpec {
        name: "plain.bin",
        files: vec![("plain.bin", 2 * 1024 * 1024)],
        seed: 46,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start_limited(&streamed, Some(512 * 1024)).await;
    let other_seeder = LibrqbitSeeder::start_limited(&downloaded, Some(512 * 1024)).await;
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = streamed.info_hash.clone();
    client.add_magnet(&streamed.magnet(&[seeder.addr])).await;
    client
        .add_magnet(&downloaded.magnet(&[other_seeder.addr]))
        .await;
    client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    let urls = [
        link(&mut client, &id, 0).await,
        link(&mut client, &id, 1).await,
    ];
    // Two clients (two connection pools), each playing both files.
    let players = [reqwest::Client::new(), reqwest::Client::new()];
    let mut streams = Vec::new();
    for player in &players {
        for (file, url) in urls.iter().enumerate() {
            let (player, url) = (player.clone(), url.clone());
            let want = streamed.files[file].1.clone();
            streams.push(tokio::spawn(async move {
                let mut response = player.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                let mut got = Vec::new();
                while let Some(chunk) = response.chunk().await.unwrap() {
                    got.extend_from_slice(&chunk);
                }
                assert!(got == want, "file {file} streamed whole and right");
                got.len()
            }));
        }
    }
    // The API answers throughout.
    let mut lists = 0;
    while !streams.iter().all(|s| s.is_finished()) {
        tokio::time::timeout(Duration::from_secs(10), client.ok("task.list", Value::Null))
            .await
            .expect("task.list answers while four streams run");
        lists += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for stream in streams {
        stream.await.unwrap();
    }
    println!("task.list answered {lists} times while the four streams ran");
    assert!(lists > 0);
    wait_complete(&mut client, &downloaded.info_hash).await;
    downloaded.assert_downloaded(&server.download_dir);
    wait_complete(&mut client, &id).await;
}

/// A client that goes away while its read waits for data that has not come frees its stream
/// then, not at the stall timeout: librqbit's permit comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_while_waiting_frees_its_stream() {
    let torrent = TestTorrent::build(TorrentSpec {
        name: "slow.mkv",
        files: vec![("slow.mkv", 4 * 1024 * 1024)],
        piece_length: 64 * 1024,
        seed: 47,
        ..Default::default()
    });
    // 16 KiB/s: the end of the file is minutes away.
    let seeder = LibrqbitSeeder::start_limited(&torrent, Some(16 * 1024)).await;
    let server = TestServer::start().await;
    let running = server.running.as_ref().unwrap();
    let (engine, addr) = (running.engine.clone(), running.addr);
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    for _ in 0..5 {
        let path = format!("/stream/{id}/0");
        let socket = tokio::task::spawn_blocking(move || {
            let mut socket = std::net::TcpStream::connect(addr).unwrap();
            write!(
                socket,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=-1000\r\n\r\n"
            )
            .unwrap();
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).unwrap();
            assert!(
                String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 206"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            socket
        })
        .await
        .unwrap();
        assert_eq!(engine.open_streams(), 1, "the stream waits for its data");
        drop(socket);
        poll_until(
            "the stream of a client that left closes",
            Duration::from_secs(20),
            Duration::from_millis(50),
            async || match engine.open_streams() {
                0 => Ok(()),
                n => Err(n),
            },
        )
        .await;
    }
    let summary = client.summary(&id).await;
    assert_ne!(summary["state"], 2, "the download had not ended: {summary}");
}

/// A paused task whose file is not complete is resumed for a caller that may change tasks,
/// and refused (409, saying why) to a read-only one, whether it brings a link or the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_task_resumes_for_a_writer_only() {
    let torrent = TestTorrent::build(TorrentSpec {
        name: "paused.mkv",
        files: vec![("paused.mkv", 4 * 1024 * 1024)],
        piece_length: 64 * 1024,
        seed: 48,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start_limited(&torrent, Some(32 * 1024)).await;
    let root = tempfile::tempdir().unwrap();
    let (server, token) = server_needing_tokens(root.path()).await;
    let mut writer = Client::connect(&format!("{}?token={token}", server.url)).await;
    let mut reader = Client::connect(&format!("{}?token={READ_ONLY}", server.url)).await;
    let id = torrent.info_hash.clone();
    writer.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    writer.poll_state(&id, 1).await;
    writer.ok("task.pause", json!({"task_id": id})).await;
    writer.poll_state(&id, 4).await;

    let http = reqwest::Client::new();
    let read_only_link = link(&mut reader, &id, 0).await;
    assert!(!read_only_link.contains(READ_ONLY));
    let refused = http.get(&read_only_link).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    let why = refused.text().await.unwrap();
    assert!(why.contains("paused"), "{why}");
    let plain_url = format!("{}/stream/{id}/0", server.http_base());
    let refused = http
        .get(&plain_url)
        .bearer_auth(READ_ONLY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    // HEAD opens no stream and resumes nothing.
    let head = http.head(&read_only_link).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(writer.summary(&id).await["state"], 4);

    // The writer's link resumes it, as task.resume would.
    let writer_link = link(&mut writer, &id, 0).await;
    let playing = http
        .get(&writer_link)
        .header("Range", "bytes=0-65535")
        .send()
        .await
        .unwrap();
    assert_eq!(playing.status(), 206);
    writer.poll_state(&id, 1).await;
    let body = playing.bytes().await.unwrap();
    assert!(body[..] == torrent.files[0].1[..65536]);
}

/// `magnetar remote stream ID [FILE]` prints a link that plays the file (the largest one when
/// no index is given), on the address the command used, with no token in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_command_prints_a_working_link() {
    let server = ServeProcess::start();
    let mut client = Client::connect(&server.url).await;
    let torrent = TestTorrent::build(TorrentSpec {
        name: "show",
        files: vec![("subs.srt", 5_000), ("episode.mkv", 200_000)],
        single: false,
        piece_length: 16 * 1024,
        seed: 49,
        ..Default::default()
    });
    torrent.write_content(&server.download_dir);
    client.add_torrent(&torrent).await;
    let id = torrent.info_hash.clone();
    wait_complete(&mut client, &id).await;
    let remote = |args: Vec<String>| {
        let url = server.url.clone();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_magnetar"))
                .args(["remote", "--url", &url])
                .args(&args)
                .env_remove("MAGNETAR_TOKEN")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "magnetar remote {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        })
    };
    let base = server.url.replace("ws://", "http://").replace("/ws", "");
    for (args, file) in [
        (vec!["stream".to_owned(), id[..8].to_owned()], 1),
        (vec!["stream".to_owned(), id.clone(), "0".to_owned()], 0),
    ] {
        let printed = remote(args).await.unwrap();
        assert!(
            printed.starts_with(&format!("{base}/stream/{id}/{file}?st=")),
            "{printed}"
        );
        let body = reqwest::get(&printed).await.unwrap().bytes().await.unwrap();
        assert!(body[..] == torrent.files[file].1[..], "file {file}");
    }
    let json_out = remote(vec!["--json".into(), "stream".into(), id.clone()])
        .await
        .unwrap();
    let json: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(json["name"], "episode.mkv");
    assert_eq!(json["size"], 200_000);
}

/// A player that asks for a file while the task checks the data already on disk waits for the
/// check rather than being refused; a task added paused (whose check librqbit holds until it
/// runs) is resumed for it, as a paused task is. The torrent's piece hashes match nothing:
/// the 768 MiB already there (a sparse file) are all checked and all wrong, which takes a
/// moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_asked_during_the_check_waits_for_it() {
    for paused in [false, true] {
        let (status, summary) = stream_during_check(paused).await;
        assert_eq!(status, "HTTP/1.1 200 OK", "paused: {paused}: {summary}");
        assert_eq!(summary["state"], 1, "the check is over, it runs: {summary}");
    }
}

/// Adds a 768 MiB torrent whose file is already on disk (sparse), `paused` or not, and asks
/// for its stream at once: the answer's status line, and the task after it.
async fn stream_during_check(paused: bool) -> (String, Value) {
    use support::torrent::{torrent_with_info, Bencode};
    const LENGTH: u64 = 768 * 1024 * 1024;
    const PIECE: u64 = 4 * 1024 * 1024;
    let hashes: Vec<u8> = (0..LENGTH / PIECE * 20)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let bytes = torrent_with_info(vec![
        ("name", Bencode::str("checked.mkv")),
        ("length", Bencode::Int(LENGTH as i64)),
        ("piece length", Bencode::Int(PIECE as i64)),
        ("pieces", Bencode::Bytes(hashes)),
    ]);
    let server = TestServer::start().await;
    let addr = server.running.as_ref().unwrap().addr;
    std::fs::create_dir_all(&server.download_dir).unwrap();
    std::fs::File::create(server.download_dir.join("checked.mkv"))
        .unwrap()
        .set_len(LENGTH)
        .unwrap();
    let mut client = server.client().await;
    let uri = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    client
        .ok(
            "task.add",
            json!({"type": "torrent", "uri": uri, "paused": paused}),
        )
        .await;
    let list = client.ok("task.list", Value::Null).await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let expected_state = if paused { 4 } else { 0 };
    assert_eq!(
        list[0]["state"], expected_state,
        "the stream is asked while the data is checked: {list}"
    );
    let path = format!("/stream/{id}/0");
    let asked = std::time::Instant::now();
    let (socket, status) = tokio::task::spawn_blocking(move || raw_get(addr, &path, 0))
        .await
        .unwrap();
    let waited = asked.elapsed();
    let summary = client.summary(&id).await;
    println!("paused: {paused}: the stream answered {status} after {waited:?}; then: {summary}");
    drop(socket);
    (status, summary)
}

/// "Open in player" (`stream.openInPlayer`): the desktop's opener is handed a one-entry
/// playlist whose link streams the file while it downloads. Here the opener records what it
/// is given (the desktop test checks the real one); without one (headless), a clear -2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_in_player_hands_the_player_a_playlist_that_streams() {
    let torrent = TestTorrent::build(TorrentSpec {
        name: "player.mkv",
        files: vec![("player.mkv", 2 * 1024 * 1024)],
        piece_length: 64 * 1024,
        seed: 49,
        ..Default::default()
    });
    let seeder = LibrqbitSeeder::start_limited(&torrent, Some(64 * 1024)).await;
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let id = torrent.info_hash.clone();
    client.add_magnet(&torrent.magnet(&[seeder.addr])).await;
    client
        .wait_event("task.metadataReceived", |d| d["id"] == id)
        .await;
    let params = json!({"task_id": id, "file_index": 0});
    let headless = client.call("stream.openInPlayer", params.clone()).await;
    assert_eq!(headless["error"], -2, "{headless}");
    assert!(
        headless["message"].as_str().unwrap().contains("headless"),
        "{headless}"
    );

    let opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = opened.clone();
    server
        .running
        .as_ref()
        .unwrap()
        .api
        .set_folder_opener(Box::new(move |path| {
            record.lock().unwrap().push(path.to_owned());
            Ok(())
        }));
    let answer = client.ok("stream.openInPlayer", params).await;
    let playlist = std::path::PathBuf::from(answer["playlist"].as_str().unwrap());
    assert_eq!(*opened.lock().unwrap(), vec![playlist.clone()]);
    assert!(playlist.starts_with(&server.data_dir), "{playlist:?}");
    let text = std::fs::read_to_string(&playlist).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "#EXTM3U");
    assert_eq!(lines[1], "#EXTINF:-1,player.mkv");
    assert_eq!(lines[2], answer["url"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&playlist).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the link is the file's key");
    }
    // The player's request: the last bytes first (as players probe), while the start is
    // still downloading.
    let response = reqwest::Client::new()
        .get(lines[2])
        .header("Range", "bytes=-4096")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    let tail = response.bytes().await.unwrap();
    let content = &torrent.files[0].1;
    assert!(
        tail[..] == content[content.len() - 4096..],
        "the file's last 4 KiB"
    );
    let summary = client.summary(&id).await;
    assert_eq!(summary["state"], 1, "still downloading: {summary}");
}
