//! Data safety: online backups (SQLite's `VACUUM INTO`: a transactionally consistent copy taken
//! while the receiver keeps applying webhooks), checked restores, CSV export, and a retention
//! rule for old messages that never touches the webhook journal.

use crate::audit;
use crate::error::{CoreError, Result};
use crate::store::{ExportedMessage, Store};
use serde::Serialize;
use serde_json::json;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub path: String,
    pub bytes: u64,
    pub messages: i64,
    pub journal: i64,
    /// After a restore: queued sends and waiting follow-ups held for review, and running
    /// campaigns paused.
    pub held: i64,
    pub held_follow_ups: i64,
    pub paused_campaigns: i64,
    /// Media files copied with the database (beside it, in `<backup>.media/`); 0 when left out.
    pub media_files: u64,
    pub media_bytes: u64,
    /// After a restore: where the replaced database was set aside (restorable like a backup).
    pub set_aside: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetentionOutcome {
    pub older_than: i64,
    pub messages: u64,
    pub archived: u64,
    /// Media files no remaining message refers to, removed with them.
    pub media_files: u64,
    pub media_bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |source| CoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Counts in a workspace database, to say what a backup holds.
async fn counts(store: &Store) -> Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM message), (SELECT COUNT(*) FROM journal)")
            .fetch_one(store.pool())
            .await?,
    )
}

