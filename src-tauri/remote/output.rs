//! What `magnetar remote` prints for people: aligned tables with human sizes and speeds.
//!
//! Every string from the server (names, paths, comments, peers, error messages) is written by
//! someone else: a torrent's author chooses its name. On a terminal, control characters in it
//! are commands (OSC 52 writes the clipboard, CSI clears the screen or hides text) and bidi
//! overrides reorder what is shown. So whatever the server says passes through [`printable`]
//! before it is printed, and `--json` through [`json`].

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

pub use crate::format::{size, speed, state};

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

/// Controls (C0 with ESC, DEL, C1) and the bidi overrides and isolates that reorder a line.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [`unsafe_char`] written out as an escape: `\x1b`, `\x0a` for a newline,
/// `\u{9b}`, `\u{202e}`. Newlines and tabs too, so that one value stays on one line and in its
/// column. Everything else prints as itself.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// A value from the server as a person reads it: a string as itself, anything else as JSON (an
/// absent value as nothing), [`printable`] either way.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => printable(text).into_owned(),
        Value::Null => String::new(),
        other => printable(&other.to_string()).into_owned(),
    }
}

/// The server's JSON, pretty-printed (the same values once parsed), with the characters serde
/// leaves raw (DEL, C1, bidi overrides) written as `\u` escapes (four hex digits) too. Serde escapes C0 inside
/// strings; outside them JSON has only ASCII punctuation, spaces and (pretty) newlines, so every
/// character escaped here sits inside a string, where a `\u` escape is valid.
pub fn json(value: &Value) -> String {
    escape_json(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// [`json`] on one line, for streams (`watch --json`).
pub fn json_line(value: &Value) -> String {
    escape_json(value.to_string())
}

fn escape_json(text: String) -> String {
    let raw_in_json = |c: char| c > '\u{1f}' && unsafe_char(c);
    if !text.chars().any(raw_in_json) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw_in_json(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
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

/// Aligned columns two spaces apart; the columns in `right` are right-aligned (numbers). Every
/// cell is made [`printable`] here, so callers put the server's strings in as they came.
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(cell).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
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
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_a_terminal_would_obey() {
        let osc52 = "\x1b]52;c;SGVsbG8=\x07evil\x1b[2J";
        assert_eq!(printable(osc52), r"\x1b]52;c;SGVsbG8=\x07evil\x1b[2J");
        assert_eq!(printable("a\nb\tc\rd\0e\x7f"), r"a\x0ab\x09c\x0dd\x00e\x7f");
        assert_eq!(printable("csi\u{9b}2J nel\u{85}"), r"csi\u{9b}2J nel\u{85}");
        assert_eq!(
            printable("abc\u{202e}fdp.exe \u{2066}x\u{2069} \u{202a}"),
            r"abc\u{202e}fdp.exe \u{2066}x\u{2069} \u{202a}"
        );
    }

    #[test]
    fn printable_leaves_ordinary_text_alone() {
        for text in [
            "",
            "ubuntu-24.04.iso",
            "Ünïcödé 日本語 ∞ 🎬",
            r"a\x1b b",
            "\u{a0}\u{200f}",
        ] {
            assert!(matches!(printable(text), Cow::Borrowed(_)), "{text:?}");
        }
        // Already escaped text is left as it is: escaping twice changes nothing.
        let once = printable("\x1b[2J").into_owned();
        assert_eq!(printable(&once), once);
    }

    #[test]
    fn json_stays_the_same_json_without_raw_controls() {
        let value = serde_json::json!({
            "name": "\x1b]52;c;SGVsbG8=\x07evil\x1b[2J\x7f\u{9b}\u{202e}\u{2067}ok",
            "files": [{"path": "a\nb", "size": 1}],
        });
        for text in [json(&value), json_line(&value)] {
            assert!(
                !text.chars().any(|c| c != '\n' && unsafe_char(c)),
                "{text:?}"
            );
            assert!(
                text.contains(r"\u007f") && text.contains(r"\u009b"),
                "{text}"
            );
            assert!(
                text.contains(r"\u202e") && text.contains(r"\u2067"),
                "{text}"
            );
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
        assert!(!json_line(&value).contains('\n'));
    }

    #[test]
    fn table_cells_are_printable_and_aligned() {
        let rows = vec![
            vec!["\x1b[2Jx".to_owned(), "1".to_owned()],
            vec!["plain".to_owned(), "22".to_owned()],
        ];
        let out = table(&["NAME", "N"], &rows, &[1]);
        assert_eq!(out, "NAME       N\n\\x1b[2Jx   1\nplain     22\n");
    }
}
