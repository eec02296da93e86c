//! The local SQLite mirror: one file per workspace, WAL, embedded additive migrations.

pub mod db;
pub mod leases;
mod queries;

pub use queries::{
    AccountIds, ConversationFilter, ConversationRow, ExportedMessage, InboxFilter, JournalCounts, Stats, ThreadMessage,
};

use crate::error::{CoreError, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The file name of a workspace's mirror inside its data directory.
pub const DB_FILE: &str = "coexist.sqlite3";

/// The newest migration this build knows: a database past it was written by a newer Coexist.
pub(crate) fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A handle on one workspace's mirror. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The same pool behind the statements written for both backends (`db`); the rest of the
    /// store moves onto it as it is ported to PostgreSQL (issue 26).
    db: db::Db,
    path: Option<PathBuf>,
    /// The journal's group-commit writer, started on first use in the runtime that uses it.
    journal: std::sync::Arc<std::sync::Mutex<Option<JournalSender>>>,
    /// The receiver's inbox file (see `webhook::intake`), opened on first use.
    intake: crate::webhook::intake::Shared,
    /// Seals new audit entries when the workspace's key could be read from the keyring.
    pub(crate) audit_key: std::sync::Arc<std::sync::RwLock<Option<crate::audit::AuditKey>>>,
    /// Rung when a body was journaled outside the receiver (a record of a send), so the applier
    /// of this workspace applies it without waiting for the next webhook.
    journal_grew: std::sync::Arc<tokio::sync::Notify>,
    /// Set on the engine's own copy: its tasks write only while the engine lease holds.
    fence: Option<std::sync::Arc<crate::engine::LeaseFence>>,
}

type JournalSender = tokio::sync::mpsc::UnboundedSender<crate::webhook::journal::Pending>;

impl Store {
    /// Opens (creating if needed) the mirror in `data_dir`, applying pending migrations. A database
    /// written by a newer Coexist is refused rather than half-understood.
    pub async fn open_dir(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| CoreError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open_file(&data_dir.join(DB_FILE)).await
    }

    pub async fn open_file(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 16 MB of page cache per connection: large imports and list queries stay in memory.
            .pragma("cache_size", "-16000");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            db: db::Db::Sqlite(pool.clone()),
            pool,
            path: Some(path.to_path_buf()),
            journal: Default::default(),
            intake: Default::default(),
            audit_key: Default::default(),
            journal_grew: Default::default(),
            fence: None,
        })
    }

    /// A private in-memory mirror (one connection, so every query sees the same database).
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            db: db::Db::Sqlite(pool.clone()),
            pool,
            path: None,
            journal: Default::default(),
            intake: Default::default(),
            audit_key: Default::default(),
            journal_grew: Default::default(),
            fence: None,
        })
    }

    /// This store as the engine's tasks use it: each checks [`Store::engine_may_write`] before
    /// its next write, so an engine that lost its lease stops writing even before it noticed.
    pub(crate) fn fenced(&self, fence: std::sync::Arc<crate::engine::LeaseFence>) -> Store {
        Store {
            fence: Some(fence),
            ..self.clone()
        }
    }

    /// An engine task's check before it writes: refused once the engine lease may have passed to
    /// another process (its renewal is overdue, or it was taken). Other callers always may.
    pub fn engine_may_write(&self) -> Result<()> {
        match &self.fence {
            Some(f) if !f.holds() => Err(CoreError::EngineLost),
            _ => Ok(()),
        }
    }

    /// The raw pool: the core's own modules only. Callers outside go through operations, so no
    /// rule is bypassed with plain SQL (the core's integration tests get it through `testkit`).
    #[cfg(not(feature = "testkit"))]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    #[cfg(feature = "testkit")]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The workspace's database for statements written for both backends (see [`db`]).
    pub(crate) fn db(&self) -> &db::Db {
        &self.db
    }

    /// The journal's writer; a new one when the previous one's runtime has ended.
    pub(crate) fn journal_grew(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.journal_grew.clone()
    }

    pub(crate) fn journal_writer(&self) -> JournalSender {
        let mut w = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        match &*w {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let tx = crate::webhook::journal::spawn_writer(self.pool.clone());
                *w = Some(tx.clone());
                tx
            }
        }
    }

    /// The database file, for in-file stores.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn intake_cell(&self) -> &crate::webhook::intake::Shared {
        &self.intake
    }

    pub async fn close(&self) {
        if let Some(i) = self.intake.get() {
            i.close().await;
        }
        self.pool.close().await;
    }
}
