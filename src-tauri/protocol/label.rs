//! Labels: a session setting (`session.setLabels`), one per task at most (`task.setLabel`).

use serde::{Deserialize, Serialize};

/// Longest label name, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Most labels a session holds.
pub const MAX_LABELS: usize = 1000;

/// One label: its name, the folder its tasks go to (if any), and its seeding goal (if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub name: String,
    /// An absolute folder: a task added with this label (and no `download_dir`) goes there.
    #[serde(default)]
    pub folder: Option<String>,
    /// The label's seeding goal, kept as sent (a JSON object; see docs/API.md).
    #[serde(default)]
    pub seed_goal: Option<serde_json::Value>,
}

/// Checks a label name: not empty, at most [`MAX_LABEL_CHARS`] characters, no control
/// characters, no leading or trailing spaces.
pub fn check_label_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a label name must not be empty".into());
    }
    if name.chars().count() > MAX_LABEL_CHARS {
        return Err(format!(
            "a label name must be at most {MAX_LABEL_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a label name must not contain control characters".into());
    }
    if name.trim() != name {
        return Err("a label name must not start or end with spaces".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["tv", "Films 4K", "é", &"x".repeat(MAX_LABEL_CHARS)] {
            check_label_name(good).unwrap();
        }
        for bad in [
            "",
            " tv",
            "tv ",
            "a\nb",
            "a\u{7f}",
            &"x".repeat(MAX_LABEL_CHARS + 1),
        ] {
            assert!(check_label_name(bad).is_err(), "{bad:?}");
        }
    }
}
