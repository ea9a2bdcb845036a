//! A task's id: its BitTorrent v1 info hash as 40 lower-case hex digits. Clients may send it in
//! any case and padded with spaces: it is normalized once, here, when a request is read, and
//! every layer below takes a `TaskId`, never a bare string.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// The id a client meant by `text` (trimmed, lower-case). It may name no task: that is
    /// for the engine to say (`-4`), not a malformed request.
    pub fn from_client(text: &str) -> TaskId {
        TaskId(text.trim().to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<TaskId, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(TaskId::from_client(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::TaskId;

    #[test]
    fn ids_from_clients_are_normalized() {
        let id: TaskId =
            serde_json::from_str("\" C9E15763F722F23E98A29DECDFAE341B98D53056 \"").unwrap();
        assert_eq!(id.as_str(), "c9e15763f722f23e98a29decdfae341b98d53056");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"c9e15763f722f23e98a29decdfae341b98d53056\""
        );
        assert!(serde_json::from_str::<TaskId>("42").is_err());
    }
}
