//! Files the desk sends: which types and sizes WhatsApp takes, and keeping them by content.

use super::*;

/// File name endings and the types they stand for; the first ending of a type is the one a
/// saved copy gets.
pub(super) const EXTENSIONS: &[(&str, &str)] = &[
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
pub(super) const MB: u64 = 1024 * 1024;

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

pub(super) fn describe(mime: &str, name: &str) -> String {
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

pub(super) fn human(bytes: u64) -> String {
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
