//! Events pushed by the server to every connected client.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{Label, SessionSettings, TaskMetadata, TaskState, TaskSummary};

/// One event. It serializes as `{"name": ..., "data": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `task.created`: a task was added (for a magnet, before its metadata is known).
    Created(TaskMetadata),
    /// `task.metadataReceived`: a magnet's metadata arrived; same shape as `task.created`.
    MetadataReceived(TaskMetadata),
    /// `task.stateUpdated`: a real state transition, never with `old_state == new_state`.
    StateUpdated {
        task_id: String,
        old_state: TaskState,
        new_state: TaskState,
        /// Why a seeding task stopped (`3`): the goal it met (`"ratio"`, `"seed_time"`,
        /// `"idle"`). Absent otherwise.
        reason: Option<&'static str>,
    },
    /// `task.updated`: the summaries of the tasks whose numbers changed since the last one.
    Updated(Vec<TaskSummary>),
    /// `task.removed`: a task was removed.
    Removed { task_id: String },
    /// `session.resync`: this client fell behind and missed events; here is the whole task list.
    Resync(Vec<TaskSummary>),
    /// `session.limitsUpdated`: the global rate limits changed (`None`: unlimited).
    LimitsUpdated {
        download_bps: Option<u32>,
        upload_bps: Option<u32>,
    },
    /// `session.settingsUpdated`: settings changed (`session.setSettings`, `session.setLimits`);
    /// every settable key with its new value, secrets hidden.
    SettingsUpdated(Box<SessionSettings>),
    /// `session.labelsUpdated`: the session's labels changed (`session.setLabels`); the whole
    /// new list.
    LabelsUpdated(Vec<Label>),
    /// `session.watchFailed`: a file in the watch folder could not be added; it was renamed
    /// `<name>.invalid`, with the reason beside it in `<name>.invalid.txt`.
    WatchFailed { path: String, message: String },
}

impl Event {
    /// The event's `name` on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Created(_) => "task.created",
            Event::MetadataReceived(_) => "task.metadataReceived",
            Event::StateUpdated { .. } => "task.stateUpdated",
            Event::Updated(_) => "task.updated",
            Event::Removed { .. } => "task.removed",
            Event::Resync(_) => "session.resync",
            Event::LimitsUpdated { .. } => "session.limitsUpdated",
            Event::SettingsUpdated(_) => "session.settingsUpdated",
            Event::LabelsUpdated(_) => "session.labelsUpdated",
            Event::WatchFailed { .. } => "session.watchFailed",
        }
    }
}

#[derive(Serialize)]
struct StateUpdatedData<'a> {
    task_id: &'a str,
    old_state: TaskState,
    new_state: TaskState,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct LimitsData {
    download_bps: Option<u32>,
    upload_bps: Option<u32>,
}

#[derive(Serialize)]
struct LabelsData<'a> {
    labels: &'a [Label],
}

#[derive(Serialize)]
struct WatchFailedData<'a> {
    path: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct TaskIdData<'a> {
    task_id: &'a str,
}

#[derive(Serialize)]
struct TasksData<'a> {
    tasks: &'a [TaskSummary],
}

/// An event as published on the bus: the typed event, for in-process subscribers (the desktop
/// shell), and its JSON text, serialized once and shared by every connection (a clone is a
/// reference count, not a copy).
///
/// This module knows no transport (it is a leaf: no axum). A transport that needs the text in
/// its own form (the server: a WebSocket frame's payload, known to be UTF-8) makes it through
/// [`Published::frame`] once per event, for all its connections: 500 connections do not each
/// copy or check it again.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: Arc<Event>,
    pub json: Arc<str>,
    frame: Arc<FrameSlot>,
}

impl Published {
    pub fn new(event: Event) -> Self {
        // An event is plain data (strings and numbers): serializing it cannot fail.
        let json = serde_json::to_string(&event).unwrap_or_default();
        Published {
            event: Arc::new(event),
            json: json.into(),
            frame: Arc::default(),
        }
    }

