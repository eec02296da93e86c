//! Media kept in the workspace. Meta lets a media id be downloaded for 7 days only, so every
//! media message is queued (a database trigger, whatever path wrote it) and a background
//! downloader fetches it: Meta's short-lived url, the bytes streamed to a temporary file while
//! hashing, checked against Meta's sha256, then renamed to `media/<ab>/<sha256>` (one file per
//! content). A crash leaves at most a `.part` file that is never counted as done.

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

mod address;
mod policy;
pub use address::{content_address, content_path, is_content_address};
pub use policy::{MediaPolicy, MEDIA_TTL_SECS, NO_STORAGE_TTL_SECS};

/// Where a workspace keeps its media, beside its database.
pub fn media_dir(workspace: &Path) -> PathBuf {
    workspace.join("media")
}

impl Store {
    /// This workspace's media folder; `None` for an in-memory store, which keeps no files.
    pub fn media_dir(&self) -> Option<PathBuf> {
        self.path().and_then(|p| p.parent()).map(media_dir)
    }
}

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
fn gone(e: &GraphError) -> bool {
    e.http_status == 404 || (e.code == 100 && e.http_status == 400)
}

impl Store {
    /// Where a message's media stands.
    pub async fn media_state(&self, message_id: i64) -> Result<Option<MediaState>> {
        Ok(sqlx::query_as::<
            _,
            (
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<i64>,
                Option<String>,
            ),
        >(
            "SELECT d.state, d.error, f.path, COALESCE(f.mime, m.media_mime), f.bytes,
                        COALESCE(m.media_filename,
                                 (SELECT u.filename FROM media_upload u WHERE u.sha256 = m.media_sha256 LIMIT 1))
             FROM media_download d JOIN message m ON m.id = d.message_id
             LEFT JOIN media_file f ON f.sha256 = m.media_sha256 AND d.state = 'done'
             WHERE d.message_id = ?",
        )
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?
        .map(|(state, error, path, mime, bytes, filename)| MediaState {
            state,
            error,
            path,
            mime,
            bytes,
            filename,
        }))
    }
}

/// What the window shows for a message's media: the state in words, and for a stored picture
/// small enough, the picture itself as a `data:` URL (no file access from the webview).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MediaPreview {
    pub state: String,
    /// Why it is missing, in the owner's words.
    pub note: Option<String>,
    pub mime: Option<String>,
    pub bytes: Option<i64>,
    pub data_url: Option<String>,
    /// The stored file on disk, for "open" and "save as".
    pub file: Option<String>,
    /// A document's own name.
    pub filename: Option<String>,
}

/// Pictures, voice notes and short videos up to this size come inline (WhatsApp's own limit for
/// audio and video is 16 MB); bigger files are opened from disk.
const INLINE_MAX: i64 = 16 * 1024 * 1024;

impl Store {
    pub async fn media_preview(&self, message_id: i64, dir: &Path) -> Result<Option<MediaPreview>> {
        let Some(s) = self.media_state(message_id).await? else {
            return Ok(None);
        };
        let file = s.path.as_deref().and_then(|p| content_path(dir, p));
        let playable = |m: &str| m.starts_with("image/") || m.starts_with("audio/") || m.starts_with("video/");
        let inline =
            s.state == "done" && s.mime.as_deref().is_some_and(playable) && s.bytes.is_some_and(|b| b <= INLINE_MAX);
        let data_url = match (&file, inline) {
            (Some(f), true) => match tokio::fs::read(f).await {
                Ok(bytes) => {
                    use base64::Engine;
                    Some(format!(
                        "data:{};base64,{}",
                        // WhatsApp's voice notes say `audio/ogg; codecs=opus`: the data URL takes the type alone.
                        s.mime
                            .as_deref()
                            .and_then(|m| m.split(';').next())
                            .unwrap_or("application/octet-stream")
                            .trim(),
                        base64::engine::general_purpose::STANDARD.encode(bytes)
                    ))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a stored media file could not be read");
                    None
                }
            },
            _ => None,
        };
        // Only a queued file can be waiting at the cap: the folder is looked at for it alone.
        let policy = match s.state.as_str() {
            "queued" => Some(self.media_policy().await?),
            _ => None,
        };
        let full = match &policy {
            Some(p) => self.media_full(p).await?,
            None => false,
        };
        let note = match (s.state.as_str(), &policy) {
            ("queued", Some(p)) if full => Some(format!(
                "Waiting for room: the media folder is at its cap of {}. Raise the cap in Settings: Meta keeps this file for {} only.",
                policy::megabytes(p.cap_bytes.unwrap_or_default()),
                if p.no_storage { "1 hour" } else { "7 days" }
            )),
            ("queued" | "downloading", _) => Some("Downloading…".to_string()),
            ("done", _) if file.as_ref().is_some_and(|f| !f.exists()) => {
                Some("The file was removed from the media folder.".to_string())
            }
            ("done", _) => None,
            _ => s.error.clone(),
        };
        Ok(Some(MediaPreview {
            state: s.state,
            note,
            mime: s.mime,
            bytes: s.bytes,
            data_url,
            file: file.map(|f| f.display().to_string()),
            filename: s.filename,
        }))
    }
}

