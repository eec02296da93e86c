//! What the thread shows of a message's file: its state, and the bytes when small enough.

use super::*;

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
