//! An API error: a code for machines and a message for people.

use crate::engine::EngineError;
use crate::protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::InvalidInput(_) | EngineError::InvalidState(_) => ErrorCode::InvalidParams,
            EngineError::NotFound(_) => ErrorCode::TaskNotFound,
            EngineError::AlreadyExists(_) => ErrorCode::TaskExists,
            EngineError::Internal(_) => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}
