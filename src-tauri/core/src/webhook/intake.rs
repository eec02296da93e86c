//! The receiver's inbox: a small SQLite file of its own beside the mirror, where each signed post
//! is made durable before it is answered 200, then moved into the journal by the applier.
//!
//! Why a second file: SQLite has one write lock per database file. While the journal lived only
//! in the mirror, every post waited behind the applier, the dispatcher or a campaign launch
//! holding that lock (p99 93 ms at 500 posts/s). The inbox has one writer in this process (a
//! group commit, one fsync per batch), so a post waits for nothing but its own disk write. The
//! journal in the mirror stays the record that backups, replays and the applier read.

use super::journal::{spawn_group_writer, submit, Appended, Pending, SignatureVerdict};
use crate::error::{CoreError, Result};
use crate::store::Store;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The inbox's schema version; an inbox written by a newer Coexist is refused.
const VERSION: i64 = 1;

/// Bodies moved into the journal per mirror transaction.
const MOVE_BATCH: i64 = 64;

/// The inbox file of the mirror at `db`: `coexist.sqlite3-intake` (with its own `-wal`, `-shm`).
pub fn path_beside(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-intake");
    PathBuf::from(s)
}

/// One workspace's inbox: a pool of one connection, so this process never waits on SQLite's busy
/// handler for its own inbox (the writer and the mover take turns on the connection instead).
#[derive(Debug)]
pub(crate) struct Intake {
    pool: SqlitePool,
    writer: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Pending>>>,
}

