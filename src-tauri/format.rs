//! Numbers for people: sizes, speeds and state names, as `magnetar remote` prints them and the
//! tray shows them. Shared by both (neither borrows from the other), and free of any terminal
//! concern: escaping what a server says is `remote/output.rs`'s job.

use serde_json::Value;

const STATES: [&str; 6] = [
    "preparing",
    "downloading",
    "seeding",
    "finished",
    "paused",
    "error",
];

/// A state code's name (`"unknown"` for anything else).
pub fn state(code: &Value) -> &'static str {
    code.as_u64()
        .and_then(|c| STATES.get(c as usize).copied())
        .unwrap_or("unknown")
}

/// `512 B`, `1.5 KiB`, `3.0 MiB`…
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A rate, zero included: `0 B/s`, `1.2 MiB/s`.
pub fn rate(bps: u64) -> String {
    format!("{}/s", size(bps))
}

/// A rate in a table, where zero is `-`.
pub fn speed(bps: u64) -> String {
    if bps == 0 {
        "-".into()
    } else {
        rate(bps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_speeds_and_states() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(rate(0), "0 B/s");
        assert_eq!(speed(0), "-");
        assert_eq!(speed(2048), "2.0 KiB/s");
        assert_eq!(state(&json!(4)), "paused");
        assert_eq!(state(&json!(9)), "unknown");
        assert_eq!(state(&json!("x")), "unknown");
    }
}
