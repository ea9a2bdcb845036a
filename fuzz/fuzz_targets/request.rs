//! Any text as a request frame, dispatched by the real API over a real engine (DHT, UPnP and
//! LSD off, in a temporary folder): exactly one response, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use magnetar::startup::{self, Overrides, RunConfig, Running};

struct World {
    runtime: tokio::runtime::Runtime,
    running: Running,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let config = RunConfig::resolve(Overrides {
            listen: Some("127.0.0.1:0".parse().expect("address")),
            download_dir: Some(dir.path().join("downloads")),
            data_dir: Some(dir.path().join("data")),
            peer_port: Some(0),
            no_dht: true,
            no_upnp: true,
            no_lsd: true,
            ..Overrides::default()
        })
        .expect("config");
        let running = runtime.block_on(startup::start(&config)).expect("server");
        World {
            runtime,
            running,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let world = world();
    // One response, whatever the text; a panic anywhere aborts the fuzzer with the input.
    let _response = world.runtime.block_on(world.running.api.handle_text(text));
});