/// File name endings and the types they stand for; the first ending of a type is the one a
/// saved copy gets.
const EXTENSIONS: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("webp", "image/webp"),
    ("mp4", "video/mp4"),
    ("3gp", "video/3gpp"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("aac", "audio/aac"),
    ("amr", "audio/amr"),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
];

/// The type WhatsApp would be told for a file, from its name's ending (for files picked at the
/// command line, where nothing else says what they are).
pub fn mime_from_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, m)| *m)
}

/// What WhatsApp accepts to send, by type: the message kind and the largest file (Meta's limits).
const OUTGOING: &[(&str, &str, u64)] = &[
    ("image/jpeg", "image", 5 * MB),
    ("image/png", "image", 5 * MB),
    ("image/webp", "sticker", 500 * 1024),
    ("audio/aac", "audio", 16 * MB),
    ("audio/amr", "audio", 16 * MB),
    ("audio/mpeg", "audio", 16 * MB),
    ("audio/mp4", "audio", 16 * MB),
    ("audio/ogg", "audio", 16 * MB),
    ("video/mp4", "video", 16 * MB),
    ("video/3gpp", "video", 16 * MB),
    ("text/plain", "document", 100 * MB),
    ("application/pdf", "document", 100 * MB),
    ("application/msword", "document", 100 * MB),
    ("application/vnd.ms-excel", "document", 100 * MB),
    ("application/vnd.ms-powerpoint", "document", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "document",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "document",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "document",
        100 * MB,
    ),
];
const MB: u64 = 1024 * 1024;

/// The message kind a file goes out as, checked before anything touches the network: a type
/// WhatsApp does not take, or a file over its limit, is refused in words.
pub fn check_outgoing(mime: &str, size: u64, name: &str) -> Result<&'static str> {
    let mime = mime.trim().to_ascii_lowercase();
    let what = describe(&mime, name);
    let Some((_, kind, max)) = OUTGOING.iter().find(|(m, _, _)| *m == mime) else {
        return Err(crate::CoreError::CannotSend(format!(
            "WhatsApp cannot send {what} ({}): send pictures (JPEG, PNG), voice notes and audio (OGG, MP3, AAC, M4A), videos (MP4, 3GP) or documents (PDF, Word, Excel, PowerPoint, text)",
            if mime.is_empty() { "unknown type" } else { mime.as_str() }
        )));
    };
    if size == 0 {
        return Err(crate::CoreError::CannotSend(format!("{what} is empty")));
    }
    if size > *max {
        return Err(crate::CoreError::CannotSend(format!(
            "{what} is {}; WhatsApp accepts up to {} for this kind of file",
            human(size),
            human(*max)
        )));
    }
    Ok(kind)
}

fn describe(mime: &str, name: &str) -> String {
    let kind = match mime {
        "application/pdf" => "this PDF",
        m if m.starts_with("image/") => "this picture",
        m if m.starts_with("audio/") => "this audio file",
        m if m.starts_with("video/") => "this video",
        _ => "this file",
    };
    if name.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({name})")
    }
}

