//! The background downloader: claims queued media, streams Meta's bytes to a `.part` file
//! while hashing, checks the sha256 and renames it into place; a crash leaves only a `.part`.

use super::{abandoned, content_address, holds, policy, sync_dir, temp_name};
use crate::clock::Clock;
use crate::cloud::{CloudClient, GraphError};
use crate::error::Result;
use crate::send::now_ms;
use crate::store::Store;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore};

/// How a download ended, for the row and for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MediaState {
    pub state: String,
    pub error: Option<String>,
    /// The stored file, relative to the media folder, once downloaded.
    pub path: Option<String>,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
    /// A document's own name: as it was sent to us, or as we uploaded it.
    pub filename: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Downloads at once.
    pub parallel: usize,
    /// Media lookups per second: downloads are paced well under the Cloud API's rate so a burst
    /// of pictures never crowds out sending.
    pub per_second: u32,
    /// Attempts before a download is given up (it stops anyway when Meta's 7 days end).
    pub max_attempts: i64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            parallel: 4,
            per_second: 20,
            max_attempts: 8,
        }
    }
}

/// The downloader running in the background; dropping the handle stops it (a download cut off
/// then is taken up again on the next start).
pub struct MediaHandle {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl MediaHandle {
    pub fn spawn(
        store: Store,
        client: CloudClient,
        dir: PathBuf,
        clock: Arc<dyn Clock>,
        settings: MediaSettings,
        events: crate::events::EventBus,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let d = Arc::new(Downloader {
            events,
            store,
            client,
            dir,
            clock,
            gate: Arc::new(Semaphore::new(settings.parallel.max(1))),
            pace: governor::RateLimiter::direct(governor::Quota::per_second(
                std::num::NonZeroU32::new(settings.per_second.max(1)).expect("rate ≥ 1"),
            )),
            settings,
        });
        let w = wake.clone();
        let task = tokio::spawn(async move { d.run(w).await });
        MediaHandle { wake, task }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Downloader {
    events: crate::events::EventBus,
    store: Store,
    client: CloudClient,
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    gate: Arc<Semaphore>,
    pace: governor::DefaultDirectRateLimiter,
    settings: MediaSettings,
}

struct Claim {
    message_id: i64,
    media_id: String,
    attempts: i64,
    expires_at: i64,
}

enum Outcome {
    Done {
        sha256: String,
        path: String,
        bytes: i64,
        mime: Option<String>,
    },
    /// Meta no longer has it (or its 7 days are over).
    Expired(String),
    Retry(String),
}

impl Downloader {
    async fn run(self: Arc<Self>, wake: Arc<Notify>) {
        if let Err(e) = self.recover().await {
            tracing::error!(error = %e, "could not take up interrupted media downloads");
        }
        loop {
            let permit = self.gate.clone().acquire_owned().await.expect("semaphore open");
            self.pace.until_ready().await;
            match self.claim().await {
                Ok(Some(c)) => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        let span = tracing::debug_span!("media", message = c.message_id);
                        let _e = span.enter();
                        let outcome = me.fetch(&c).await;
                        if let Err(e) = me.record(&c, outcome).await {
                            tracing::error!(error = %e, "could not record a media download");
                        }
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "media queue unreadable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Downloads cut off by a crash start again; their partial files are removed.
    async fn recover(&self) -> Result<()> {
        self.store.engine_may_write()?;
        sqlx::query("UPDATE media_download SET state = 'queued' WHERE state = 'downloading'")
            .execute(self.store.pool())
            .await?;
        let tmp = self.dir.join(".tmp");
        if let Ok(mut entries) = tokio::fs::read_dir(&tmp).await {
            while let Ok(Some(e)) = entries.next_entry().await {
                let old = e
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600));
                if old || abandoned(&e.file_name().to_string_lossy()) {
                    let _ = tokio::fs::remove_file(e.path()).await;
                }
            }
        }
        Ok(())
    }

    async fn claim(&self) -> Result<Option<Claim>> {
        self.store.engine_may_write()?;
        let now = self.clock.now();
        let policy = self.store.media_policy().await?;
        let full = self.store.media_full(&policy).await?;
        // What Meta's window no longer allows is marked expired without a request.
        sqlx::query(
            "UPDATE media_download SET state = 'expired', updated_at = ?1, error = ?2
             WHERE state = 'queued' AND expires_at <= ?1",
        )
        .bind(now)
        .bind(policy::expired_reason(&policy, full))
        .execute(self.store.pool())
        .await?;
        // At the owner's cap, downloads wait for room (a raised cap, or files removed).
        if full {
            return Ok(None);
        }
        let row: Option<(i64, String, i64, i64)> = sqlx::query_as(
            "UPDATE media_download SET state = 'downloading', attempts = attempts + 1, updated_at = ?1
             WHERE message_id = (SELECT message_id FROM media_download
                                 WHERE state = 'queued' AND next_attempt_ms <= ?2
                                 ORDER BY next_attempt_ms, message_id LIMIT 1)
             RETURNING message_id, media_id, attempts, expires_at",
        )
        .bind(now)
        .bind(now_ms())
        .fetch_optional(self.store.pool())
        .await?;
        Ok(row.map(|(message_id, media_id, attempts, expires_at)| Claim {
            message_id,
            media_id,
            attempts,
            expires_at,
        }))
    }

    async fn fetch(&self, c: &Claim) -> Outcome {
        let info = match self.client.media_info(&c.media_id).await {
            Ok(i) => i,
            Err(e) if gone(&e) => {
                return Outcome::Expired(format!("Meta no longer has this file ({}).", e.message));
            }
            Err(e) => return Outcome::Retry(format!("Meta could not be asked for the file: {}", e.message)),
        };
        match self.stream_to_disk(c, &info).await {
            Ok(o) => o,
            Err(e) => Outcome::Retry(e),
        }
    }

    /// Streams the bytes to `.tmp/<message>.part`, hashing as they come, then moves the file to
    /// its content address (or drops it when that content is already stored).
    async fn stream_to_disk(&self, c: &Claim, info: &crate::cloud::MediaInfo) -> std::result::Result<Outcome, String> {
        let tmp_dir = self.dir.join(".tmp");
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| format!("the media folder could not be written: {e}"))?;
        let part = tmp_dir.join(temp_name(&format!("dl-{}", c.message_id)));
        let result = self.stream_part(&part, info).await;
        if result.is_err() {
            // A download that broke off or met a full disk leaves nothing behind.
            let _ = tokio::fs::remove_file(&part).await;
        }
        result
    }

    async fn stream_part(&self, part: &Path, info: &crate::cloud::MediaInfo) -> std::result::Result<Outcome, String> {
        let mut resp = self.client.media_bytes(&info.url).await.map_err(|e| e.message)?;
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(part)
            .await
            .map_err(|e| format!("the media folder could not be written: {e}"))?;
        let mut hash = Sha256::new();
        let mut bytes = 0i64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("the download broke off: {}", crate::cloud::redacted(e)))?
        {
            hash.update(&chunk);
            bytes += chunk.len() as i64;
            file.write_all(&chunk)
                .await
                .map_err(|e| format!("the media file could not be written: {e}"))?;
        }
        file.sync_all()
            .await
            .map_err(|e| format!("the media file could not be saved: {e}"))?;
        drop(file);
        let sha = hex::encode(hash.finalize());
        if let Some(expected) = info.sha256.as_deref().filter(|s| !s.is_empty()) {
            if !expected.eq_ignore_ascii_case(&sha) {
                let _ = tokio::fs::remove_file(&part).await;
                return Err("the downloaded file does not match Meta's checksum; it will be fetched again".into());
            }
        }
        let rel = content_address(&sha);
        let target = self.dir.join(&rel);
        if holds(&target, &sha).await {
            let _ = tokio::fs::remove_file(part).await;
        } else {
            tokio::fs::create_dir_all(target.parent().expect("a parent"))
                .await
                .map_err(|e| format!("the media folder could not be written: {e}"))?;
            tokio::fs::rename(part, &target)
                .await
                .map_err(|e| format!("the media file could not be stored: {e}"))?;
            sync_dir(target.parent().expect("a parent"));
        }
        Ok(Outcome::Done {
            sha256: sha,
            path: rel,
            bytes,
            mime: info.mime_type.clone(),
        })
    }

    async fn record(&self, c: &Claim, outcome: Outcome) -> Result<()> {
        // A download finished after the lease passed on is the new engine's to take up again.
        self.store.engine_may_write()?;
        let now = self.clock.now();
        let mut tx = self.store.pool().begin().await?;
        let state_of;
        match outcome {
            Outcome::Done {
                sha256,
                path,
                bytes,
                mime,
            } => {
                sqlx::query(
                    "INSERT INTO media_file (sha256, path, bytes, mime, stored_at) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&sha256)
                .bind(&path)
                .bind(bytes)
                .bind(&mime)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                state_of = "done";
                sqlx::query(
                    "UPDATE media_download SET state = 'done', error = NULL, updated_at = ? WHERE message_id = ?",
                )
                .bind(now)
                .bind(c.message_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE message SET media_sha256 = ?, media_mime = COALESCE(media_mime, ?) WHERE id = ?")
                    .bind(&sha256)
                    .bind(&mime)
                    .bind(c.message_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Outcome::Expired(why) => {
                state_of = "expired";
                sqlx::query(
                    "UPDATE media_download SET state = 'expired', error = ?, updated_at = ? WHERE message_id = ?",
                )
                .bind(why)
                .bind(now)
                .bind(c.message_id)
                .execute(&mut *tx)
                .await?;
            }
            Outcome::Retry(why) => {
                let give_up = c.attempts >= self.settings.max_attempts;
                let delay = 1_000i64.saturating_mul(1 << (c.attempts - 1).clamp(0, 9)).min(300_000);
                let (state, next) = if give_up {
                    ("failed", 0)
                } else if now + delay / 1000 >= c.expires_at {
                    ("expired", 0)
                } else {
                    ("queued", now_ms() + delay)
                };
                state_of = state;
                tracing::warn!(state, error = %why, "media download did not complete");
                sqlx::query(
                    "UPDATE media_download SET state = ?, error = ?, next_attempt_ms = ?, updated_at = ? WHERE message_id = ?",
                )
                .bind(state)
                .bind(why)
                .bind(next)
                .bind(now)
                .bind(c.message_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.events.emit(crate::events::CoreEvent::MediaChanged {
            message_id: c.message_id,
            state: state_of.to_string(),
        });
        Ok(())
    }
}

/// Meta says the media id does not exist (any more): its days are over.
pub(super) fn gone(e: &GraphError) -> bool {
    e.http_status == 404 || (e.code == 100 && e.http_status == 400)
}
