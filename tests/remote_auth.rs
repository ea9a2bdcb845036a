//! Attacks on the remote endpoint, each from another host (a network namespace the test makes)
//! against the real binary: no token, a wrong token, a silent socket, a lockout and its expiry,
//! the read-only token, foreign Origin and Host, a forged X-Forwarded-For, a flood of adds, and
//! 100 unauthenticated sockets. After each, an authorized client checks that nothing changed.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use support::netns::{try_connect, RemoteServer};
use support::Client;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const FULL: &str = "full-token-0123456789abcdef0123456789";
const READ_ONLY: &str = "read-only-token-0123456789abcdef01";

fn settings() -> String {
    json!({
        "token": FULL,
        "read_only_token": READ_ONLY,
        "lockout_seconds": 3,
        // A bucket of 3 adds, refilled one every 20 s: the flood below fires its 4 adds within
        // milliseconds of the bucket's creation, so the 4th is refused whatever the timing.
        "remote_adds_per_minute": 3,
    })
    .to_string()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn client(server: &RemoteServer, token: &str) -> Client {
    try_connect(&server.url, &[("Authorization", &bearer(token))])
        .await
        .unwrap_or_else(|status| panic!("refused with HTTP {status}"))
}

/// The next frame is a close with `code`, within `patience`.
async fn expect_close(client: &mut Client, code: CloseCode, patience: Duration) {
    loop {
        let next = tokio::time::timeout(patience, client.socket.next())
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, code, "{frame:?}");
                return;
            }
            Some(Ok(Message::Text(text))) => panic!("unexpected message {text}"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Refused with -6, its message containing `why`, then closed with 1008.
async fn refused(mut outsider: Client, why: &str) {
    let response = outsider.call("task.list", Value::Null).await;
    support::assert_error_shape(&response);
    assert_eq!(response["error"], -6, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(message.contains(why), "{message}");
    assert!(
        !message.contains(FULL) && !message.contains(READ_ONLY),
        "a token leaked: {message}"
    );
    assert!(outsider.events.is_empty(), "events reached an outsider");
    expect_close(&mut outsider, CloseCode::Policy, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_from_another_host_change_nothing() {
    let Some(server) = RemoteServer::start(&settings(), &[]) else {
        return;
    };
    let mut admin = client(&server, FULL).await;
    // task.add per minute per remote address: this address's first adds, sent together
    // without waiting for answers, so they all reach the bucket (3, new and full) within
    // milliseconds of each other: 3 allowed, the 4th is -8 with the wait until the next one.
    let kept = "abababababababababababababababababababab";
    let uris = [
        format!("magnet:?xt=urn:btih:{kept}&dn=kept"),
        "1111111111111111111111111111111111111111".to_owned(),
        "2222222222222222222222222222222222222222".to_owned(),
        "3333333333333333333333333333333333333333".to_owned(),
    ];
    for (i, uri) in uris.iter().enumerate() {
        let request = json!({"id": format!("add{i}"), "method": "task.add",
                             "params": {"type": "magnet", "uri": uri}});
        admin.send_text(request.to_string()).await;
    }
    for i in 0..uris.len() {
        let response = admin.response_to(&json!(format!("add{i}"))).await;
        if i < 3 {
            assert_eq!(response["error"], 0, "add #{}: {response}", i + 1);
            continue;
        }
        assert_eq!(response["error"], -8, "add #{}: {response}", i + 1);
        // "... try again in N s": about 20 s for a rate of 3 a minute.
        let message = response["message"].as_str().unwrap();
        let seconds: u64 = message
            .rsplit("try again in ")
            .next()
            .and_then(|rest| rest.trim_end_matches(" s").parse().ok())
            .unwrap_or_else(|| panic!("no wait in {message:?}"));
        assert!((15..=20).contains(&seconds), "{message}");
    }
    let list = admin.ok("task.list", Value::Null).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    for hash in &uris[1..3] {
        admin.ok("task.remove", json!({"task_id": hash})).await;
    }
    // Settled first (no tracker, no peer, no DHT: it fails at once), so the baseline holds.
    admin.poll_state(kept, 5).await;
    let baseline = admin.ok("task.list", Value::Null).await;
    assert_eq!(baseline.as_array().unwrap().len(), 1, "{baseline}");

    // A silent socket without a token is closed after 10 s; it runs beside the other cases.
    let silent = try_connect(&server.url, &[]).await.expect("upgraded");
    let silent_started = Instant::now();
    let silent = tokio::spawn(async move {
        let mut silent = silent;
        expect_close(&mut silent, CloseCode::Policy, Duration::from_secs(15)).await;
        silent_started.elapsed()
    });

    // No token; a wrong token; a forged X-Forwarded-For claiming loopback.
    refused(
        try_connect(&server.url, &[]).await.unwrap(),
        "must present the API token",
    )
    .await;
    refused(
        try_connect(&server.url, &[("Authorization", &bearer("wrong"))])
            .await
            .unwrap(),
        "wrong token",
    )
    .await;
    refused(
        try_connect(&server.url, &[("X-Forwarded-For", "127.0.0.1")])
            .await
            .unwrap(),
        "must present the API token",
    )
    .await;
    // `magnetar remote` without the token: exit 3 with the reason; with it: 0 (over plain ws://
    // to another host the CLI sends a token only with --insecure).
    let remote = |token: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_magnetar"));
        command
            .args(["remote", "--url", &server.url])
            .env_remove("MAGNETAR_TOKEN");
        if let Some(token) = token {
            command.args(["--token", token, "--insecure"]);
        }
        command.args(["list"]).output().unwrap()
    };
    let refused_cli = remote(None);
    assert_eq!(refused_cli.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused_cli.stderr).contains("token"));
    assert!(remote(Some(FULL)).status.success());

    // A right token clears the count of wrong ones.
    client(&server, FULL)
        .await
        .ok("task.list", Value::Null)
        .await;

    // Foreign Origin and foreign Host: refused before the upgrade.
    let origin = try_connect(
        &server.url,
        &[
            ("Authorization", &bearer(FULL)),
            ("Origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(origin.err(), Some(403));
    let host = try_connect(
        &server.url,
        &[("Authorization", &bearer(FULL)), ("Host", "evil.example")],
    )
    .await;
    assert_eq!(host.err(), Some(403));

    // The read-only token reads, and changes nothing.
    let mut reader = client(&server, READ_ONLY).await;
    assert_eq!(reader.ok("task.list", Value::Null).await, baseline);
    reader.ok("session.info", Value::Null).await;
    let id = "abababababababababababababababababababab";
    for (method, params) in [
        (
            "task.add",
            json!({"type": "magnet", "uri": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"}),
        ),
        ("task.pause", json!({"task_id": id})),
        ("task.resume", json!({"task_id": id})),
        ("task.remove", json!({"task_id": id, "delete_files": true})),
    ] {
        let response = reader.call(method, params).await;
        assert_eq!(response["error"], -6, "{method}: {response}");
        assert!(response["message"].as_str().unwrap().contains("read-only"));
    }
    assert_eq!(admin.ok("task.list", Value::Null).await, baseline);

    // Settings are not for remote clients unless remote_admin is on, even with the full token.
    let response = admin
        .call("session.setLimits", json!({"download_bps": 1000}))
        .await;
    assert_eq!(response["error"], -6, "{response}");
    assert!(response["message"]
        .as_str()
        .unwrap()
        .contains("remote_admin"));
    assert_eq!(
        admin.ok("session.info", Value::Null).await["download_bps"],
        Value::Null
    );

    // Five wrong tokens lock the address out, even for the right token, until it expires.
    for _ in 0..5 {
        refused(
            try_connect(&server.url, &[("Authorization", &bearer("guess"))])
                .await
                .unwrap(),
            "wrong token",
        )
        .await;
    }
    refused(
        try_connect(&server.url, &[("Authorization", &bearer(FULL))])
            .await
            .unwrap(),
        "locked out",
    )
    .await;
    let locked = Instant::now();
    let served = support::poll_until(
        "the lockout's end",
        Duration::from_secs(15),
        Duration::from_millis(250),
        async || {
            let mut admin_again = client(&server, FULL).await;
            let response = admin_again.call("task.list", Value::Null).await;
            if response["error"] == 0 {
                return Ok(response["result"].clone());
            }
            assert!(
                response["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("locked out")),
                "{response}"
            );
            expect_close(&mut admin_again, CloseCode::Policy, Duration::from_secs(5)).await;
            Err(response)
        },
    )
    .await;
    assert_eq!(served, baseline);
    let lockout_lasted = locked.elapsed();
    assert!(
        lockout_lasted >= Duration::from_millis(2500),
        "a 3 s lockout ended after {lockout_lasted:?}"
    );

    let silent_for = silent.await.unwrap();
    assert!(
        silent_for >= Duration::from_secs(9),
        "the silent socket was closed after only {silent_for:?}"
    );

    // 100 unauthenticated sockets, once every earlier refused one is closed: the first 64 are
    // held in their own pool, the other 36 are turned away with 503, and an authorized client
    // still connects and is served.
    let mut crowd = Vec::new();
    let mut turned_away = 0;
    for _ in 0..100 {
        match try_connect(&server.url, &[]).await {
            Ok(c) => crowd.push(c),
            Err(503) => turned_away += 1,
            Err(status) => panic!("HTTP {status}"),
        }
    }
    assert_eq!(
        (crowd.len(), turned_away),
        (64, 36),
        "100 unauthenticated sockets: (held, turned away)"
    );
    let mut late = client(&server, FULL).await;
    assert_eq!(late.ok("task.list", Value::Null).await, baseline);
    // The held ones are refused like any other, and closed.
    refused(crowd.pop().unwrap(), "must present the API token").await;
    drop(crowd);
    // Nothing any of them did changed the server.
    assert_eq!(admin.ok("task.list", Value::Null).await, baseline);
}

/// A WebSocket client of `url` (at `server`) from the source address `source`, presenting
/// `token`.
async fn client_from(
    source: std::net::Ipv6Addr,
    server: std::net::SocketAddr,
    url: &str,
    token: &str,
) -> Client {
    use std::os::fd::AsRawFd;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let socket = tokio::net::TcpSocket::new_v6().unwrap();
    // IPv6 binds only to configured addresses, unless the socket may bind to any ("free
    // bind"): the `local` route of RemoteHost::add_ipv6 then delivers the answers to it.
    let one: libc::c_int = 1;
    // SAFETY: a valid socket, and a c_int option value of the right size.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_IPV6,
            libc::IPV6_FREEBIND,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "IPV6_FREEBIND: {}", std::io::Error::last_os_error());
    socket
        .bind(std::net::SocketAddr::new(source.into(), 0))
        .unwrap_or_else(|e| panic!("bind {source}: {e}"));
    let stream = socket.connect(server).await.expect("connects");
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", bearer(token).parse().unwrap());
    let (socket, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("upgraded");
    Client {
        socket,
        events: Default::default(),
        next_id: 0,
    }
}

/// The `message` of the answer to a first request: the refusal's reason, or "served".
async fn answer(mut client: Client) -> String {
    let response = client.call("task.list", Value::Null).await;
    match response["error"].as_i64() {
        Some(0) => "served".to_owned(),
        Some(-6) => response["message"].as_str().unwrap().to_owned(),
        _ => panic!("{response}"),
    }
}

/// Wrong tokens from many addresses of one IPv6 /64 (a single host can use all 2^64 of them) are
/// counted as one address: locked out after 5, whichever address of the /64 comes next, even
/// with the right token; another address (here the host's IPv4 one) is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_from_one_ipv6_64_lock_out_the_whole_64() {
    /// Addresses of the /64 used, each for one connection (about 15 s in a debug build).
    const ADDRESSES: u64 = 10_000;
    let Some(host) = support::netns::RemoteHost::create() else {
        return;
    };
    let (server_ip, prefix) = host.add_ipv6();
    let settings = json!({"token": FULL, "lockout_seconds": 600}).to_string();
    let server = RemoteServer::start_on(host, &format!("[{server_ip}]:0"), &settings, &[]);
    let authority = server
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws");
    let address: std::net::SocketAddr = authority.parse().expect("an address in the URL");
    let started = Instant::now();

    // The first five, one at a time, each from another address.
    let mut answers = Vec::new();
    for n in 1..=5 {
        let client = client_from(prefix.address(n * 7919), address, &server.url, "guess").await;
        answers.push(answer(client).await);
    }
    // The rest, 16 at a time.
    let rest: Vec<String> = futures::stream::iter(6..=ADDRESSES)
        .map(|n| {
            let url = server.url.clone();
            let source = prefix.address(n * 7919 + (n << 40));
            async move { answer(client_from(source, address, &url, "guess").await).await }
        })
        .buffered(16)
        .collect()
        .await;
    answers.extend(rest);
    let elapsed = started.elapsed();
    eprintln!("{ADDRESSES} addresses of one /64 in {elapsed:?}");

    let range = format!("{}/64", prefix.prefix);
    for (i, message) in answers.iter().enumerate() {
        match i {
            0..=3 => assert_eq!(message, "unauthorized: wrong token", "#{}", i + 1),
            4 => assert!(
                message.contains("wrong token; too many wrong tokens from")
                    && message.contains(&range),
                "#5: {message}"
            ),
            _ => assert!(
                message.contains("locked out for") && message.contains(&range),
                "#{} was not locked out: {message}",
                i + 1
            ),
        }
    }
    // The right token, from yet another address of the /64: locked out as well.
    let late = client_from(prefix.address(u64::MAX), address, &server.url, FULL).await;
    let message = answer(late).await;
    assert!(message.contains("locked out"), "{message}");
    // This side's address on the link is in another /64: served.
    let other_64 = std::net::Ipv6Addr::from(u128::from(server_ip) + 1);
    let neighbour = client_from(other_64, address, &server.url, FULL).await;
    assert_eq!(answer(neighbour).await, "served");
    assert!(
        elapsed < Duration::from_secs(60),
        "{ADDRESSES} connections took {elapsed:?}"
    );
    drop(server);
}
