//! Search over every message (FTS5). The index catches up lazily — new messages by id, edited or
//! revoked ones through `search_dirty` — so writing a message never waits for it.

use crate::error::Result;
use crate::store::Store;
use serde::Serialize;
use sqlx::SqliteConnection;

const WATERMARK: &str = "search.indexed_id";
const BATCH: i64 = 20_000;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SearchHit {
    pub message_id: i64,
    pub contact_id: Option<i64>,
    pub contact_name: Option<String>,
    pub origin: crate::states::Origin,
    pub timestamp: i64,
    /// The message text (the index keeps no copy of it).
    pub snippet: String,
}

/// An edited or revoked message is indexed again.
pub(crate) async fn mark_changed(conn: &mut SqliteConnection, wamid: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO search_dirty (message_id) SELECT id FROM message WHERE wamid = ?")
        .bind(wamid)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What people type, as an FTS5 query: every word must appear, each as a prefix.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Store {
    /// Brings the index up to date; returns how many messages were (re)indexed.
    pub async fn index_search(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let from: i64 =
                sqlx::query_scalar("SELECT CAST(COALESCE((SELECT value FROM setting WHERE key = ?), '0') AS INTEGER)")
                    .bind(WATERMARK)
                    .fetch_one(&mut *tx)
                    .await?;
            let to: Option<i64> =
                sqlx::query_scalar("SELECT MAX(id) FROM (SELECT id FROM message WHERE id > ? ORDER BY id LIMIT ?)")
                    .bind(from)
                    .bind(BATCH)
                    .fetch_one(&mut *tx)
                    .await?;
            let Some(to) = to else {
                tx.commit().await?;
                break;
            };
            total += sqlx::query(
                "INSERT INTO message_fts (rowid, text) SELECT id, text FROM message
                 WHERE id > ? AND id <= ? AND text IS NOT NULL AND revoked = 0",
            )
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )
            .bind(WATERMARK)
            .bind(to.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        // Edits and revokes of messages already indexed, one by one (a rowid IN (…) on the
        // virtual table would scan it).
        let changed: Vec<i64> = sqlx::query_scalar("SELECT message_id FROM search_dirty")
            .fetch_all(self.pool())
            .await?;
        if changed.is_empty() {
            return Ok(total);
        }
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        for id in &changed {
            sqlx::query("DELETE FROM message_fts WHERE rowid = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        total += sqlx::query(
            "INSERT INTO message_fts (rowid, text) SELECT m.id, m.text FROM search_dirty d JOIN message m ON m.id = d.message_id
             WHERE m.text IS NOT NULL AND m.revoked = 0
               AND m.id <= CAST(COALESCE((SELECT value FROM setting WHERE key = ?), '0') AS INTEGER)",
        )
        .bind(WATERMARK)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for id in &changed {
            sqlx::query("DELETE FROM search_dirty WHERE message_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(total)
    }

    /// Messages whose text has every word typed (as prefixes), newest first.
    pub async fn search(&self, text: &str, limit: i64) -> Result<Vec<SearchHit>> {
        let Some(q) = fts_query(text) else {
            return Ok(Vec::new());
        };
        self.index_search().await?;
        Ok(sqlx::query_as(
            // The match first (a materialized CTE), so the planner never walks `message` probing the
            // index; newest first, which FTS5 walks in order instead of ranking every match.
            "WITH hits AS MATERIALIZED (SELECT rowid FROM message_fts WHERE message_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)
             SELECT m.id AS message_id, m.contact_id,
                    COALESCE(NULLIF(c.name, ''), NULLIF(c.profile_name, ''), NULLIF(c.username, ''),
                             CASE WHEN c.wa_id IS NOT NULL THEN '+' || c.wa_id END, c.bsuid) AS contact_name,
                    m.origin, m.timestamp, COALESCE(m.text, '') AS snippet
             FROM hits JOIN message m ON m.id = hits.rowid LEFT JOIN contact c ON c.id = m.contact_id
             ORDER BY m.id DESC",
        )
        .bind(q)
        .bind(limit.clamp(1, 200))
        .fetch_all(self.pool())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_are_words_as_prefixes() {
        assert_eq!(
            super::fts_query("Blue kurta, M?").as_deref(),
            Some("\"blue\"* \"kurta\"* \"m\"*")
        );
        assert_eq!(super::fts_query("\"*)("), None);
    }
}
