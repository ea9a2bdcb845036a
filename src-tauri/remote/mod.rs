//! `magnetar remote`: a command-line client of the WebSocket API, in the spirit of
//! `transmission-remote`. Readable tables by default, `--json` for scripts, and exit codes
//! scripts can trust: 0 ok, 1 API error, 2 usage, 3 cannot connect or not authorized.

mod client;
pub(crate) mod output;
mod token;

use std::io::BufRead;
use std::process::ExitCode;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::http::Uri;

use client::{Client, Failure};

use crate::bulk::{self, Bulk};
use crate::protocol::MagnetLink;

#[derive(clap::Args)]
pub struct RemoteArgs {
    /// The server's WebSocket URL
    #[arg(long, env = "MAGNETAR_URL", default_value = "ws://127.0.0.1:7345/ws")]
    url: String,
    /// API token (else MAGNETAR_TOKEN, else, for a loopback URL only, the token file in the data
    /// dir)
    #[arg(long, env = "MAGNETAR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Send the token to another host over plain ws:// (anyone on the way can read it)
    #[arg(long)]
    insecure: bool,
    /// For wss:// with a self-signed certificate: its SHA-256 fingerprint, to pin
    #[arg(long, value_name = "HEX")]
    fingerprint: Option<String>,
    /// Print the API's JSON instead of tables
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: RemoteCommand,
}

#[derive(clap::Subcommand)]
enum RemoteCommand {
    /// List the tasks
    List,
    /// Add magnets, info hashes or .torrent files (`-` reads magnets from stdin, one a line)
    Add {
        #[arg(required = true, value_name = "MAGNET|FILE")]
        items: Vec<String>,
    },
    /// A task's pieces, files and peers
    Status { id: String },
    /// A task's name, creator, comment and files
    Metadata { id: String },
    /// Pause tasks
    Pause(Targets),
    /// Resume tasks
    Resume(Targets),
    /// Remove tasks
    Remove {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Also delete the downloaded data
        #[arg(long)]
        delete: bool,
    },
    /// The server's facts and totals
    Info,
    /// Print events as they happen, until Ctrl-C
    Watch,
    /// Print a link that plays a task's file in any player while it downloads (signed for that
    /// file only, expires in 12 hours; it holds no API token)
    Stream {
        id: String,
        /// The file's index (see `metadata`); the task's largest file if left out
        file: Option<u64>,
    },
}

#[derive(clap::Args)]
struct Targets {
    /// Task ids, or unique prefixes of at least 6 hex digits
    #[arg(required_unless_present = "all")]
    ids: Vec<String>,
    /// Every task
    #[arg(long, conflicts_with = "ids")]
    all: bool,
}

/// Runs one command; the exit code says how it went.
pub async fn run(args: RemoteArgs) -> ExitCode {
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Api(code, message)) => {
            eprintln!(
                "magnetar remote: error {code}: {}",
                output::printable(&message)
            );
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("magnetar remote: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Connect(message)) => {
            eprintln!("magnetar remote: {}", output::printable(&message));
            ExitCode::from(3)
        }
    }
}

/// The token to send to `args.url`, if any (see [`token::choose`]).
fn token(args: &RemoteArgs) -> Result<Option<String>, Failure> {
    let uri: Uri = args
        .url
        .parse()
        .map_err(|e| Failure::Connect(format!("bad URL {:?}: {e}", args.url)))?;
    token::choose(&uri, args.token.clone(), args.insecure, saved_token).map_err(Failure::Usage)
}

