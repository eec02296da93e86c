//! Core errors become `{code, message}` for the UI here, once. Codes grow only when the UI needs
//! to branch on one.

use coexist_core::CoreError;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The workspace was written by a newer Coexist.
    NewerDatabase,
    /// The customer's 24-hour window is closed: the compose box offers templates instead.
    WindowClosed,
    /// The rules refuse this send (consent, template status, empty message…): show the message.
    CannotSend,
    /// Something must be connected or set first (Settings).
    NotConfigured,
    /// The input was wrong (a CSV, a name): show the message.
    Invalid,
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
            CoreError::WindowClosed { .. } => Code::WindowClosed,
            CoreError::CannotSend(_) => Code::CannotSend,
            CoreError::NotConfigured(_) => Code::NotConfigured,
            CoreError::Invalid(_) => Code::Invalid,
            _ => Code::Internal,
        };
        tracing::warn!(error = %e, "command failed");
        let message = match &e {
            // The core's wording names the CLI flag; the window offers its template picker.
            CoreError::WindowClosed { contact, since } => format!(
                "The 24-hour reply window with {contact} is closed{since}. Only an approved template can reach them now, or answer from the phone."
            ),
            _ => e.to_string(),
        };
        UiError { code, message }
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
