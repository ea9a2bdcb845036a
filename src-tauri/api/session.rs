//! `session.*` methods.

use serde_json::Value;

use super::tasks::{no_params, to_json};
use super::{Api, ApiError};

/// `session.info`: version, directories, listen addresses and totals.
pub fn info(api: &Api, params: Value) -> Result<Value, ApiError> {
    no_params(params)?;
    let mut info = api.engine.info();
    info.listen_addresses = api.listen_urls.clone();
    to_json(&info)
}
