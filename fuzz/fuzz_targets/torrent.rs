//! Any bytes as a .torrent: validation and parsing must refuse or accept, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = magnetar::engine::parse_torrent(data.to_vec());
});