    /// The JSON text in a transport's own form `T`, made by `make` the first time it is asked
    /// for and shared by every clone of this event after that (a clone of `T`, which should be
    /// a reference count). One event is only ever sent by one transport; asked in another form
    /// than the first, it is made afresh each time.
    pub fn frame<T: Any + Clone + Send + Sync>(&self, make: impl FnOnce(&str) -> T) -> T {
        if let Some(made) = self.frame.0.get().and_then(|f| f.downcast_ref::<T>()) {
            return made.clone();
        }
        let made = make(&self.json);
        let _ = self.frame.0.set(Box::new(made.clone()));
        made
    }
}

/// Where [`Published::frame`] keeps its one made frame.
#[derive(Default)]
struct FrameSlot(OnceLock<Box<dyn Any + Send + Sync>>);

impl std::fmt::Debug for FrameSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "FrameSlot(made)"
        } else {
            "FrameSlot(empty)"
        })
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Event", 2)?;
        s.serialize_field("name", self.name())?;
        match self {
            Event::Created(meta) | Event::MetadataReceived(meta) => {
                s.serialize_field("data", meta)?
            }
            Event::StateUpdated {
                task_id,
                old_state,
                new_state,
                reason,
            } => s.serialize_field(
                "data",
                &StateUpdatedData {
                    task_id,
                    old_state: *old_state,
                    new_state: *new_state,
                    reason: *reason,
                },
            )?,
            Event::Updated(tasks) | Event::Resync(tasks) => {
                s.serialize_field("data", &TasksData { tasks })?
            }
            Event::Removed { task_id } => s.serialize_field("data", &TaskIdData { task_id })?,
            Event::LimitsUpdated {
                download_bps,
                upload_bps,
            } => s.serialize_field(
                "data",
                &LimitsData {
                    download_bps: *download_bps,
                    upload_bps: *upload_bps,
                },
            )?,
            Event::SettingsUpdated(settings) => s.serialize_field("data", settings)?,
            Event::LabelsUpdated(labels) => s.serialize_field("data", &LabelsData { labels })?,
            Event::WatchFailed { path, message } => {
                s.serialize_field("data", &WatchFailedData { path, message })?
            }
        }
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_state_change_says_its_reason_only_when_it_has_one() {
        let change = |reason| {
            Published::new(Event::StateUpdated {
                task_id: "ab".into(),
                old_state: TaskState::Uploading,
                new_state: TaskState::Finished,
                reason,
            })
        };
        assert_eq!(
            &*change(None).json,
            r#"{"name":"task.stateUpdated","data":{"task_id":"ab","old_state":2,"new_state":3}}"#
        );
        assert_eq!(
            &*change(Some("ratio")).json,
            r#"{"name":"task.stateUpdated","data":{"task_id":"ab","old_state":2,"new_state":3,"reason":"ratio"}}"#
        );
    }

    #[test]
    fn a_frame_is_made_once_for_every_clone() {
        let published = Published::new(Event::Removed {
            task_id: "ab".into(),
        });
        assert_eq!(
            &*published.json,
            r#"{"name":"task.removed","data":{"task_id":"ab"}}"#
        );
        let made = AtomicUsize::new(0);
        let make = |json: &str| {
            made.fetch_add(1, Ordering::Relaxed);
            Arc::<str>::from(json.to_uppercase())
        };
        let clones: Vec<Published> = (0..5).map(|_| published.clone()).collect();
        for clone in &clones {
            assert!(clone.frame(make).starts_with(r#"{"NAME":"TASK.REMOVED""#));
        }
        assert_eq!(made.load(Ordering::Relaxed), 1);
        // Another form: made afresh, the first one kept.
        assert_eq!(published.frame(|json| json.len()), published.json.len());
        published.frame(make);
        assert_eq!(made.load(Ordering::Relaxed), 1);
    }
}
