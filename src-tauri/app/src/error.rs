//! Core errors become `{code, message}` for the UI here, once. The codes are the core's
//! (`coexist_core::error::Code`, generated into `ui/src/generated`).

use coexist_core::error::{Code, ErrorBody};
use coexist_core::CoreError;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct UiError(ErrorBody);

impl From<CoreError> for UiError {
    fn from(e: CoreError) -> Self {
        tracing::warn!(error = %e, "command failed");
        UiError(e.body())
    }
}

impl UiError {
    /// A failure outside the core (the OS refused something), in its own words.
    pub fn internal(message: String) -> Self {
        tracing::warn!(error = %message, "command failed");
        UiError(ErrorBody {
            code: Code::Internal,
            message,
            meta_code: None,
        })
    }
}
