//! The figures of a run: tables for people, JSON for tools.

use serde_json::{json, Value};

/// One table: a title, its header and rows, and notes under it.
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
    pub json: Value,
}

#[derive(Default)]
pub struct Report {
    pub tables: Vec<Table>,
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&format!("\n## {}\n\n", table.title));
            out.push_str(&format!("| {} |\n", table.header.join(" | ")));
            out.push_str(&format!("|{}\n", "---|".repeat(table.header.len())));
            for row in &table.rows {
                out.push_str(&format!("| {} |\n", row.join(" | ")));
            }
            for note in &table.notes {
                out.push_str(&format!("\n- {note}"));
            }
            out.push('\n');
        }
        out
    }

    pub fn json(&self) -> Value {
        Value::Array(
            self.tables
                .iter()
                .map(|t| json!({"title": t.title, "figures": t.json}))
                .collect(),
        )
    }
}

/// The median of some samples (0 for none).
pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// The nearest-rank percentile of some samples (0 for none).
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// "1.17x faster" / "1.25x slower" / "same": how `other` compares with Magnetar's time.
pub fn versus(magnetar_seconds: f64, other_seconds: f64) -> String {
    if magnetar_seconds <= 0.0 || other_seconds <= 0.0 {
        return "-".into();
    }
    let ratio = magnetar_seconds / other_seconds;
    if (ratio - 1.0).abs() < 0.005 {
        "same".into()
    } else if ratio > 1.0 {
        format!("{ratio:.2}x faster")
    } else {
        format!("{:.2}x slower", 1.0 / ratio)
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
