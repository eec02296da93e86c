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
    fn as_str(self) -> &'static str {
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

impl Store {
    /// Journals `body` durably (a committed row) and returns its sequence number.
    pub async fn journal_append(&self, body: &[u8], verdict: SignatureVerdict, received_at: i64) -> Result<Appended> {
        let sha = hex::encode(Sha256::digest(body));
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO journal (received_at, sha256, body, signature) VALUES (?, ?, ?, ?)
             ON CONFLICT(sha256) DO NOTHING RETURNING seq",
        )
        .bind(received_at)
        .bind(&sha)
        .bind(body)
        .bind(verdict.as_str())
        .fetch_optional(self.pool())
        .await?;
        match inserted {
            Some(seq) => Ok(Appended { seq, duplicate: false }),
            None => {
                let seq = sqlx::query_scalar("SELECT seq FROM journal WHERE sha256 = ?")
                    .bind(&sha)
                    .fetch_one(self.pool())
                    .await?;
                Ok(Appended { seq, duplicate: true })
            }
        }
    }

    /// Copies `source`'s journal (bodies, order, receive times, verdicts) into this empty mirror,
    /// every row pending, so the applier can rebuild the mirror from the journal alone.
    pub async fn journal_copy_from(&self, source: &Store) -> Result<u64> {
        let mut copied = 0u64;
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, i64, String, Vec<u8>, String)> = sqlx::query_as(
                "SELECT seq, received_at, sha256, body, signature FROM journal WHERE seq > ? ORDER BY seq LIMIT 500",
            )
            .bind(after)
            .fetch_all(source.pool())
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let mut tx = self.pool().begin().await?;
            for (seq, received_at, sha, body, signature) in rows {
                sqlx::query(
                    "INSERT INTO journal (seq, received_at, sha256, body, signature) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT DO NOTHING",
                )
                .bind(seq)
                .bind(received_at)
                .bind(sha)
                .bind(body)
                .bind(signature)
                .execute(&mut *tx)
                .await?;
                copied += 1;
            }
            tx.commit().await?;
        }
        Ok(copied)
    }
}
