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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_their_codes() {
        let cases = [
            (EngineError::InvalidInput("bad".into()), -2),
            (EngineError::InvalidState("failed".into()), -2),
            (EngineError::NotFound("x".into()), -4),
            (EngineError::AlreadyExists("x".into()), -5),
            (EngineError::Internal("disk full".into()), -7),
        ];
        for (error, code) in cases {
            let message = error.to_string();
            let api = ApiError::from(error);
            assert_eq!(api.code.code(), code);
            assert_eq!(api.message, message);
        }
    }
}
