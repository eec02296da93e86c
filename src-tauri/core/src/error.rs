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
    #[error("the 24-hour reply window with {contact} is closed{since}: only an approved template can reach them now (use --template)")]
    WindowClosed { contact: String, since: String },
    #[error("{0}")]
    CannotSend(String),
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
