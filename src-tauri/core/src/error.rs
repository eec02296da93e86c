//! Typed errors of the core. The shell maps them once to `{code, message}` for the UI.

use thiserror::Error;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("the database could not be used: {0}")]
    Database(#[from] sqlx::Error),
    #[error("this workspace was written by a newer version of Coexist (migration {0} is unknown here); update the app to open it")]
    NewerDatabase(i64),
    #[error("the database could not be upgraded: {0}")]
    Migration(sqlx::migrate::MigrateError),
    #[error("could not read or write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret store: {0}")]
    Secret(String),
    #[error("{0}")]
    Invalid(String),
    /// A free-form message outside the 24-hour customer-service window.
    #[error("The 24-hour reply window with {contact} is closed{since}. Only an approved template can reach them now, or answer from the phone.")]
    WindowClosed { contact: String, since: String },
    #[error("{0}")]
    CannotSend(String),
    /// An owner-only operation asked of a front-desk profile.
    #[error("only the owner can {what}; {actor} is a front-desk profile")]
    NotAllowed { what: String, actor: String },
    /// An owner-only operation without the owner PIN (or with a wrong one): the window asks for it.
    #[error("{0}")]
    PinRequired(String),
    /// Meta refused a request; its code survives so the UI and scripts can tell which rule it was.
    #[error("Meta refused {what}: {reason} (code {code})")]
    Meta { what: String, code: i64, reason: String },
    #[error("another process took this workspace over: this one stopped running it (it receives, sends and runs automation no more)")]
    EngineLost,
    #[error("Coexist is not connected to the Cloud API: {0}")]
    NotConfigured(String),
}

impl From<sqlx::migrate::MigrateError> for CoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => CoreError::NewerDatabase(v),
            other => CoreError::Migration(other),
        }
    }
}

/// What the UI (and a script reading `--json`) can branch on. Grown only when a caller branches
/// on a new kind; everything else is `internal` with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The workspace was written by a newer Coexist.
    NewerDatabase,
    /// The customer's 24-hour window is closed: the compose box offers templates instead.
    WindowClosed,
    /// The rules refuse this (consent, template status, a front-desk profile…): show the message.
    CannotSend,
    /// Something must be connected or set first (Settings).
    NotConfigured,
    /// The input was wrong (a CSV, a name): show the message.
    Invalid,
    /// An owner-only action needs the owner PIN (or it was wrong): the window asks for it.
    PinRequired,
    /// Meta refused the request; `meta_code` says which rule.
    Meta,
    Internal,
}

/// An error as the UI and `--json` output receive it.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ErrorBody {
    pub code: Code,
    pub message: String,
    /// Meta's own error code, when Meta refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub meta_code: Option<i64>,
}

impl CoreError {
    pub fn code(&self) -> Code {
        match self {
            CoreError::NewerDatabase(_) => Code::NewerDatabase,
            CoreError::WindowClosed { .. } => Code::WindowClosed,
            CoreError::CannotSend(_) | CoreError::NotAllowed { .. } => Code::CannotSend,
            CoreError::NotConfigured(_) => Code::NotConfigured,
            CoreError::Invalid(_) => Code::Invalid,
            CoreError::PinRequired(_) => Code::PinRequired,
            CoreError::Meta { .. } => Code::Meta,
            _ => Code::Internal,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
            meta_code: match self {
                CoreError::Meta { code, .. } => Some(*code),
                _ => None,
            },
        }
    }
}