/// This machine's token file, from the local data folder.
fn saved_token() -> Option<String> {
    let paths = crate::config::Paths::resolve(None).ok()?;
    let saved = std::fs::read_to_string(paths.token_file()).ok()?;
    Some(saved.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn execute(args: RemoteArgs) -> Result<(), Failure> {
    let token = token(&args)?;
    let mut client =
        Client::connect(&args.url, token.as_deref(), args.fingerprint.as_deref()).await?;
    // The first answer tells a refused client (-6) at once.
    let json_out = args.json;
    let print = |value: &Value| println!("{}", output::json(value));
    match args.command {
        RemoteCommand::List => {
            let list = client.call("task.list", Value::Null).await?;
            if json_out {
                print(&list);
            } else {
                print!(
                    "{}",
                    output::task_table(list.as_array().map_or(&[][..], Vec::as_slice))
                );
            }
        }
        RemoteCommand::Add { items } => return add(&mut client, items, json_out).await,
        RemoteCommand::Status { id } => {
            let id = resolve(&mut client, &id).await?;
            let status = client
                .call("task.getStatus", json!({"task_id": id}))
                .await?;
            if json_out {
                print(&status);
            } else {
                show_status(&mut client, &id, &status).await?;
            }
        }
        RemoteCommand::Metadata { id } => {
            let id = resolve(&mut client, &id).await?;
            let metadata = client
                .call("task.getMetadata", json!({"task_id": id}))
                .await?;
            if json_out {
                print(&metadata);
            } else {
                show_metadata(&metadata);
            }
        }
        RemoteCommand::Pause(targets) => {
            return each(&mut client, Bulk::Pause, targets, json_out).await
        }
        RemoteCommand::Resume(targets) => {
            return each(&mut client, Bulk::Resume, targets, json_out).await
        }
        RemoteCommand::Remove { ids, delete } => {
            for id in ids {
                let id = resolve(&mut client, &id).await?;
                client
                    .call(
                        "task.remove",
                        json!({"task_id": id, "delete_files": delete}),
                    )
                    .await?;
                if !json_out {
                    let data = if delete { " and its data" } else { "" };
                    println!("removed {}{data}", output::printable(&id));
                }
            }
        }
        RemoteCommand::Info => {
            let info = client.call("session.info", Value::Null).await?;
            if json_out {
                print(&info);
            } else {
                show_info(&info);
            }
        }
        RemoteCommand::Watch => return watch(&mut client, json_out).await,
        RemoteCommand::Stream { id, file } => {
            let id = resolve(&mut client, &id).await?;
            let file = match file {
                Some(file) => file,
                None => largest_file(&mut client, &id).await?,
            };
            let mut link = client
                .call("stream.url", json!({"task_id": id, "file_index": file}))
                .await?;
            // The link as reached from here: the server's own idea of its address may be a
            // loopback or wildcard one.
            if let Some(path) = link["path"].as_str() {
                link["url"] = Value::String(stream_base(&args.url) + path);
            }
            if json_out {
                print(&link);
            } else {
                println!("{}", output::printable(link["url"].as_str().unwrap_or("")));
            }
        }
    }
    Ok(())
}

/// The index of a task's largest file (the film, not its subtitles).
async fn largest_file(client: &mut Client, id: &str) -> Result<u64, Failure> {
    let metadata = client
        .call("task.getMetadata", json!({"task_id": id}))
        .await?;
    metadata["files"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .max_by_key(|(_, f)| f["size"].as_u64().unwrap_or(0))
        .map(|(i, _)| i as u64)
        .ok_or_else(|| Failure::Api(-2, "the task has no files yet (no metadata)".into()))
}

/// `ws://host:port/ws` as `http://host:port` (`wss` as `https`).
fn stream_base(ws: &str) -> String {
    let (scheme, rest) = match ws.split_once("://") {
        Some(("wss", rest)) => ("https", rest),
        Some((_, rest)) => ("http", rest),
        None => ("http", ws),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// A full id, or the one task whose id starts with a prefix of at least 6 hex digits.
async fn resolve(client: &mut Client, given: &str) -> Result<String, Failure> {
    let given = given.trim().to_ascii_lowercase();
    if given.len() == 40 {
        return Ok(given);
    }
    if given.len() < 6 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::Api(
            -2,
            format!("{given:?} is not a task id nor a prefix of at least 6 hex digits"),
        ));
    }
    let list = client.call("task.list", Value::Null).await?;
    let matches: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str())
        .filter(|id| id.starts_with(&given))
        .map(str::to_owned)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::Api(-4, format!("no task id starts with {given}"))),
        many => Err(Failure::Api(
            -2,
            format!("{given} is ambiguous: {} tasks match", many.len()),
        )),
    }
}

