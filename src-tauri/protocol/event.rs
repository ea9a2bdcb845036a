//! Events pushed by the server to every connected client.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{TaskMetadata, TaskState, TaskSummary};

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
        }
    }
}

#[derive(Serialize)]
struct StateUpdatedData<'a> {
    task_id: &'a str,
    old_state: TaskState,
    new_state: TaskState,
}

#[derive(Serialize)]
struct LimitsData {
    download_bps: Option<u32>,
    upload_bps: Option<u32>,
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
/// reference count, not a copy). The text is a WebSocket frame's payload as it is, known to be
/// UTF-8 from the start: 500 connections do not each check it again.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: Arc<Event>,
    pub json: Utf8Bytes,
}

impl Published {
    pub fn new(event: Event) -> Self {
        // An event is plain data (strings and numbers): serializing it cannot fail.
        let json = serde_json::to_string(&event).unwrap_or_default();
        Published {
            event: Arc::new(event),
            json: Utf8Bytes::from(json),
        }
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
            } => s.serialize_field(
                "data",
                &StateUpdatedData {
                    task_id,
                    old_state: *old_state,
                    new_state: *new_state,
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
        }
        s.end()
    }
}
