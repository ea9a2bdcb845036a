//! What `magnetar remote` prints for people: aligned tables with human sizes and speeds.

use serde_json::Value;

const STATES: [&str; 6] = [
    "preparing",
    "downloading",
    "seeding",
    "finished",
    "paused",
    "error",
];

pub fn state(code: &Value) -> &'static str {
    code.as_u64()
        .and_then(|c| STATES.get(c as usize).copied())
        .unwrap_or("unknown")
}

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

pub fn speed(bps: u64) -> String {
    if bps == 0 {
        "-".into()
    } else {
        format!("{}/s", size(bps))
    }
}

fn eta(task: &Value) -> String {
    let left = num(task, "total_bytes").saturating_sub(num(task, "dl_bytes"));
    let rate = num(task, "dl_speed");
    if task["state"] != 1 || left == 0 {
        return "-".into();
    }
    if rate == 0 {
        return "∞".into();
    }
    let s = left / rate;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

pub fn num(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

/// `task.list` as a table.
pub fn task_table(tasks: &[Value]) -> String {
    let header = [
        "ID", "NAME", "STATE", "DONE", "SIZE", "DOWN", "UP", "ETA", "PEERS",
    ];
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let total = num(t, "total_bytes");
            let done = if total == 0 {
                0.0
            } else {
                num(t, "dl_bytes") as f64 * 100.0 / total as f64
            };
            vec![
                t["id"].as_str().unwrap_or("").chars().take(8).collect(),
                t["name"].as_str().unwrap_or("").to_owned(),
                state(&t["state"]).to_owned(),
                format!("{done:.1}%"),
                size(total),
                speed(num(t, "dl_speed")),
                speed(num(t, "ul_speed")),
                eta(t),
                format!(
                    "{}/{}",
                    num(t, "connected_peers"),
                    num(t, "connected_seeds")
                ),
            ]
        })
        .collect();
    let mut out = table(&header, &rows, &[3, 4, 5, 6, 7, 8]);
    let down: u64 = tasks.iter().map(|t| num(t, "dl_speed")).sum();
    let up: u64 = tasks.iter().map(|t| num(t, "ul_speed")).sum();
    out.push_str(&format!(
        "{} task{}, down {}, up {}\n",
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" },
        speed(down),
        speed(up)
    ));
    out
}

/// Aligned columns two spaces apart; the columns in `right` are right-aligned (numbers).
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut line = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
                if right.contains(&i) {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ");
        line.truncate(line.trim_end().len());
        line.push('\n');
        line
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