fn human(bytes: u64) -> String {
    if bytes >= MB {
        format!("{} MB", (bytes + MB / 2) / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// Stores bytes in the media folder once per content (a temporary file renamed into place) and
/// records the file; returns its sha256.
pub async fn store_file(store: &Store, dir: &Path, bytes: &[u8], mime: &str, now: i64) -> Result<String> {
    let sha = hex::encode(Sha256::digest(bytes));
    let rel = content_address(&sha);
    let target = dir.join(&rel);
    let io = |e: std::io::Error| crate::CoreError::Io {
        path: dir.display().to_string(),
        source: e,
    };
    // A file already at the address is checked before it is trusted (a torn or tampered copy
    // is replaced).
    if !holds(&target, &sha).await {
        let tmp = dir.join(".tmp");
        tokio::fs::create_dir_all(&tmp).await.map_err(io)?;
        tokio::fs::create_dir_all(target.parent().expect("a parent"))
            .await
            .map_err(io)?;
        // Two uploads of one file never share a temporary name.
        let part = tmp.join(temp_name("out"));
        let written = async {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&part)
                .await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, bytes).await?;
            f.sync_all().await?;
            tokio::fs::rename(&part, &target).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(io(e));
        }
        sync_dir(target.parent().expect("a parent"));
    }
    sqlx::query(
        "INSERT INTO media_file (sha256, path, bytes, mime, stored_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&sha)
    .bind(&rel)
    .bind(bytes.len() as i64)
    .bind(mime)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(sha)
}

impl Store {
    pub(crate) async fn record_upload(
        &self,
        media_id: &str,
        sha: &str,
        mime: &str,
        name: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO media_upload (media_id, sha256, mime, filename, uploaded_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(media_id)
        .bind(sha)
        .bind(mime)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{check_outgoing, known_extension, mime_from_name};

    #[test]
    fn one_table_reads_endings_both_ways() {
        assert_eq!(mime_from_name("Menu.JPEG"), Some("image/jpeg"));
        assert_eq!(mime_from_name("notes"), None);
        assert_eq!(known_extension("audio/ogg; codecs=opus"), Some("ogg"));
        assert_eq!(known_extension("image/jpeg"), Some("jpg"));
        assert_eq!(known_extension("application/zip"), None);
    }

    #[test]
    fn outgoing_files_are_checked_in_words() {
        assert_eq!(
            check_outgoing("application/pdf", 1_000, "menu.pdf").unwrap(),
            "document"
        );
        assert_eq!(check_outgoing("image/png", 1_000, "").unwrap(), "image");
        let e = check_outgoing("application/pdf", 120 * 1024 * 1024, "catalogue.pdf")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("this PDF (catalogue.pdf) is 120 MB; WhatsApp accepts up to 100 MB"),
            "{e}"
        );
        let e = check_outgoing("image/png", 6 * 1024 * 1024, "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 6 MB; WhatsApp accepts up to 5 MB"), "{e}");
        let e = check_outgoing("application/zip", 10, "x.zip").unwrap_err().to_string();
        assert!(e.contains("cannot send this file (x.zip)"), "{e}");
    }
}

/// The disk the workspace's media takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MediaUsage {
    pub files: i64,
    pub bytes: i64,
    /// Downloads waiting or under way.
    pub pending: i64,
    /// Files Meta no longer has that were never fetched.
    pub missing: i64,
    /// The owner's cap on the folder, and whether downloads now wait for room under it.
    pub cap_bytes: Option<i64>,
    pub at_cap: bool,
    /// The number uses No Storage (Meta keeps media for 1 hour).
    pub no_storage: bool,
}

impl Store {
    pub async fn media_usage(&self) -> Result<MediaUsage> {
        let (files, bytes): (i64, i64) = sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM media_file")
            .fetch_one(self.pool())
            .await?;
        let (pending, missing): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state IN ('queued', 'downloading')), 0), COALESCE(SUM(state IN ('expired', 'failed')), 0)
             FROM media_download",
        )
        .fetch_one(self.pool())
        .await?;
        let policy = self.media_policy().await?;
        Ok(MediaUsage {
            files,
            bytes,
            pending,
            missing,
            cap_bytes: policy.cap_bytes,
            at_cap: policy.is_full(bytes),
            no_storage: policy.no_storage,
        })
    }
}

impl Store {
    /// Copies a message's stored file into `dest_dir` under a readable name (the document's own
    /// name when known), never over an existing file; returns where it went. The ending comes
    /// from the file's checked type, never from the name a customer gave it (`Invoice.pdf.exe`
    /// sent as a PDF is saved as `Invoice.pdf.exe.pdf`). A copy made to be opened is refused for
    /// a type the table does not list: the OS would run what it cannot show.
    pub async fn save_media_copy(
        &self,
        message_id: i64,
        media: &Path,
        dest_dir: &Path,
        purpose: CopyFor,
    ) -> Result<PathBuf> {
        let s = self
            .media_state(message_id)
            .await?
            .filter(|s| s.state == "done")
            .ok_or_else(|| crate::CoreError::Invalid("this file is not in the workspace".into()))?;
        let rel = s.path.clone().unwrap_or_default();
        let src = content_path(media, &rel)
            .ok_or_else(|| crate::CoreError::Invalid("this file is not in the workspace".into()))?;
        let mime = s.mime.clone().unwrap_or_default();
        let ext = match (known_extension(&mime), purpose) {
            (Some(ext), _) => ext,
            (None, CopyFor::Keeping) => "bin",
            (None, CopyFor::Opening) => {
                return Err(crate::CoreError::Invalid(format!(
                    "Coexist does not open this kind of file ({}): the computer could run it as a program. Save a copy instead, and open it only if you trust the sender.",
                    if mime.is_empty() { "unknown type" } else { mime.as_str() }
                )))
            }
        };
        let name = copy_name(s.filename.as_deref(), &rel, &mime, ext);
        let (stem, suffix) = match name.rsplit_once('.') {
            Some((a, b)) => (a.to_string(), format!(".{b}")),
            None => (name.clone(), String::new()),
        };
        let io = |e: std::io::Error| crate::CoreError::Io {
            path: dest_dir.display().to_string(),
            source: e,
        };
        tokio::fs::create_dir_all(dest_dir).await.map_err(io)?;
        // Created exclusively: a file that appears meanwhile is never overwritten.
        let mut n = 1;
        let (mut file, dest) = loop {
            let dest = match n {
                1 => dest_dir.join(&name),
                n => dest_dir.join(format!("{stem} ({n}){suffix}")),
            };
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dest)
                .await
            {
                Ok(f) => break (f, dest),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(io(e)),
            }
        };
        let copied = async {
            let mut from = tokio::fs::File::open(&src).await?;
            tokio::io::copy(&mut from, &mut file).await?;
            file.sync_all().await
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&dest).await;
            return Err(io(e));
        }
        mark_from_internet(&dest);
        Ok(dest)
    }
}

