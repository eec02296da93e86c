//! The journal: every webhook body exactly as received, written before it is acknowledged.

use crate::error::Result;
use crate::store::Store;
use sha2::{Digest, Sha256};

/// How a body came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVerdict {
    /// Posted to the receiver with a valid `X-Hub-Signature-256`.
    Valid,
    /// Read from a file by `coexist import` (files carry no signature).
    Imported,
}

impl SignatureVerdict {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SignatureVerdict::Valid => "valid",
            SignatureVerdict::Imported => "imported",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: i64,
    /// The same body was journaled before (Meta redelivers); nothing new was written.
    pub duplicate: bool,
}

/// One body waiting for the group commit, with where its answer goes.
pub(crate) struct Pending {
    pub(crate) body: Vec<u8>,
    pub(crate) verdict: SignatureVerdict,
    pub(crate) received_at: i64,
    done: tokio::sync::oneshot::Sender<Result<Appended>>,
}

/// Bodies committed together: one power-safe sync of the WAL for all the posts that arrived while
/// the previous one was syncing (group commit), so durability costs one fsync per batch, not per post.
const GROUP_MAX: usize = 256;

/// One batch's transaction, as the journal and the receiver's inbox each write it.
pub(crate) type Commit<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = sqlx::Result<Vec<Appended>>> + Send + 'a>>;

/// A group-commit writer task: takes what is waiting, commits it with `commit` in one
/// transaction, answers each. Ends when every sender is gone. `what` names it in errors.
pub(crate) fn spawn_group_writer(
    pool: sqlx::SqlitePool,
    commit: for<'a> fn(&'a sqlx::SqlitePool, &'a [Pending]) -> Commit<'a>,
    what: &'static str,
) -> tokio::sync::mpsc::UnboundedSender<Pending> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < GROUP_MAX {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            match commit(&pool, &batch).await {
                Ok(answers) => {
                    for (p, a) in batch.into_iter().zip(answers) {
                        let _ = p.done.send(Ok(a));
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    for p in batch {
                        let _ = p.done.send(Err(crate::CoreError::Invalid(format!(
                            "{what} could not be written: {why}"
                        ))));
                    }
                }
            }
        }
    });
    tx
}

/// Hands `body` to a group-commit writer and waits for its answer.
pub(crate) async fn submit(
    writer: &tokio::sync::mpsc::UnboundedSender<Pending>,
    body: &[u8],
    verdict: SignatureVerdict,
    received_at: i64,
) -> Result<Appended> {
    let (done, answer) = tokio::sync::oneshot::channel();
    let pending = Pending {
        body: body.to_vec(),
        verdict,
        received_at,
        done,
    };
    writer
        .send(pending)
        .map_err(|_| crate::CoreError::Invalid("the webhook writer stopped: the workspace is closing".into()))?;
    answer
        .await
        .map_err(|_| crate::CoreError::Invalid("the webhook writer stopped before answering".into()))?
}

/// The journal's writer (see [`spawn_group_writer`]).
pub(crate) fn spawn_writer(pool: sqlx::SqlitePool) -> tokio::sync::mpsc::UnboundedSender<Pending> {
    spawn_group_writer(pool, |pool, batch| Box::pin(commit(pool, batch)), "the journal")
}

/// Meta never resends a body we answered 200, so this commit must survive a power cut: it syncs
/// the WAL (synchronous=FULL) while the rest of the mirror keeps NORMAL, which is safe against
/// crashes and can always be rebuilt from the journal.
async fn commit(pool: &sqlx::SqlitePool, batch: &[Pending]) -> std::result::Result<Vec<Appended>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
    let result = async {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let mut out = Vec::with_capacity(batch.len());
        for p in batch {
            out.push(insert(&mut tx, &p.body, p.verdict, p.received_at).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
    .await;
    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
    result
}

/// Journals one of our own sent records (see `sent`) inside the caller's transaction. It has no
/// signature to check: it is marked `imported`, with `source = 'sent'`.
pub(crate) async fn append_sent(conn: &mut sqlx::SqliteConnection, body: &[u8], at: i64) -> sqlx::Result<()> {
    let sha = hex::encode(Sha256::digest(body));
    sqlx::query(
        "INSERT INTO journal (received_at, sha256, body, signature, source) VALUES (?, ?, ?, 'imported', 'sent')
         ON CONFLICT(sha256) DO NOTHING",
    )
    .bind(at)
    .bind(&sha)
    .bind(body)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert(
    conn: &mut sqlx::SqliteConnection,
    body: &[u8],
    verdict: SignatureVerdict,
    received_at: i64,
) -> std::result::Result<Appended, sqlx::Error> {
    let sha = hex::encode(Sha256::digest(body));
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO journal (received_at, sha256, body, signature) VALUES (?, ?, ?, ?)
         ON CONFLICT(sha256) DO NOTHING RETURNING seq",
    )
    .bind(received_at)
    .bind(&sha)
    .bind(body)
    .bind(verdict.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match inserted {
        Some(seq) => Appended { seq, duplicate: false },
        None => Appended {
            seq: sqlx::query_scalar("SELECT seq FROM journal WHERE sha256 = ?")
                .bind(&sha)
                .fetch_one(&mut *conn)
                .await?,
            duplicate: true,
        },
    })
}

impl Store {
    /// Journals `body` durably (a committed, power-safe row) and returns its sequence number.
    /// Concurrent posts share one commit (see [`GROUP_MAX`]).
    pub async fn journal_append(&self, body: &[u8], verdict: SignatureVerdict, received_at: i64) -> Result<Appended> {
        submit(&self.journal_writer(), body, verdict, received_at).await
    }

    /// Copies `source`'s journal (bodies, order, receive times, verdicts) into this empty mirror,
    /// every row pending, so the applier can rebuild the mirror from the journal alone.
    pub async fn journal_copy_from(&self, source: &Store) -> Result<u64> {
        let mut copied = 0u64;
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, i64, String, Vec<u8>, String, String)> = sqlx::query_as(
                "SELECT seq, received_at, sha256, body, signature, source FROM journal WHERE seq > ? ORDER BY seq LIMIT 500",
            )
            .bind(after)
            .fetch_all(source.pool())
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let mut tx = self.pool().begin().await?;
            for (seq, received_at, sha, body, signature, source) in rows {
                sqlx::query(
                    "INSERT INTO journal (seq, received_at, sha256, body, signature, source) VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT DO NOTHING",
                )
                .bind(seq)
                .bind(received_at)
                .bind(sha)
                .bind(body)
                .bind(signature)
                .bind(source)
                .execute(&mut *tx)
                .await?;
                copied += 1;
            }
            tx.commit().await?;
        }
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts arriving together share a commit; a body delivered twice in one batch (Meta retries)
    /// is still written once, and both deliveries learn its sequence number.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_commits_and_stay_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!("{{\"n\": {}}}", i % 40);
                store
                    .journal_append(body.as_bytes(), SignatureVerdict::Valid, 1)
                    .await
                    .unwrap()
            }));
        }
        let mut seqs = std::collections::HashMap::new();
        let mut duplicates = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            let a = t.await.unwrap();
            duplicates += usize::from(a.duplicate);
            let first = *seqs.entry(i % 40).or_insert(a.seq);
            assert_eq!(first, a.seq, "one body, one row");
        }
        assert_eq!(duplicates, 160);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 40);
    }
}
