//! The owner's rules for the media folder: a cap on its size (downloads wait for room rather
//! than fill the disk), and the 1-hour window of numbers with No Storage.

use crate::error::Result;
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// How long Meta lets a media id be downloaded.
pub const MEDIA_TTL_SECS: i64 = 7 * 86_400;
/// The same for numbers with No Storage, where Meta keeps nothing at rest beyond an hour.
pub const NO_STORAGE_TTL_SECS: i64 = 3_600;

/// What the owner set for the media folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MediaPolicy {
    /// The folder's largest size in bytes; none: no cap. Files the desk sends are kept anyway.
    pub cap_bytes: Option<i64>,
    /// The number uses No Storage: Meta keeps media for 1 hour only.
    pub no_storage: bool,
}

impl MediaPolicy {
    /// Whether files taking `used` bytes leave no room under the cap.
    pub fn is_full(&self, used: i64) -> bool {
        self.cap_bytes.is_some_and(|c| used >= c)
    }

    pub fn ttl_secs(&self) -> i64 {
        if self.no_storage {
            NO_STORAGE_TTL_SECS
        } else {
            MEDIA_TTL_SECS
        }
    }
}

/// Why a file was never fetched, in the owner's words.
pub(crate) fn expired_reason(p: &MediaPolicy, waited_for_room: bool) -> String {
    let window = if p.no_storage {
        "This number uses No Storage: Meta keeps media for 1 hour"
    } else {
        "Meta keeps media for 7 days"
    };
    if waited_for_room {
        format!("{window} and this file was not downloaded in time: the media folder was at its cap.")
    } else {
        format!("{window} and this file was not downloaded in time.")
    }
}

/// A size as an owner reads it (decimal units, like file managers).
pub(crate) fn megabytes(bytes: i64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", (bytes + 999_999) / 1_000_000)
    }
}

impl Store {
    pub async fn media_policy(&self) -> Result<MediaPolicy> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM setting WHERE key IN ('media.cap_bytes', 'media.no_storage')")
                .fetch_all(self.pool())
                .await?;
        let get = |k: &str| rows.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        Ok(MediaPolicy {
            cap_bytes: get("media.cap_bytes").and_then(|v| v.parse().ok()).filter(|c| *c > 0),
            no_storage: get("media.no_storage") == Some("1"),
        })
    }

    /// Saves the rules; downloads still waiting get the deadline the window now gives them.
    pub async fn set_media_policy(&self, p: &MediaPolicy) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        match p.cap_bytes.filter(|c| *c > 0) {
            Some(c) => {
                sqlx::query("INSERT INTO setting (key, value) VALUES ('media.cap_bytes', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                    .bind(c.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM setting WHERE key = 'media.cap_bytes'")
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("INSERT INTO setting (key, value) VALUES ('media.no_storage', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(if p.no_storage { "1" } else { "0" })
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE media_download SET expires_at = (SELECT m.timestamp FROM message m WHERE m.id = message_id) + ?
             WHERE state IN ('queued', 'downloading')",
        )
        .bind(p.ttl_secs())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the cap leaves no room for more files (the folder is summed only under a cap:
    /// the downloader asks before every file).
    pub(crate) async fn media_full(&self, p: &MediaPolicy) -> Result<bool> {
        if p.cap_bytes.is_none() {
            return Ok(false);
        }
        let used: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0) FROM media_file")
            .fetch_one(self.pool())
            .await?;
        Ok(p.is_full(used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_window_and_the_cap() {
        let ns = MediaPolicy {
            cap_bytes: None,
            no_storage: true,
        };
        assert!(expired_reason(&ns, false).starts_with("This number uses No Storage: Meta keeps media for 1 hour"));
        assert!(expired_reason(&MediaPolicy::default(), true).ends_with("the media folder was at its cap."));
        assert_eq!(megabytes(1), "1 MB");
        assert_eq!(megabytes(2_500_000_000), "2.5 GB");
    }
}