async fn add(client: &mut Client, items: Vec<String>, json_out: bool) -> Result<(), Failure> {
    let mut sources = Vec::new();
    for item in items {
        if item == "-" {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                let line = line.trim().to_owned();
                if !line.is_empty() {
                    sources.push(line);
                }
            }
        } else {
            sources.push(item);
        }
    }
    let mut failed = None;
    for source in sources {
        let path = std::path::Path::new(&source);
        // The one magnet parser decides (`MAGNET:?…` is a magnet too); anything else that is
        // a file is a .torrent, and the rest goes as a magnet for the server to judge.
        let params = if !MagnetLink::looks_like(&source) && path.is_file() {
            match std::fs::read(path) {
                Ok(bytes) => {
                    json!({"type": "torrent", "uri": base64::engine::general_purpose::STANDARD.encode(bytes)})
                }
                Err(e) => {
                    let line = format!("cannot read {source}: {e}");
                    eprintln!("magnetar remote: {}", output::printable(&line));
                    failed = Some(Failure::Api(-2, format!("cannot read {source}")));
                    continue;
                }
            }
        } else {
            json!({"type": "magnet", "uri": source})
        };
        match client.call("task.add", params).await {
            Ok(_) if json_out => println!("{}", output::json_line(&json!({"added": source}))),
            Ok(_) => println!("added {}", output::printable(&source)),
            Err(Failure::Api(code, message)) => {
                let line = format!("{source}: error {code}: {message}");
                eprintln!("magnetar remote: {}", output::printable(&line));
                failed = Some(Failure::Api(code, message));
            }
            Err(other) => return Err(other),
        }
    }
    failed.map_or(Ok(()), |f| match f {
        Failure::Api(code, _) => Err(Failure::Api(code, "some items were not added".into())),
        other => Err(other),
    })
}

/// Pauses or resumes the tasks named, or with `--all` every task that can be (see
/// [`crate::bulk`]: finished and failed tasks are skipped, said on stderr, and the exit code
/// stays 0). A task named by id is called as named: a failed one's refusal is an error.
async fn each(
    client: &mut Client,
    bulk: Bulk,
    targets: Targets,
    json_out: bool,
) -> Result<(), Failure> {
    let verb = bulk.method().trim_start_matches("task.");
    let outcome = if targets.all {
        bulk::run(bulk, client).await?
    } else {
        let mut ids = Vec::new();
        for id in &targets.ids {
            ids.push(resolve(client, id).await?);
        }
        for id in &ids {
            client.call(bulk.method(), json!({"task_id": id})).await?;
        }
        bulk::Outcome {
            done: ids,
            skipped: Vec::new(),
        }
    };
    if json_out {
        let skipped: Vec<Value> = outcome
            .skipped
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "why": s.why}))
            .collect();
        let mut line = json!({ verb: outcome.done });
        if targets.all {
            line["skipped"] = skipped.into();
        }
        println!("{}", output::json_line(&line));
        return Ok(());
    }
    for id in &outcome.done {
        println!("{} {}", bulk.done_word(), output::printable(id));
    }
    for skipped in &outcome.skipped {
        let line = format!("skipped {} ({}): {}", skipped.id, skipped.name, skipped.why);
        eprintln!("magnetar remote: {}", output::printable(&line));
    }
    Ok(())
}

impl bulk::Calls for Client {
    type Error = Failure;

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        Client::call(self, method, params).await
    }

    fn api_error(error: &Failure) -> Option<(i64, String)> {
        match error {
            Failure::Api(code, message) => Some((*code, message.clone())),
            _ => None,
        }
    }
}