impl Intake {
    /// Opens (creating) the inbox at `path`, or a private one in memory.
    pub(crate) async fn open(path: Option<&Path>) -> Result<Intake> {
        let options = match path {
            // FULL: an answered post must survive a power cut; this file holds nothing else.
            Some(p) => SqliteConnectOptions::new()
                .filename(p)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10)),
            None => SqliteConnectOptions::from_str("sqlite::memory:")?,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&pool).await?;
        if version > VERSION {
            pool.close().await;
            return Err(CoreError::Invalid(format!(
                "the webhook inbox {} was written by a newer Coexist: update Coexist to open it",
                path.map(|p| p.display().to_string()).unwrap_or_default()
            )));
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS intake (
                 id          INTEGER PRIMARY KEY,
                 received_at INTEGER NOT NULL,
                 sha256      TEXT NOT NULL UNIQUE,
                 body        BLOB NOT NULL,
                 signature   TEXT NOT NULL CHECK (signature IN ('valid', 'imported'))
             )",
        )
        .execute(&pool)
        .await?;
        sqlx::query(&format!("PRAGMA user_version = {VERSION}"))
            .execute(&pool)
            .await?;
        Ok(Intake {
            pool,
            writer: Mutex::new(None),
        })
    }

    /// Makes `body` durable in the inbox and answers once it is; concurrent posts share a commit.
    /// `seq` is the inbox row (the journal's sequence is given when the body is moved).
    pub(crate) async fn append(&self, body: &[u8], verdict: SignatureVerdict, received_at: i64) -> Result<Appended> {
        submit(&self.writer(), body, verdict, received_at).await
    }

    /// The writer task, started in the runtime that first uses it (again if that one ended).
    fn writer(&self) -> tokio::sync::mpsc::UnboundedSender<Pending> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match &*w {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let tx = spawn_writer(self.pool.clone());
                *w = Some(tx.clone());
                tx
            }
        }
    }

    /// Bodies waiting to be moved into the journal.
    pub(crate) async fn waiting(&self) -> Result<(i64, Option<i64>)> {
        Ok(sqlx::query_as("SELECT COUNT(*), MAX(received_at) FROM intake")
            .fetch_one(&self.pool)
            .await?)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// The inbox's group-commit writer: one transaction (one fsync) per batch.
fn spawn_writer(pool: SqlitePool) -> tokio::sync::mpsc::UnboundedSender<Pending> {
    spawn_group_writer(pool, |pool, batch| Box::pin(commit(pool, batch)), "the webhook")
}

async fn commit(pool: &SqlitePool, batch: &[Pending]) -> sqlx::Result<Vec<Appended>> {
    let mut tx = pool.begin().await?;
    let mut out = Vec::with_capacity(batch.len());
    for p in batch {
        let sha = hex::encode(Sha256::digest(&p.body));
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO intake (received_at, sha256, body, signature) VALUES (?, ?, ?, ?)
             ON CONFLICT(sha256) DO NOTHING RETURNING id",
        )
        .bind(p.received_at)
        .bind(&sha)
        .bind(&p.body)
        .bind(p.verdict.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        out.push(match inserted {
            Some(seq) => Appended { seq, duplicate: false },
            None => Appended {
                seq: sqlx::query_scalar("SELECT id FROM intake WHERE sha256 = ?")
                    .bind(&sha)
                    .fetch_one(&mut *tx)
                    .await?,
                duplicate: true,
            },
        });
    }
    tx.commit().await?;
    Ok(out)
}

type Row = (i64, i64, String, Vec<u8>, String);

impl Store {
    /// The receiver's fast path: `body` is durable (in the inbox) when this returns, whatever the
    /// mirror is doing; the applier moves it into the journal. Redeliveries still waiting in the
    /// inbox are `duplicate`; ones already moved are dropped by the move.
    pub async fn intake_append(&self, body: &[u8], verdict: SignatureVerdict, received_at: i64) -> Result<Appended> {
        self.intake(true)
            .await?
            .expect("created")
            .append(body, verdict, received_at)
            .await
    }

    /// Moves every body waiting in the inbox into the journal, oldest first, each keeping its
    /// receive time. The journal rows are synced (FULL) before the inbox forgets them, so a power
    /// cut between the two leaves a body in both places, and moving it again writes nothing.
    pub(crate) async fn move_intake(&self) -> Result<u64> {
        let Some(intake) = self.intake(false).await? else {
            return Ok(0);
        };
        let mut moved = 0u64;
        loop {
            self.engine_may_write()?;
            let rows: Vec<Row> =
                sqlx::query_as("SELECT id, received_at, sha256, body, signature FROM intake ORDER BY id LIMIT ?")
                    .bind(MOVE_BATCH)
                    .fetch_all(&intake.pool)
                    .await?;
            let Some(last) = rows.last().map(|r| r.0) else {
                return Ok(moved);
            };
            let mut conn = self.pool().acquire().await?;
            sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
            let result = async {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                for (_, received_at, sha, body, signature) in &rows {
                    sqlx::query(
                        "INSERT INTO journal (received_at, sha256, body, signature) VALUES (?, ?, ?, ?)
                         ON CONFLICT(sha256) DO NOTHING",
                    )
                    .bind(received_at)
                    .bind(sha)
                    .bind(body)
                    .bind(signature)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await
            }
            .await;
            sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
            drop(conn);
            result?;
            sqlx::query("DELETE FROM intake WHERE id <= ?")
                .bind(last)
                .execute(&intake.pool)
                .await?;
            moved += rows.len() as u64;
        }
    }

    /// Bodies received but not yet moved into the journal, and the newest one's receive time.
    pub(crate) async fn intake_waiting(&self) -> Result<(i64, Option<i64>)> {
        match self.intake(false).await? {
            Some(i) => i.waiting().await,
            None => Ok((0, None)),
        }
    }
}

pub(crate) type Shared = Arc<tokio::sync::OnceCell<Arc<Intake>>>;

impl Store {
    /// The inbox, opened on first use. Without `create`, a file store whose inbox file does not
    /// exist has none (a restore's temporary copy, a fresh replay target): `None`.
    async fn intake(&self, create: bool) -> Result<Option<Arc<Intake>>> {
        if let Some(i) = self.intake_cell().get() {
            return Ok(Some(i.clone()));
        }
        let path = self.path().map(path_beside);
        if !create && path.as_ref().is_some_and(|p| !p.exists()) {
            return Ok(None);
        }
        let i = self
            .intake_cell()
            .get_or_try_init(|| async { Intake::open(path.as_deref()).await.map(Arc::new) })
            .await?;
        Ok(Some(i.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::webhook::{apply_pending, Rules};

    fn message(n: u32) -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001234","phone_number_id":"2"}},"contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"15550009999"}}],"messages":[{{"from":"15550009999","id":"wamid.INTAKE.{n}","timestamp":"1760000000","type":"text","text":{{"body":"hello {n}"}}}}]}}}}]}}]}}"#
        )
        .into_bytes()
    }

    async fn journal_rows(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM journal")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// The point of the inbox: a post is made durable while another connection holds the
    /// mirror's write lock (the applier, a campaign launch), instead of waiting for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_post_is_stored_while_the_mirror_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).await.unwrap();
        let mut lock = store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *lock).await.unwrap();
        let stored = tokio::time::timeout(
            Duration::from_secs(5),
            store.intake_append(&message(1), SignatureVerdict::Valid, 7),
        )
        .await
        .expect("the inbox does not wait for the mirror's write lock")
        .unwrap();
        assert!(!stored.duplicate);
        assert!(path_beside(&dir.path().join(crate::store::DB_FILE)).exists());
        sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
        drop(lock);

        let s = store.stats().await.unwrap();
        assert_eq!(
            (s.journal.received, s.journal.pending),
            (1, 1),
            "waiting in the inbox counts"
        );
        assert_eq!(store.last_received_at().await.unwrap(), Some(7));
        let report = apply_pending(&store, &Rules::default(), &FixedClock::new(10))
            .await
            .unwrap();
        assert_eq!(report.applied, 1);
        assert_eq!(journal_rows(&store).await, 1);
        let received_at: i64 = sqlx::query_scalar("SELECT received_at FROM journal")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(received_at, 7, "the body keeps its receive time");
        let s = store.stats().await.unwrap();
        assert_eq!((s.journal.received, s.journal.pending), (1, 0));
        assert_eq!(s.messages.customer, 1);
    }

    /// Meta redelivers: once waiting in the inbox it is a duplicate there; once moved, the move
    /// writes it no second time. The same holds for a move cut off before the inbox forgot it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redeliveries_and_repeated_moves_journal_a_body_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).await.unwrap();
        assert!(
            !store
                .intake_append(&message(1), SignatureVerdict::Valid, 1)
                .await
                .unwrap()
                .duplicate
        );
        assert!(
            store
                .intake_append(&message(1), SignatureVerdict::Valid, 2)
                .await
                .unwrap()
                .duplicate
        );
        store
            .intake_append(&message(2), SignatureVerdict::Valid, 3)
            .await
            .unwrap();
        assert_eq!(store.move_intake().await.unwrap(), 2);
        // Delivered again after the move (or left in the inbox by a cut-off move).
        store
            .intake_append(&message(1), SignatureVerdict::Valid, 4)
            .await
            .unwrap();
        assert_eq!(store.move_intake().await.unwrap(), 1);
        assert_eq!(journal_rows(&store).await, 2);
        assert_eq!(store.intake_waiting().await.unwrap().0, 0);
        apply_pending(&store, &Rules::default(), &FixedClock::new(10))
            .await
            .unwrap();
        assert_eq!(store.stats().await.unwrap().messages.customer, 2);
    }

    /// Bodies survive the process: a reopened workspace moves and applies what its inbox held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reopened_workspace_applies_what_its_inbox_held() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open_dir(dir.path()).await.unwrap();
            for n in 0..5 {
                store
                    .intake_append(&message(n), SignatureVerdict::Valid, 1)
                    .await
                    .unwrap();
            }
            store.close().await;
        }
        let store = Store::open_dir(dir.path()).await.unwrap();
        assert_eq!(store.stats().await.unwrap().journal.pending, 5);
        let report = apply_pending(&store, &Rules::default(), &FixedClock::new(10))
            .await
            .unwrap();
        assert_eq!(report.applied, 5);
    }
}