impl Store {
    /// Writes a consistent copy of the workspace to `dest` while it stays in use.
    pub async fn backup_to(&self, dest: &Path, actor: &str, now: i64) -> Result<BackupInfo> {
        if dest.exists() {
            return Err(CoreError::Invalid(format!(
                "{} already exists: choose a new file name for the backup",
                dest.display()
            )));
        }
        // Bodies received but not yet moved into the journal belong in the copy too.
        self.move_intake().await?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest.display().to_string())
            .execute(self.pool())
            .await?;
        let copy = Store::open_file(dest).await?;
        let (messages, journal) = counts(&copy).await?;
        copy.close().await;
        let bytes = std::fs::metadata(dest).map_err(io(dest))?.len();
        self.audit(
            now,
            actor,
            crate::audit::Action::Backup,
            Some(&dest.display().to_string()),
            json!({"bytes": bytes, "messages": messages}),
        )
        .await?;
        Ok(BackupInfo {
            path: dest.display().to_string(),
            bytes,
            messages,
            journal,
            held: 0,
            held_follow_ups: 0,
            paused_campaigns: 0,
            media_files: 0,
            media_bytes: 0,
            set_aside: None,
        })
    }

    /// Copies the workspace's media files beside a backup written to `dest` (into
    /// `<dest>.media/`, the same layout), for a backup that keeps the pictures too.
    pub async fn backup_media(&self, dest: &Path) -> Result<(u64, u64)> {
        let Some(from) = self.media_dir() else {
            return Ok((0, 0));
        };
        let to = media_beside(dest);
        let files: Vec<(String, i64)> = sqlx::query_as("SELECT path, bytes FROM media_file ORDER BY path")
            .fetch_all(self.pool())
            .await?;
        let (mut n, mut bytes) = (0u64, 0u64);
        for (rel, size) in files {
            let Some(src) = crate::media::content_path(&from, &rel) else {
                tracing::warn!(file = %rel, "a media row that is not a content address was left out of the backup");
                continue;
            };
            let dst = to.join(&rel);
            if !src.exists() {
                continue;
            }
            std::fs::create_dir_all(dst.parent().expect("a parent")).map_err(io(&dst))?;
            std::fs::copy(&src, &dst).map_err(io(&dst))?;
            n += 1;
            bytes += size as u64;
        }
        Ok((n, bytes))
    }

    /// The database's own consistency check.
    pub async fn integrity_check(&self) -> Result<()> {
        let result: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(self.pool())
            .await?;
        if result != "ok" {
            return Err(CoreError::Invalid(format!("the database is damaged: {result}")));
        }
        Ok(())
    }

    /// Messages as CSV, for a spreadsheet.
    pub async fn export_messages_csv<W: Write>(&self, out: W) -> Result<u64> {
        let rows: Vec<ExportedMessage> = self.export_messages().await?;
        let mut w = csv::Writer::from_writer(out);
        let err = |e: csv::Error| CoreError::Invalid(format!("could not write the CSV: {e}"));
        let mut n = 0;
        for m in rows {
            w.serialize(m).map_err(err)?;
            n += 1;
        }
        w.flush()
            .map_err(|e| CoreError::Invalid(format!("could not write the CSV: {e}")))?;
        Ok(n)
    }

    /// How many messages of the mirror are older than `older_than`.
    pub async fn messages_before(&self, older_than: i64) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM message WHERE timestamp < ?")
            .bind(older_than)
            .fetch_one(self.pool())
            .await?)
    }

    /// Deletes messages older than `older_than` from the mirror, archiving them first as JSONL
    /// when `archive` is given. The journal is left alone: it is the record of what Meta sent.
    pub async fn apply_retention<W: Write>(
        &self,
        older_than: i64,
        archive: Option<W>,
        actor: &str,
        now: i64,
    ) -> Result<RetentionOutcome> {
        let mut archived = 0;
        if let Some(mut out) = archive {
            for m in self
                .export_messages()
                .await?
                .into_iter()
                .filter(|m| m.timestamp < older_than)
            {
                serde_json::to_writer(&mut out, &m).map_err(|e| CoreError::Invalid(e.to_string()))?;
                out.write_all(b"\n").map_err(|source| CoreError::Io {
                    path: "archive".into(),
                    source,
                })?;
                archived += 1;
            }
            out.flush().map_err(|source| CoreError::Io {
                path: "archive".into(),
                source,
            })?;
        }
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        // Rows that point at the messages go first; conversations keep their counters.
        for q in [
            "DELETE FROM ledger WHERE message_id IN (SELECT id FROM message WHERE timestamp < ?)",
            "DELETE FROM ledger_dirty WHERE message_id IN (SELECT id FROM message WHERE timestamp < ?)",
            "DELETE FROM automation_seen WHERE message_id IN (SELECT id FROM message WHERE timestamp < ?)",
            "DELETE FROM media_download WHERE message_id IN (SELECT id FROM message WHERE timestamp < ?)",
            "DELETE FROM message_fts WHERE rowid IN (SELECT id FROM message WHERE timestamp < ?)", // rare, whole scan ok
            "UPDATE conversation SET last_message_id = NULL WHERE last_message_id IN (SELECT id FROM message WHERE timestamp < ?)",
        ] {
            sqlx::query(q).bind(older_than).execute(&mut *tx).await?;
        }
        let messages = sqlx::query("DELETE FROM message WHERE timestamp < ?")
            .bind(older_than)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Files only the deleted messages used go too (one file may serve several messages).
        let orphans: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT f.sha256, f.path, f.bytes FROM media_file f
             WHERE NOT EXISTS (SELECT 1 FROM message m WHERE m.media_sha256 = f.sha256)",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (sha, _, _) in &orphans {
            sqlx::query("DELETE FROM media_upload WHERE sha256 = ?")
                .bind(sha)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM media_file WHERE sha256 = ?")
                .bind(sha)
                .execute(&mut *tx)
                .await?;
        }
        audit::append_with(
            &mut tx,
            self.sealing().as_ref(),
            now,
            actor,
            crate::audit::Action::Retention,
            None,
            &json!({"older_than": older_than, "messages": messages, "archived": archived}),
        )
        .await?;
        tx.commit().await?;
        let media = self.media_dir();
        for (_, rel, _) in &orphans {
            if let Some(file) = media.as_deref().and_then(|d| crate::media::content_path(d, rel)) {
                if let Err(e) = std::fs::remove_file(file) {
                    tracing::warn!(error = %e, file = %rel, "a media file past retention could not be removed");
                }
            }
        }
        Ok(RetentionOutcome {
            media_files: orphans.len() as u64,
            media_bytes: orphans.iter().map(|o| o.2 as u64).sum(),
            older_than,
            messages,
            archived,
        })
    }
}

/// Replaces the workspace in `data_dir` with `backup` as one atomic step (see [`crate::restore`]),
/// audited as done by Coexist itself; the owner's own restore goes through `ops::restore`.
pub async fn restore(backup: &Path, data_dir: &Path) -> Result<BackupInfo> {
    let now = chrono::Utc::now().timestamp();
    crate::restore::Restore::begin(data_dir)
        .await?
        .finish(backup, "coexist", now)
        .await
}

/// Where a backup's media files go: `<backup file>.media/`.
pub fn media_beside(backup: &Path) -> std::path::PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".media");
    std::path::PathBuf::from(name)
}
