//! Pause all and resume all: one behaviour for the tray (in-process, [`crate::actions`]) and for
//! `magnetar remote pause --all` / `resume --all` (over WebSocket). They disagreed: the tray
//! skipped a failed task, the remote paused the others and then exited 1 with "error -2: the task
//! has failed".
//!
//! A bulk action reaches every task it can act on and leaves the others alone without an error,
//! saying which and why:
//! - pause all pauses what runs (states 0, 1, 2); a paused task is already as asked (nothing to
//!   say); a finished (3) or failed (5) task is skipped.
//! - resume all resumes what is paused (4); a running task is already as asked; a finished or
//!   failed task is skipped too: resuming one is a decision about that task (a finished one
//!   would start seeding, a failed one is retried), made by id, not in bulk.
//!
//! A task that changes under the action (it fails, finishes or is removed between the list and
//! its call: the API answers -2 or -4) is skipped the same way. Any other error (a read-only
//! token's -6, a lost connection) stops the action and is the action's error.

use std::future::Future;

use serde_json::{json, Value};

use crate::protocol::{ErrorCode, TaskState};

/// Which bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    Pause,
    Resume,
}

impl Bulk {
    /// The API method called for each task.
    pub fn method(self) -> &'static str {
        match self {
            Bulk::Pause => "task.pause",
            Bulk::Resume => "task.resume",
        }
    }

    /// `paused` or `resumed`.
    pub fn done_word(self) -> &'static str {
        match self {
            Bulk::Pause => "paused",
            Bulk::Resume => "resumed",
        }
    }

    /// What this action does to a task in `state` (by its wire code).
    fn decide(self, state: Option<u64>) -> Decision {
        let code = |s: TaskState| Some(u64::from(s.code()));
        match (self, state) {
            (_, s) if s == code(TaskState::Error) => Decision::Skip("failed"),
            (_, s) if s == code(TaskState::Finished) => Decision::Skip("finished"),
            (Bulk::Pause, s) if s == code(TaskState::Paused) => Decision::AsAsked,
            (Bulk::Pause, _) if state.is_some_and(|s| s <= 2) => Decision::Act,
            (Bulk::Resume, s) if s == code(TaskState::Paused) => Decision::Act,
            (Bulk::Resume, _) if state.is_some_and(|s| s <= 2) => Decision::AsAsked,
            _ => Decision::Skip("in an unknown state"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Call the method.
    Act,
    /// The task is already as the action would leave it.
    AsAsked,
    /// Leave it, for this reason.
    Skip(&'static str),
}

/// A task a bulk action left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub name: String,
    pub why: String,
}

/// What a bulk action did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The tasks it paused (or resumed), by id.
    pub done: Vec<String>,
    /// The tasks it could not act on.
    pub skipped: Vec<Skipped>,
}

impl Outcome {
    /// One line for people: `2 tasks paused; skipped: lost.bin (failed)`.
    pub fn summary(&self, bulk: Bulk) -> String {
        let done = match self.done.len() {
            1 => format!("1 task {}", bulk.done_word()),
            n => format!("{n} tasks {}", bulk.done_word()),
        };
        if self.skipped.is_empty() {
            return done;
        }
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .map(|s| format!("{} ({})", s.name, s.why))
            .collect();
        format!("{done}; skipped: {}", skipped.join(", "))
    }
}

/// The tasks of a `task.list` result that `bulk` calls its method on, and those it skips.
pub fn plan(bulk: Bulk, tasks: &[Value]) -> (Vec<String>, Vec<Skipped>) {
    let mut act = Vec::new();
    let mut skipped = Vec::new();
    for task in tasks {
        let Some(id) = task["id"].as_str() else {
            continue;
        };
        match bulk.decide(task["state"].as_u64()) {
            Decision::Act => act.push(id.to_owned()),
            Decision::AsAsked => {}
            Decision::Skip(why) => skipped.push(Skipped {
                id: id.to_owned(),
                name: task["name"].as_str().unwrap_or(id).to_owned(),
                why: why.to_owned(),
            }),
        }
    }
    (act, skipped)
}

/// A way to call the API: the in-process [`crate::api::Api`], or `magnetar remote`'s client.
pub trait Calls {
    type Error;
    /// Calls `method` with `params`.
    fn call(
        &mut self,
        method: &str,
        params: Value,
    ) -> impl Future<Output = Result<Value, Self::Error>>;
    /// The API's error code and message, if `error` is the API's answer (not a lost connection).
    fn api_error(error: &Self::Error) -> Option<(i64, String)>;
}

/// Runs `bulk` over every task, as the module's documentation says.
pub async fn run<C: Calls>(bulk: Bulk, api: &mut C) -> Result<Outcome, C::Error> {
    let list = api.call("task.list", Value::Null).await?;
    let tasks = list.as_array().map_or(&[][..], Vec::as_slice);
    let (act, mut skipped) = plan(bulk, tasks);
    let mut done = Vec::new();
    for id in act {
        match api.call(bulk.method(), json!({ "task_id": id })).await {
            Ok(_) => done.push(id),
            Err(e) => match C::api_error(&e) {
                Some((code, why)) if changed_meanwhile(code) => {
                    tracing::info!(task = %id, "{} skipped: {why}", bulk.method());
                    let name = tasks
                        .iter()
                        .find(|t| t["id"] == id.as_str())
                        .and_then(|t| t["name"].as_str())
                        .unwrap_or(&id)
                        .to_owned();
                    skipped.push(Skipped { id, name, why });
                }
                _ => return Err(e),
            },
        }
    }
    Ok(Outcome { done, skipped })
}

/// The answers of a task that changed since the list: it failed (-2) or went away (-4).
fn changed_meanwhile(code: i64) -> bool {
    [ErrorCode::InvalidParams, ErrorCode::TaskNotFound]
        .iter()
        .any(|c| i64::from(c.code()) == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Every state and what each action does with it, written out from docs/API.md's tables
    /// (6.5, 6.6) and this module's rule rather than from `decide`.
    #[test]
    fn each_state_is_acted_on_left_or_skipped() {
        let tasks: Vec<Value> = (0..=6)
            .map(|s| json!({"id": format!("t{s}"), "name": format!("n{s}"), "state": s}))
            .chain([
                json!({"id": "nostate", "name": "x"}),
                json!({"name": "no id"}),
            ])
            .collect();
        let (act, skipped) = plan(Bulk::Pause, &tasks);
        assert_eq!(act, ["t0", "t1", "t2"]);
        let why: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.id.as_str(), s.why.as_str()))
            .collect();
        assert_eq!(
            why,
            [
                ("t3", "finished"),
                ("t5", "failed"),
                ("t6", "in an unknown state"),
                ("nostate", "in an unknown state")
            ]
        );
        let (act, skipped) = plan(Bulk::Resume, &tasks);
        assert_eq!(act, ["t4"]);
        let ids: Vec<&str> = skipped.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["t3", "t5", "t6", "nostate"]);
        assert_eq!(skipped[1].name, "n5");
    }

    /// A task call's answer: OK, or an API error's code and message.
    type Answer = Result<(), (i64, String)>;

    /// A fake API: a task list, and the answer to each task's call.
    struct Fake {
        list: Value,
        answers: HashMap<String, Answer>,
        calls: Vec<(String, String)>,
    }

    impl Calls for Fake {
        type Error = (i64, String);

        async fn call(&mut self, method: &str, params: Value) -> Result<Value, Self::Error> {
            if method == "task.list" {
                return Ok(self.list.clone());
            }
            let id = params["task_id"].as_str().unwrap().to_owned();
            self.calls.push((method.to_owned(), id.clone()));
            self.answers
                .get(&id)
                .cloned()
                .unwrap_or(Ok(()))
                .map(|()| Value::Null)
        }

        fn api_error(error: &Self::Error) -> Option<(i64, String)> {
            Some(error.clone())
        }
    }

    fn fake(answers: &[(&str, Answer)]) -> Fake {
        Fake {
            list: json!([
                {"id": "a", "name": "A", "state": 1},
                {"id": "b", "name": "B", "state": 5, "error": "no peers"},
                {"id": "c", "name": "C", "state": 0},
                {"id": "d", "name": "D", "state": 4},
                {"id": "e", "name": "E", "state": 2},
            ]),
            answers: answers
                .iter()
                .map(|(id, a)| (id.to_string(), a.clone()))
                .collect(),
            calls: Vec::new(),
        }
    }

    #[tokio::test]
    async fn pause_all_pauses_the_rest_and_reports_a_failed_task() {
        let mut api = fake(&[]);
        let outcome = run(Bulk::Pause, &mut api).await.unwrap();
        // The failed task is never asked to pause: that is the -2 the remote died of.
        let called: Vec<&str> = api.calls.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(called, ["a", "c", "e"]);
        assert_eq!(outcome.done, ["a", "c", "e"]);
        assert_eq!(outcome.skipped.len(), 1);
        assert_eq!(
            outcome.summary(Bulk::Pause),
            "3 tasks paused; skipped: B (failed)"
        );
    }

    #[tokio::test]
    async fn a_task_that_fails_or_goes_meanwhile_is_skipped_with_the_api_s_reason() {
        let failed = (
            -2,
            "the task has failed: resume it to retry, or remove it".into(),
        );
        let gone = (-4, "task not found".into());
        let mut api = fake(&[("a", Err(failed)), ("e", Err(gone))]);
        let outcome = run(Bulk::Pause, &mut api).await.unwrap();
        assert_eq!(outcome.done, ["c"]);
        let why: Vec<(&str, &str)> = outcome
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.why.as_str()))
            .collect();
        assert_eq!(
            why,
            [
                ("B", "failed"),
                ("A", "the task has failed: resume it to retry, or remove it"),
                ("E", "task not found"),
            ]
        );
    }

    #[tokio::test]
    async fn any_other_error_stops_the_action() {
        let refused = (-6, "this connection's token is read-only".to_owned());
        let mut api = fake(&[("a", Err(refused.clone()))]);
        assert_eq!(run(Bulk::Pause, &mut api).await, Err(refused));
        assert_eq!(api.calls.len(), 1);
    }

    #[tokio::test]
    async fn resume_all_resumes_the_paused_only() {
        let mut api = fake(&[]);
        let outcome = run(Bulk::Resume, &mut api).await.unwrap();
        assert_eq!(api.calls, [("task.resume".to_owned(), "d".to_owned())]);
        assert_eq!(
            outcome.summary(Bulk::Resume),
            "1 task resumed; skipped: B (failed)"
        );
        let nothing = Outcome::default();
        assert_eq!(nothing.summary(Bulk::Pause), "0 tasks paused");
    }
}
