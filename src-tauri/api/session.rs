//! `session.*` methods.

use serde_json::{json, Value};

use super::tasks::{no_params, to_json};
use super::{Api, ApiError};
use crate::protocol::{null, Reply};
use crate::protocol::{ErrorCode, Event};

/// `session.info`: version, directories, listen addresses, totals and limits.
pub fn info(api: &Api, params: Value) -> Result<Reply, ApiError> {
    no_params(params)?;
    let mut info = api.engine.info();
    info.listen_addresses = api.listen_urls.clone();
    to_json(&info)
}

/// `session.setLimits {download_bps, upload_bps}`: bytes per second, `null` or `0` for
/// unlimited, an absent field unchanged. Applied at once, saved in the settings file, and
/// announced to every client (`session.limitsUpdated`).
pub fn set_limits(api: &Api, params: Value) -> Result<Reply, ApiError> {
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
    let (mut download, mut upload) = api.engine.limits();
    if let Some(value) = params.get("download_bps") {
        download = limit(value, "download_bps")?;
    }
    if let Some(value) = params.get("upload_bps") {
        upload = limit(value, "upload_bps")?;
    }
    api.engine.set_limits(download, upload);
    if let Some(path) = &api.settings_file {
        crate::config::update_settings_file(
            path,
            &[
                ("download_bps", json!(download)),
                ("upload_bps", json!(upload)),
            ],
        )
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("limits applied, but not saved: {e}"),
            )
        })?;
    }
    api.engine.announce(Event::LimitsUpdated {
        download_bps: download,
        upload_bps: upload,
    });
    Ok(null())
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