/// A temporary file name of this process's own: `{what}-{pid}-{random}.part`.
fn temp_name(what: &str) -> String {
    format!("{what}-{}-{:08x}.part", std::process::id(), rand::random::<u32>())
}

/// A temporary file whose process is gone (this one's own leftovers after a restart of the
/// downloader count too); another live engine's files are left alone.
fn abandoned(name: &str) -> bool {
    let pid = name
        .strip_suffix(".part")
        .and_then(|n| n.rsplit('-').nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if pid == std::process::id() => true,
        // A killed process not yet reaped (a zombie) is gone too.
        #[cfg(target_os = "linux")]
        Some(pid) => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next()))
            .is_none_or(|state| matches!(state, Some('Z' | 'X') | None)),
        #[cfg(not(target_os = "linux"))]
        Some(_) => false,
        None => true,
    }
}

/// True when `path` exists and its content hashes to `sha256`.
async fn holds(path: &Path, sha256: &str) -> bool {
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return false;
    };
    let (mut h, mut buf) = (Sha256::new(), vec![0u8; 64 * 1024]);
    loop {
        match tokio::io::AsyncReadExt::read(&mut f, &mut buf).await {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    hex::encode(h.finalize()) == sha256
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Why a copy of a customer's file is made: kept (saved in Downloads) or opened in another app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFor {
    Keeping,
    Opening,
}

/// The ending the table gives a type (`audio/ogg; codecs=opus` → `ogg`), if it lists it.
fn known_extension(mime: &str) -> Option<&'static str> {
    let mime = mime.split(';').next().unwrap_or_default().trim();
    EXTENSIONS
        .iter()
        .find(|(_, m)| m.eq_ignore_ascii_case(mime))
        .map(|(e, _)| *e)
}

/// A safe file name for a copy: the customer's name with unusual characters replaced, ending in
/// the checked type's extension (kept when the name already ends in one of that type's).
fn copy_name(filename: Option<&str>, rel: &str, mime: &str, ext: &str) -> String {
    let base = match filename.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => f.to_string(),
        None => format!(
            "whatsapp-{}",
            &rel.rsplit('/').next().unwrap_or("file")[..12.min(rel.len())]
        ),
    };
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.').trim_end_matches(['.', ' ']).to_string();
    let clean = if clean.is_empty() {
        "whatsapp-file".to_string()
    } else {
        clean
    };
    let ends_right = mime_from_name(&clean).is_some_and(|m| known_extension(m) == known_extension(mime))
        && known_extension(mime).is_some();
    if ends_right {
        clean
    } else {
        format!("{clean}.{ext}")
    }
}

/// Marks a saved copy as downloaded from the internet where the OS has such a mark, so the OS
/// warns before running it (Windows' Zone.Identifier stream, macOS' quarantine attribute).
fn mark_from_internet(path: &Path) {
    #[cfg(windows)]
    {
        let mut stream = path.as_os_str().to_owned();
        stream.push(":Zone.Identifier");
        if let Err(e) = std::fs::write(std::path::PathBuf::from(stream), "[ZoneTransfer]\r\nZoneId=3\r\n") {
            tracing::warn!(error = %e, "could not mark the saved file as downloaded");
        }
    }
    #[cfg(target_os = "macos")]
    {
        let stamp = format!("{:x}", chrono::Utc::now().timestamp());
        let value = format!("0081;{stamp};Coexist;");
        if let Err(e) = std::process::Command::new("xattr")
            .args(["-w", "com.apple.quarantine", &value])
            .arg(path)
            .status()
        {
            tracing::warn!(error = %e, "could not mark the saved file as downloaded");
        }
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    let _ = path;
}