async fn show_status(client: &mut Client, id: &str, status: &Value) -> Result<(), Failure> {
    let metadata = client
        .call("task.getMetadata", json!({"task_id": id}))
        .await?;
    let pieces = status["pieces"].as_array().map_or(&[][..], Vec::as_slice);
    let held = pieces.iter().filter(|p| **p == true).count();
    let title = format!("{} ({id})", metadata["name"].as_str().unwrap_or(""));
    println!("{}", output::printable(&title));
    println!("pieces: {held} of {}", pieces.len());
    let files = metadata["files"].as_array().map_or(&[][..], Vec::as_slice);
    let rows: Vec<Vec<String>> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let have = status["files"][i].as_u64().unwrap_or(0);
            let chosen = status["selected"][i].as_bool().unwrap_or(true);
            vec![
                f["path"].as_str().unwrap_or("").to_owned(),
                output::size(have),
                output::size(output::num(f, "size")),
                if chosen { "yes" } else { "skipped" }.to_owned(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(&["FILE", "HAVE", "SIZE", "WANTED"], &rows, &[1, 2])
    );
    let peers = status["peers"].as_array().map_or(&[][..], Vec::as_slice);
    if !peers.is_empty() {
        let rows: Vec<Vec<String>> = peers
            .iter()
            .map(|p| {
                vec![
                    p["address"].as_str().unwrap_or("").to_owned(),
                    p["client"].as_str().unwrap_or("").to_owned(),
                    output::speed(output::num(p, "dl_speed")),
                    output::speed(output::num(p, "ul_speed")),
                    output::size(output::num(p, "dl_bytes")),
                    output::size(output::num(p, "ul_bytes")),
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                &["PEER", "CLIENT", "DOWN", "UP", "GOT", "SENT"],
                &rows,
                &[2, 3, 4, 5]
            )
        );
    }
    Ok(())
}

fn show_metadata(metadata: &Value) {
    println!("name:    {}", output::text(&metadata["name"]));
    println!("id:      {}", output::text(&metadata["id"]));
    println!("creator: {}", output::text(&metadata["creator"]));
    println!("comment: {}", output::text(&metadata["comment"]));
    println!("ready:   {}", output::text(&metadata["ready"]));
    let files = metadata["files"].as_array().map_or(&[][..], Vec::as_slice);
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            vec![
                f["path"].as_str().unwrap_or("").to_owned(),
                output::size(output::num(f, "size")),
            ]
        })
        .collect();
    print!("{}", output::table(&["FILE", "SIZE"], &rows, &[1]));
}

fn show_info(info: &Value) {
    let text = |key: &str| output::text(&info[key]);
    let limit = |key: &str| info[key].as_u64().map_or("unlimited".into(), output::speed);
    println!("version:        {}", text("version"));
    println!("download dir:   {}", text("download_dir"));
    println!("tasks:          {}", text("tasks"));
    println!(
        "down / up:      {} / {}",
        output::speed(output::num(info, "dl_speed")),
        output::speed(output::num(info, "ul_speed"))
    );
    println!(
        "downloaded:     {}",
        output::size(output::num(info, "dl_bytes"))
    );
    println!(
        "uploaded:       {}",
        output::size(output::num(info, "ul_bytes"))
    );
    println!(
        "limits:         down {}, up {}",
        limit("download_bps"),
        limit("upload_bps")
    );
    println!("dht:            {}", text("dht"));
    println!("uptime:         {} s", text("uptime_seconds"));
}

/// Prints events until Ctrl-C (exit 0) or the connection ends (exit 3).
async fn watch(client: &mut Client, json_out: bool) -> Result<(), Failure> {
    // A request first, so that a refused client learns it at once.
    client.call("session.info", Value::Null).await?;
    loop {
        let event = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            event = client.next() => event?,
        };
        if json_out {
            println!("{}", output::json_line(&event));
            continue;
        }
        let data = &event["data"];
        let short = |key: &str| {
            data[key]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(8)
                .collect::<String>()
        };
        let line = match event["name"].as_str().unwrap_or("") {
            "task.created" => format!(
                "task.created        {}  {}",
                short("id"),
                data["name"].as_str().unwrap_or("")
            ),
            "task.metadataReceived" => format!(
                "task.metadataReceived {}  {}",
                short("id"),
                data["name"].as_str().unwrap_or("")
            ),
            "task.stateUpdated" => format!(
                "task.stateUpdated   {}  {} -> {}",
                short("task_id"),
                output::state(&data["old_state"]),
                output::state(&data["new_state"])
            ),
            "task.removed" => format!("task.removed        {}", short("task_id")),
            "task.updated" => format!(
                "task.updated        {} tasks",
                data["tasks"].as_array().map_or(0, Vec::len)
            ),
            other => other.to_owned(),
        };
        println!("{}", output::printable(&line));
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_links_use_the_address_the_client_used() {
        use super::stream_base;
        assert_eq!(stream_base("ws://10.0.0.5:7345/ws"), "http://10.0.0.5:7345");
        assert_eq!(stream_base("wss://[::1]:1/ws?x"), "https://[::1]:1");
        assert_eq!(stream_base("ws://h:2"), "http://h:2");
    }
}
