//! The server's settings as clients see them: `session.getSettings`'s result and the data of
//! `session.settingsUpdated`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// Every setting a client may change, with its value, and what applies when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSettings {
    /// Each settable key and its value: for a key that applies at once, the value the server
    /// runs with; for one that needs a restart, the value it starts with next time.
    pub settings: Map<String, Value>,
    /// The keys (of `settings`) that take effect only when the server starts again.
    pub restart_required: Vec<String>,
    /// The keys of `restart_required` changed since the server started: their value in
    /// `settings` is saved, but not yet what the server runs with.
    pub pending_restart: Vec<String>,
    /// Keys given on the server's command line, which wins over `settings.json` at each start.
    pub overridden: Vec<String>,
    /// The secret settings (the tokens): only whether each is set, never its value. They
    /// cannot be changed through the API.
    pub secrets: BTreeMap<String, bool>,
    /// In `session.settingsUpdated` only: the keys the change was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
}
