//! Core errors become `{code, message}` for the UI here, once. Codes grow only when the UI needs
//! to branch on one.

use coexist_core::CoreError;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The workspace was written by a newer Coexist.
    NewerDatabase,
    Internal,
}

#[derive(Debug, Serialize)]
pub struct UiError {
    pub code: Code,
    pub message: String,
}

impl From<CoreError> for UiError {
    fn from(e: CoreError) -> Self {
        let code = match e {
            CoreError::NewerDatabase(_) => Code::NewerDatabase,
            _ => Code::Internal,
        };
        tracing::warn!(error = %e, "command failed");
        UiError {
            code,
            message: e.to_string(),
        }
    }
}

impl UiError {
    /// A failure outside the core (the OS refused something), in its own words.
    pub fn internal(message: String) -> Self {
        tracing::warn!(error = %message, "command failed");
        UiError {
            code: Code::Internal,
            message,
        }
    }
}
