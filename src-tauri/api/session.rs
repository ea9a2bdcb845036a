//! `session.*` methods.

use serde_json::{json, Value};

use super::tasks::{no_params, refusal, to_json};
use super::{Api, ApiError, Caller};
use crate::protocol::{null, Reply};
use crate::protocol::{ErrorCode, Event, Label};

/// `session.getLabels`: `{labels: [...]}`.
pub fn get_labels(api: &Api, params: Value) -> Result<Reply, ApiError> {
    no_params(params)?;
    to_json(&json!({ "labels": api.engine.labels() }))
}

/// `session.setLabels {labels: [{name, folder?, seed_goal?}]}`: replaces the whole list.
/// Checked whole before anything changes; applied, saved in the settings file (`labels`) and
/// announced to every client (`session.labelsUpdated`), one call at a time. Answers the list as
/// kept (folders resolved). A task whose label is gone loses it.
pub async fn set_labels(api: &Api, caller: &Caller, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(mut params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with labels",
        ));
    };
    if let Some(unknown) = params.keys().find(|k| *k != "labels") {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected labels"
        )));
    }
    let Some(Value::Array(items)) = params.remove("labels") else {
        return Err(ApiError::invalid_params(
            "labels: must be an array of {name, folder?, seed_goal?}",
        ));
    };
    let labels = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<Label>(item)
                .map_err(|e| ApiError::invalid_params(format!("labels[{i}]: {e}")))
        })
        .collect::<Result<Vec<Label>, ApiError>>()?;
    let labels = api
        .engine
        .check_labels(labels, caller.is_remote())
        .map_err(refusal)?;
    let api = api.clone();
    let applied = tokio::spawn(async move {
        let _turn = api.labels_turn.lock().await;
        api.engine.set_labels(labels.clone());
        let saved = match api.settings_file.clone() {
            Some(path) => {
                let value = json!(labels);
                tokio::task::spawn_blocking(move || {
                    crate::config::update_settings_file(&path, &[("labels", value)])
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(join_failure(e)))
            }
            None => Ok(()),
        };
        api.engine.announce(Event::LabelsUpdated(labels.clone()));
        saved.map(|()| labels)
    })
    .await;
    match applied {
        Ok(Ok(labels)) => to_json(&json!({ "labels": labels })),
        Ok(Err(why)) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("labels applied, but not saved: {why}"),
        )),
        Err(e) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("internal error: {}", join_failure(e)),
        )),
    }
}

/// `session.info`: version, directories, listen addresses, totals and limits.
pub fn info(api: &Api, params: Value) -> Result<Reply, ApiError> {
    no_params(params)?;
    let mut info = api.engine.info();
    info.listen_addresses = api.listen_urls.clone();
    info.can_open_folders = api.folder_opener().is_some();
    to_json(&info)
}

/// `session.setLimits {download_bps, upload_bps}`: bytes per second, `null` or `0` for
/// unlimited, an absent field unchanged. Applied at once, saved in the settings file, and
/// announced to every client (`session.limitsUpdated`).
///
/// One call at a time (the API's limits lock) from reading the current limits to the
/// announcement, so that calls at once neither lose each other's fields nor finish in another
/// order in the engine, the file and the events: the last event every client sees is what the
/// engine runs with and the file holds. The applied limits are announced even when saving them
/// failed; the caller then gets -7 saying so.
pub async fn set_limits(api: &Api, params: Value) -> Result<Reply, ApiError> {
    let Value::Object(params) = params else {
        return Err(ApiError::invalid_params(
            "\"params\" must be an object with download_bps and/or upload_bps",
        ));
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| *k != "download_bps" && *k != "upload_bps")
    {
        return Err(ApiError::invalid_params(format!(
            "unknown field {unknown:?}: expected download_bps and/or upload_bps"
        )));
    }
    let new_download = params
        .get("download_bps")
        .map(|v| limit(v, "download_bps"))
        .transpose()?;
    let new_upload = params
        .get("upload_bps")
        .map(|v| limit(v, "upload_bps"))
        .transpose()?;
    // In a task of its own: a client that goes away mid-call must not leave the limits applied
    // but neither saved nor announced.
    let api = api.clone();
    let applied = tokio::spawn(async move {
        let _turn = api.limits_turn.lock().await;
        let (mut download, mut upload) = api.engine.limits();
        download = new_download.unwrap_or(download);
        upload = new_upload.unwrap_or(upload);
        api.engine.set_limits(download, upload);
        let saved = match api.settings_file.clone() {
            Some(path) => tokio::task::spawn_blocking(move || {
                crate::config::update_settings_file(
                    &path,
                    &[
                        ("download_bps", json!(download)),
                        ("upload_bps", json!(upload)),
                    ],
                )
                .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(join_failure(e))),
            None => Ok(()),
        };
        api.engine.announce(Event::LimitsUpdated {
            download_bps: download,
            upload_bps: upload,
        });
        api.limits_were_set(download, upload);
        saved
    })
    .await;
    match applied {
        Ok(Ok(())) => Ok(null()),
        Ok(Err(why)) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("limits applied, but not saved: {why}"),
        )),
        Err(e) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("internal error: {}", join_failure(e)),
        )),
    }
}

/// Why a spawned part of a call did not finish: its panic's message, or the runtime's reason.
pub(super) fn join_failure(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        crate::engine::panic_message(e.into_panic().as_ref())
    } else {
        e.to_string()
    }
}

/// One limit: `null` or `0` is unlimited; otherwise a whole number of bytes per second.
fn limit(value: &Value, name: &str) -> Result<Option<u32>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                ApiError::invalid_params(format!(
                    "{name} must be at most 4294967295 bytes per second"
                ))
            }),
            None => Err(ApiError::invalid_params(format!(
                "{name} must be a non-negative whole number of bytes per second, or null"
            ))),
        },
        _ => Err(ApiError::invalid_params(format!(
            "{name} must be a non-negative whole number of bytes per second, or null"
        ))),
    }
}
