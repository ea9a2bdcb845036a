//! `session.setLimits` from many clients at once: the engine, the settings file and the
//! `session.limitsUpdated` events end up telling one story, and a save that fails still
//! announces what was applied.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use support::{Client, TestServer, PATIENCE};

const CLIENTS: u64 = 10;
const CALLS_EACH: u64 = 10;
const ROUNDS: u64 = 3;

/// Sends `calls` at once (without waiting between them), then reads until every call has its
/// answer and `expected_events` `session.limitsUpdated` events have arrived. Returns the
/// answers' error codes and the events' data, in order of arrival.
async fn burst(
    mut client: Client,
    calls: Vec<Value>,
    expected_events: usize,
) -> (Vec<i64>, Vec<Value>) {
    use futures::SinkExt;
    for (i, params) in calls.iter().enumerate() {
        let request =
            json!({"id": format!("c{i}"), "method": "session.setLimits", "params": params});
        client
            .socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                request.to_string().into(),
            ))
            .await
            .unwrap();
    }
    let mut codes = Vec::new();
    let mut events = Vec::new();
    while codes.len() < calls.len() || events.len() < expected_events {
        // Once every call is answered, the other clients' events come soon or never (a call
        // that was not announced): the caller counts them.
        let patience = if codes.len() < calls.len() {
            PATIENCE
        } else {
            Duration::from_secs(5)
        };
        let Ok(message) = tokio::time::timeout(patience, client.next_json()).await else {
            assert_eq!(codes.len(), calls.len(), "calls left unanswered");
            break;
        };
        if message["name"] == "session.limitsUpdated" {
            events.push(message["data"].clone());
        } else if message.get("name").is_some() {
            continue;
        } else {
            codes.push(message["error"].as_i64().unwrap());
        }
    }
    (codes, events)
}

fn limits_in_file(server: &TestServer) -> Value {
    let text = std::fs::read_to_string(server.data_dir.join("settings.json")).unwrap();
    let file: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("settings.json is not valid JSON ({e}): {text:?}"));
    json!({"download_bps": file["download_bps"], "upload_bps": file["upload_bps"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_set_limits_agree_in_engine_file_and_events() {
    let server = TestServer::start().await;
    let mut previous = json!({"download_bps": null, "upload_bps": null});
    let mut rounds_hit = 0;
    for round in 0..ROUNDS {
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            clients.push(server.client().await);
        }
        // Every call sets one limit to a value no other call uses; even calls the download
        // limit, odd ones the upload limit, so a lost update shows as a value coming back.
        let mut values = BTreeSet::new();
        let bursts = clients.into_iter().enumerate().map(|(c, client)| {
            let calls: Vec<Value> = (0..CALLS_EACH)
                .map(|i| {
                    let value = 1_000_000 * (round + 1) + 1_000 * (c as u64 + 1) + i;
                    if i % 2 == 0 {
                        json!({"download_bps": value})
                    } else {
                        json!({"upload_bps": value})
                    }
                })
                .collect();
            values.extend(
                calls
                    .iter()
                    .filter_map(|p| p.as_object().unwrap().values().next().unwrap().as_u64()),
            );
            burst(client, calls, (CLIENTS * CALLS_EACH) as usize)
        });
        let results: Vec<(Vec<i64>, Vec<Value>)> = futures::stream::iter(bursts)
            .buffer_unordered(CLIENTS as usize)
            .collect()
            .await;

        let expected = (CLIENTS * CALLS_EACH) as usize;
        let all_events = results.iter().all(|(_, events)| events.len() == expected);
        let failed: Vec<i64> = results
            .iter()
            .flat_map(|(c, _)| c)
            .filter(|c| **c != 0)
            .copied()
            .collect();
        let first = &results[0].1;
        let same_story = results.iter().all(|(_, events)| events == first);
        // Replaying the events: each changes exactly one limit, to a value of one call, and
        // every call's value appears once.
        let mut state = previous.clone();
        let mut changed = BTreeSet::new();
        let mut consistent = true;
        for event in first {
            let differences: Vec<&str> = ["download_bps", "upload_bps"]
                .into_iter()
                .filter(|k| event[k] != state[k])
                .collect();
            if differences.len() != 1 {
                consistent = false;
            }
            for k in differences {
                changed.insert(event[k].as_u64().unwrap_or(0));
            }
            state = event.clone();
        }
        let every_call_seen = changed == values;
        let last = first.last().cloned().unwrap_or(Value::Null);
        let file = limits_in_file(&server);
        let mut admin = server.client().await;
        let info = admin.ok("session.info", Value::Null).await;
        let engine =
            json!({"download_bps": info["download_bps"], "upload_bps": info["upload_bps"]});
        let agree = last == file && last == engine;
        let hit = !failed.is_empty()
            || !all_events
            || !same_story
            || !consistent
            || !every_call_seen
            || !agree;
        if hit {
            rounds_hit += 1;
            eprintln!(
                "round {round}: {} failed calls {failed:?}; {expected} events each: {all_events}; \
                 same events everywhere: {same_story}; \
                 one change per event: {consistent}; every call seen: {every_call_seen}; \
                 last event {last}, file {file}, engine {engine}",
                failed.len()
            );
        }
        previous = last;
    }
    assert_eq!(rounds_hit, 0, "{rounds_hit} of {ROUNDS} rounds disagreed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_still_announces_the_applied_limits() {
    let server = TestServer::start().await;
    let mut caller = server.client().await;
    let mut watcher = server.client().await;
    // Not writable, even by root: settings.json is a folder now.
    let file = server.data_dir.join("settings.json");
    let _ = std::fs::remove_file(&file);
    std::fs::create_dir_all(file.join("in-the-way")).unwrap();

    let response = caller
        .call("session.setLimits", json!({"download_bps": 4096}))
        .await;
    support::assert_error_shape(&response);
    assert_eq!(response["error"], -7, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains("limits applied, but not saved"),
        "{message}"
    );
    assert!(message.contains("settings.json"), "{message}");

    let expected = json!({"download_bps": 4096, "upload_bps": null});
    for client in [&mut caller, &mut watcher] {
        let event = tokio::time::timeout(
            Duration::from_secs(10),
            client.wait_event("session.limitsUpdated", |_| true),
        )
        .await
        .expect("the applied limits are announced although not saved");
        assert_eq!(event["data"], expected);
        let info = client.ok("session.info", Value::Null).await;
        assert_eq!(info["download_bps"], 4096);
    }
}
