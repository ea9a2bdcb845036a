//! Randomized abuse over a real WebSocket to a real server: at least 100,000 messages (valid
//! requests with fields mutated, wrong types, random text, nesting 10,000 deep, huge numbers,
//! unicode) from one client, while a second, well-behaved client keeps working. Every bad
//! message gets exactly one response, the good client gets every answer right and every event,
//! and nothing panics anywhere in the process.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use support::TestServer;

const MESSAGES: usize = 100_000;
/// Messages sent before their responses are read (pipelining, as a hostile client would).
const BATCH: usize = 500;

/// A small deterministic generator (xorshift), seeded per run for reproducibility.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const METHODS: &[&str] = &[
    "task.add",
    "task.list",
    "task.getStatus",
    "task.getMetadata",
    "task.pause",
    "task.resume",
    "task.remove",
    "session.info",
    "task.ADD",
    "",
    "session",
    "task.add\u{0}",
];

/// A value of a random JSON type, sometimes nasty.
fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 8 } else { 11 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.next() as i64),
        3 => json!(-(rng.below(1000) as i64)),
        4 => json!(1e308 * (rng.below(3) as f64)),
        5 => json!(""),
        6 => json!("ffffffffffffffffffffffffffffffffffffffff"),
        7 => json!("\u{202e}\u{0}😀 magnet:?xt=urn:btih:"),
        8 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        9 => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                let key = rng.pick(&["task_id", "type", "uri", "delete_files", "x", ""]);
                map.insert(key.to_string(), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => json!("A".repeat(rng.below(10_000))),
    }
}

/// A plausible request with one field mutated.
fn mutated_request(rng: &mut Rng, id: &str) -> String {
    let method = *rng.pick(METHODS);
    let mut params = match method {
        "task.add" => json!({"type": rng.pick(&["magnet", "torrent", "ftp"]), "uri":
            rng.pick(&["", "magnet:?xt=urn:btih:", "not base64!", "ZDQ6aW5mb2Rl", "AAAA",
                       "magnet:?xt=urn:btih:zzzz", "data:;base64,ZGU="])}),
        "task.remove" => {
            json!({"task_id": "dddddddddddddddddddddddddddddddddddddddd", "delete_files": true})
        }
        _ => json!({"task_id": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}),
    };
    if let Value::Object(map) = &mut params {
        let key = rng.pick(&["task_id", "type", "uri", "delete_files", "extra"]);
        map.insert(key.to_string(), random_value(rng, 0));
    }
    let mut request = json!({"id": id, "method": method, "params": params});
    if rng.below(10) == 0 {
        request["params"] = random_value(rng, 0);
    }
    request.to_string()
}

/// One hostile frame, and whether it carries a readable id.
fn hostile(rng: &mut Rng, n: usize) -> String {
    let id = format!("f{n}");
    match rng.below(10) {
        0..=5 => mutated_request(rng, &id),
        6 => {
            // Random printable and non-ASCII text.
            let len = rng.below(200);
            (0..len)
                .map(|_| char::from_u32(rng.below(0x3000) as u32 + 1).unwrap_or('?'))
                .collect()
        }
        7 => format!(
            r#"{{"id":"{id}","method":"task.list","params":{}}}"#,
            "[".repeat(10_000) + &"]".repeat(10_000)
        ),
        8 => format!(r#"{{"id":"{id}","method":{}}}"#, random_value(rng, 0)),
        _ => format!(
            r#"{{"id":{},"method":"task.getStatus","params":{{"task_id":{}}}}}"#,
            random_value(rng, 0),
            random_value(rng, 0)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_hostile_messages_break_nothing() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counter = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let server = TestServer::start().await;
    let mut attacker = server.client().await;
    let mut good = server.client().await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("fuzz seed {seed} (set MAGNETAR_FUZZ_SEED to replay)");
    let seed = std::env::var("MAGNETAR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    let mut rng = Rng(seed);

    let mut sent = 0;
    let mut answered = 0;
    let mut good_rounds = 0;
    while sent < MESSAGES {
        let batch = BATCH.min(MESSAGES - sent);
        for _ in 0..batch {
            attacker.send_text(hostile(&mut rng, sent)).await;
            sent += 1;
        }
        for _ in 0..batch {
            let response = loop {
                let message = attacker.next_json().await;
                if message.get("name").is_none() {
                    break message;
                }
            };
            assert!(response.get("error").is_some(), "{response}");
            assert_ne!(response["error"], -7, "an internal error: {response}");
            answered += 1;
        }
        // The good client, meanwhile: a task of its own comes and goes, with its events.
        let hash = format!("{:040x}", 0xabc0_0000_u64 + good_rounds as u64);
        good.add_magnet(&hash).await;
        good.wait_event("task.created", |d| d["id"] == hash).await;
        let list = good.ok("task.list", Value::Null).await;
        assert!(list.as_array().unwrap().iter().any(|t| t["id"] == hash));
        good.ok("task.remove", json!({"task_id": hash})).await;
        good.wait_event("task.removed", |d| d["task_id"] == hash)
            .await;
        good.ok("session.info", Value::Null).await;
        good_rounds += 1;
    }
    eprintln!("{sent} hostile messages, {answered} answered; {good_rounds} good rounds");
    assert_eq!(answered, MESSAGES);
    let ids: HashSet<String> = good
        .ok("task.list", Value::Null)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| !id.starts_with("00000000abc")),
        "{ids:?}"
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "something panicked");
}
