//! How much the media folder holds, and copies of a file under its own name (to keep or open).

use super::*;

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
pub(super) fn temp_name(what: &str) -> String {
    format!("{what}-{}-{:08x}.part", std::process::id(), rand::random::<u32>())
}

/// A temporary file whose process is gone (this one's own leftovers after a restart of the
/// downloader count too); another live engine's files are left alone.
pub(super) fn abandoned(name: &str) -> bool {
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
pub(super) async fn holds(path: &Path, sha256: &str) -> bool {
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
pub(super) fn sync_dir(dir: &Path) {
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
pub(super) fn known_extension(mime: &str) -> Option<&'static str> {
    let mime = mime.split(';').next().unwrap_or_default().trim();
    EXTENSIONS
        .iter()
        .find(|(_, m)| m.eq_ignore_ascii_case(mime))
        .map(|(e, _)| *e)
}

/// A safe file name for a copy: the customer's name with unusual characters replaced, ending in
/// the checked type's extension (kept when the name already ends in one of that type's).
pub(super) fn copy_name(filename: Option<&str>, rel: &str, mime: &str, ext: &str) -> String {
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
pub(super) fn mark_from_internet(path: &Path) {
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
